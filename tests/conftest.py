"""Test configuration: TensorFlow switches, markers and shared fixtures."""

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


# --- Video data fixtures (tiny videos in the real on-disk layouts) --------


def write_mp4(
    path, frames, fps=10, crf=0, pix_fmt="yuv420p", container_options=None
):
    """`write_video` with the tests' defaults: 10 fps, `crf=0`.

    `crf=0` is lossless in luma up to the grey-to-YUV range conversion.
    """
    from keras_constrict.data import write_video

    write_video(
        path,
        frames,
        fps=fps,
        pix_fmt=pix_fmt,
        codec_options={"crf": str(crf)},
        container_options=container_options,
    )
    return pathlib.Path(path)


@pytest.fixture(scope="session")
def mp4_writer():
    """`write_mp4`, for tests that write videos of their own."""
    return write_mp4


def _tiny_frames(rng, num_frames, height=24, width=32):
    """Smooth random frames whose mean brightness rises with the index."""
    import numpy as np

    base = rng.integers(40, 200, (height // 4 + 1, width // 4 + 1))
    base = np.kron(base, np.ones((4, 4)))[:height, :width]
    frames = [
        np.clip(base + 8 * index + rng.integers(-6, 7, base.shape), 0, 255)
        for index in range(num_frames)
    ]
    return np.stack(frames).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_video_set(tmp_path_factory):
    """Tiny grey videos written once per session in every dataset layout.

    `root` is a Ped2-like tree: `{training,testing}/frames/NN/`, with
    `testing/labels/NN.npy` and the same videos as H.264 files in
    `videos/{training,testing}/NN.mp4`. Training video 02 names its frames
    `frame_0.jpg` .. `frame_9.jpg` (unpadded, so string order is wrong).
    `flat_root` holds the same videos as `{training,testing}/NN.mp4`
    with `testing/labels/NN.npy`. `frames[(split, name)]` is the uint8
    array `(N, H, W)` each video was written from, `labels[name]` the
    labels.
    """
    import types

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1234)
    base = tmp_path_factory.mktemp("tiny_videos")
    root = base / "ped2_like"
    flat_root = base / "flat"
    lengths = {
        ("training", "01"): 12,
        ("training", "02"): 10,
        ("testing", "01"): 20,
        ("testing", "02"): 17,
    }
    frames, labels = {}, {}
    for (split, name), num_frames in lengths.items():
        video = _tiny_frames(rng, num_frames)
        frames[(split, name)] = video
        folder = root / split / "frames" / name
        folder.mkdir(parents=True)
        for index, frame in enumerate(video):
            file_name = f"{index:03d}.jpg"
            if (split, name) == ("training", "02"):
                file_name = f"frame_{index}.jpg"
            Image.fromarray(frame, "L").save(folder / file_name, quality=95)
        write_mp4(root / "videos" / split / f"{name}.mp4", video)
        write_mp4(flat_root / split / f"{name}.mp4", video)
        if split == "testing":
            label = np.zeros(num_frames, np.uint8)
            label[num_frames // 2 :] = 1
            labels[name] = label
            for label_root in (root, flat_root):
                (label_root / "testing" / "labels").mkdir(
                    parents=True, exist_ok=True
                )
                np.save(
                    label_root / "testing" / "labels" / f"{name}.npy", label
                )
    return types.SimpleNamespace(
        root=root, flat_root=flat_root, frames=frames, labels=labels
    )


@pytest.fixture(scope="session")
def tiny_synthetic_data(tmp_path_factory):
    """A small synthetic set: 2 training, 2 test videos of 40 32x32 frames."""
    from keras_constrict.data import make_synthetic_dataset

    return make_synthetic_dataset(
        tmp_path_factory.mktemp("tiny") / "data",
        seed=3,
        frame_size=(32, 32),
        num_training_videos=2,
        num_testing_videos=2,
        num_frames=40,
    )
