"""backend="tfio": frames against PyAV, the width rule, crash isolation.

Every test here needs a working tensorflow-io (the `tfio_ready` fixture):
TensorFlow 2.16/2.17, numpy < 2 and FFmpeg 4 libraries, as the lane
(scripts/tfio_lane.sh) provides. Elsewhere they are skipped with the
reason. The videos are written with PyAV (H.264, yuv420p) at widths the
rule accepts (multiples of 16: 368 x 182, 320 x 240) and rejects (360,
which aborts the decoder, and 178, which it decodes to wrong pixels).
"""

import os
import re
import subprocess

import numpy as np
import pytest

av = pytest.importorskip("av", reason="the lane tests write videos with PyAV")


def write_video(path, width, height, frames=12, grey=False):
    """H.264 yuv420p video of moving colour ramps with a little noise."""
    from keras_constrict.data import write_video as write

    rng = np.random.default_rng(width)
    rows, columns = np.mgrid[0:height, 0:width]

    def images():
        for index in range(frames):
            image = np.stack(
                [
                    (columns * 3 + index * 5) % 256,
                    (rows * 2 + index * 7) % 256,
                    (columns + rows + index * 11) % 256,
                ],
                axis=-1,
            )
            image = image + rng.integers(-12, 13, image.shape)
            if grey:
                image = np.repeat(image[..., :1], 3, axis=-1)
            yield np.clip(image, 0, 255).astype(np.uint8)

    write(path, images())
    return path


def pyav_rgb(path):
    """RGB frames as PyAV (FFmpeg's swscale) converts them."""
    with av.open(str(path)) as container:
        return np.stack(
            [
                frame.to_ndarray(format="rgb24")
                for frame in container.decode(video=0)
            ]
        )


