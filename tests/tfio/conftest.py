"""The tensorflow-io lane: fixtures, and skips where tensorflow-io can't run.

Tests that need tensorflow-io take the `tfio_ready` fixture. In the main
environment (TensorFlow 2.18+, or no tensorflow-io, or no FFmpeg 4) they
are skipped with the reason `tfio_unavailable_reason()` gives; the lane
(`make test-tfio`, scripts/tfio_lane.sh) passes `--require-tfio`, which
turns that skip into a failure. Tests without the fixture run everywhere.
"""

import pytest


def pytest_addoption(parser):
    # Only registered when tests/tfio is named on the command line (pytest
    # reads options from initial conftest files only); elsewhere
    # `getoption` falls back to its default.
    parser.addoption(
        "--require-tfio",
        action="store_true",
        help="Fail, instead of skip, tensorflow-io tests that cannot run.",
    )


@pytest.fixture(scope="session")
def tfio_ready(request):
    """Skip (or fail with --require-tfio) unless tensorflow-io decodes."""
    from keras_constrict.data import tfio_backend

    reason = tfio_backend.tfio_unavailable_reason()
    if reason is not None:
        message = f"tensorflow-io cannot decode here: {reason}"
        if request.config.getoption("--require-tfio", default=False):
            pytest.fail(message)
        pytest.skip(message)
    return tfio_backend
