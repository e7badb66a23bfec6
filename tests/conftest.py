"""Test configuration: TensorFlow switches, markers and shared fixtures."""
# Engineers: read /work/main/AGENTS.md first (working rules, interfaces).

from keras_constrict.runtime import configure_environment

configure_environment()

import pathlib  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
PED2_ROOT = SHARED_DATA / "ped2"


def pytest_addoption(parser):
    parser.addoption(
        "--require-gpu",
        action="store_true",
        help="Fail, instead of skip, tests marked `gpu` when no GPU exists.",
    )
    parser.addoption(
        "--require-data",
        action="store_true",
        help="Fail, instead of skip, tests marked `ped2` without the data.",
    )


def _gpu_available():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not config.getoption("--require-gpu"):
        if not _gpu_available():
            skip = pytest.mark.skip(
                reason="no GPU visible to TensorFlow; --require-gpu makes "
                "this a failure"
            )
            for item in gpu_items:
                item.add_marker(skip)
    if not PED2_ROOT.is_dir() and not config.getoption("--require-data"):
        skip = pytest.mark.skip(
            reason=f"UCSD Ped2 not found at {PED2_ROOT}; --require-data "
            "makes this a failure"
        )
        for item in items:
            if "ped2" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def ped2_root():
    """The real UCSD Ped2 set laid out as ../shared/data/ped2."""
    if not PED2_ROOT.is_dir():
        pytest.fail(f"UCSD Ped2 is required but missing at {PED2_ROOT}")
    return PED2_ROOT