def bt601_grey(rgb):
    """NumPy reference of the backend's grey: (299R+587G+114B+500)//1000."""
    weighted = rgb.astype(np.int64) @ np.array([299, 587, 114])
    return ((weighted + 500) // 1000).astype(np.uint8)[..., None]


@pytest.fixture(scope="session")
def videos(tfio_ready, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tfio_videos")
    return {
        "w368": write_video(folder / "w368.mp4", 368, 182),
        "w320": write_video(folder / "w320.mp4", 320, 240),
        "grey320": write_video(folder / "grey320.mp4", 320, 240, grey=True),
        "w360": write_video(folder / "w360.mp4", 360, 240, frames=4),
        "w178": write_video(folder / "w178.mp4", 178, 120, frames=4),
    }


@pytest.fixture
def calls(monkeypatch, tfio_ready):
    """Record the calls of the backend's two public decoders."""
    recorded = []
    for name in ("tfio_read_video", "tfio_frame_dataset"):
        original = getattr(tfio_ready, name)

        def spy(path, *args, _original=original, _name=name, **kwargs):
            recorded.append((_name, os.fspath(path)))
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(tfio_ready, name, spy)
    return recorded


@pytest.mark.parametrize("name", ["w368", "w320"])
def test_rgb_frames_equal_pyav_exactly(tfio_ready, videos, name):
    frames = tfio_ready.tfio_read_video(videos[name], grayscale=False)
    expected = pyav_rgb(videos[name])
    assert frames.dtype == np.uint8
    assert frames.shape == expected.shape
    np.testing.assert_array_equal(frames, expected)


def test_grayscale_is_bt601_of_the_rgb_frames(tfio_ready, videos):
    frames = tfio_ready.tfio_read_video(videos["w368"])
    assert frames.shape == (12, 182, 368, 1)
    np.testing.assert_array_equal(frames, bt601_grey(pyav_rgb(videos["w368"])))


def test_grayscale_within_one_level_of_pyav_backend_on_grey_video(
    tfio_ready, videos
):
    # backend="pyav" reads the luma plane; tfio has only swscale's RGB, whose
    # fixed-point rounding of grey pixels lands 0 or 1 level lower.
    from keras_constrict.data import read_video

    tfio_grey = read_video(videos["grey320"], backend="tfio").astype(int)
    pyav_grey = read_video(videos["grey320"], backend="pyav").astype(int)
    difference = tfio_grey - pyav_grey
    assert set(np.unique(difference)) <= {-1, 0}


def test_frame_dataset_streams_the_same_frames(tfio_ready, videos):
    dataset = tfio_ready.tfio_frame_dataset(videos["w320"], grayscale=False)
    assert dataset.element_spec.shape.as_list() == [240, 320, 3]
    frames = np.stack(list(dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(frames, pyav_rgb(videos["w320"]))

    # A consumer that stops early leaves no half-read decoder behind.
    first = list(dataset.take(3).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(first), frames[:3])
    again = tfio_ready.tfio_read_video(videos["w320"], grayscale=False)
    np.testing.assert_array_equal(again, frames)


def test_frame_dataset_takes_path_tensors_inside_tf_data(tfio_ready, videos):
    import tensorflow as tf

    paths = [str(videos["w320"]), str(videos["grey320"])]
    dataset = tf.data.Dataset.from_tensor_slices(paths).flat_map(
        lambda path: tfio_ready.tfio_frame_dataset(path, grayscale=False)
    )
    frames = np.stack(list(dataset.as_numpy_iterator()))
    expected = np.concatenate([pyav_rgb(path) for path in paths])
    np.testing.assert_array_equal(frames, expected)


def test_read_video_backend_tfio_reaches_tfio_read_video(videos, calls):
    from keras_constrict.data import read_video

    frames = read_video(
        videos["w368"], size=(60, 80), grayscale=False, backend="tfio"
    )
    assert calls == [("tfio_read_video", str(videos["w368"]))]
    expected = read_video(
        videos["w368"], size=(60, 80), grayscale=False, backend="pyav"
    )
    np.testing.assert_array_equal(frames, expected)


def test_video_clips_backend_tfio_reaches_tfio_frame_dataset(videos, calls):
    from keras_constrict.data import video_clips

    paths = [videos["w368"], videos["w320"]]
    options = dict(clip_length=4, stride=3, size=(32, 40), grayscale=False)
    clips = np.stack(
        list(video_clips(paths, backend="tfio", **options).as_numpy_iterator())
    )
    assert sorted(calls) == [
        ("tfio_frame_dataset", str(path)) for path in sorted(paths)
    ]
    expected = np.stack(
        list(video_clips(paths, backend="pyav", **options).as_numpy_iterator())
    )
    assert clips.shape == (2 * 3, 4, 32, 40, 3)
    np.testing.assert_array_equal(clips, expected)


def test_unsafe_width_is_refused_with_a_clear_error(tfio_ready, videos):
    from keras_constrict.data import read_video

    path = str(videos["w360"])
    message = (
        f"Refusing to decode {path!r} with backend='tfio': its frames are "
        f"360 pixels wide. tensorflow-io 0.37.1 with FFmpeg 4 decodes "
        f"correctly only widths that are a multiple of 16; at other widths "
        f"it writes past its frame buffer, which returns wrong pixels or "
        f"corrupts its heap and aborts. Decode this video with "
        f"backend='pyav', or re-encode it to such a width. Received: "
        f"width=360"
    )
    with pytest.raises(tfio_ready.TfioUnsafeWidthError) as raised:
        read_video(path, backend="tfio")
    assert str(raised.value) == message
    # A Python path is probed when the dataset is built.
    with pytest.raises(tfio_ready.TfioUnsafeWidthError) as raised:
        tfio_ready.tfio_frame_dataset(path)
    assert str(raised.value) == message
    # A path tensor is checked when decoded; tf.data wraps the error.
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices([path]).flat_map(
        tfio_ready.tfio_frame_dataset
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="width=360"):
        list(dataset.as_numpy_iterator())


def test_decoder_crash_does_not_end_the_calling_process(
    tfio_ready, videos, monkeypatch
):
    # Switch the width rule off: width 360 then really reaches the decoder,
    # whose heap corruption aborts the child process, not this one.
    monkeypatch.setattr(tfio_ready, "SAFE_WIDTH_REMAINDERS", tuple(range(16)))
    path = str(videos["w360"])
    expected = re.escape(
        f"tensorflow-io's decoder process died (killed by SIGABRT) while "
        f"decoding {path!r} (frames of width 360). tensorflow-io 0.37.1 "
        f"with FFmpeg 4 corrupts its heap at some frame widths (360 and 856 "
        f"seen); decoding runs in a child process, so only that process "
        f"ended. Decode this video with backend='pyav'. Last decoder "
        f"message: '"
    )
    with pytest.raises(tfio_ready.TfioDecoderCrashError, match=expected):
        tfio_ready.tfio_read_video(path)

    # The next call gets a fresh decoder.
    frames = tfio_ready.tfio_read_video(videos["w320"], grayscale=False)
    np.testing.assert_array_equal(frames, pyav_rgb(videos["w320"]))


def test_width_rule_also_prevents_silently_wrong_frames(
    tfio_ready, videos, monkeypatch
):
    # Why the rule exists besides the child process: at width 178
    # (178 % 16 == 2) tensorflow-io returns wrong pixels without any error.
    # If a tensorflow-io or FFmpeg update fixes this, this test fails:
    # re-measure with scripts/tfio_width_sweep.py and widen the rule.
    monkeypatch.setattr(tfio_ready, "SAFE_WIDTH_REMAINDERS", tuple(range(16)))
    frames = tfio_ready.tfio_read_video(videos["w178"], grayscale=False)
    expected = pyav_rgb(videos["w178"])
    assert frames.shape == expected.shape
    assert np.abs(frames.astype(int) - expected).max() > 100


def test_unreadable_file_is_named(tfio_ready, tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video" * 100)
    with pytest.raises(tfio_ready.VideoDecodeError) as raised:
        tfio_ready.tfio_read_video(path)
    assert str(raised.value) == (
        f"tensorflow-io cannot decode video file {str(path)!r}: unable to "
        f"open file: {path}"
    )


def test_missing_ffmpeg_names_the_library(tfio_ready, monkeypatch):
    # A decoder started without the private FFmpeg 4 folder on its
    # library path cannot load tensorflow-io's video ops.
    system = subprocess.run(
        ["ldconfig", "-p"], capture_output=True, text=True, check=False
    ).stdout
    if "libavformat.so.58 " in system:
        pytest.skip("this system has FFmpeg 4 installed system-wide")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    monkeypatch.setattr(tfio_ready, "_checked_child", False)
    monkeypatch.setattr(tfio_ready, "_unavailable_reason", None)
    monkeypatch.setattr(tfio_ready, "_idle_decoders", [])
    reason = tfio_ready.tfio_unavailable_reason()
    assert reason == (
        "backend='tfio' cannot load tensorflow-io's FFmpeg video ops: "
        "libavformat.so.58 could not be loaded (libavformat.so.58: cannot "
        "open shared object file: No such file or directory). They need "
        "FFmpeg 4.2, 3.4 or 2.8 shared libraries (libavformat.so.58, "
        "libavcodec.so.58, libavutil.so.56, libswscale.so.5 for 4.x) on the "
        "library path when Python starts; Debian 12 and newer ship FFmpeg 5 "
        "or later. Unpack FFmpeg 4 into a private folder and start Python "
        "with LD_LIBRARY_PATH naming it, as scripts/tfio_lane.sh does. "
        + tfio_ready._SETUP_HINT
    )
