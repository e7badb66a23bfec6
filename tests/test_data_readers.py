"""read_video and video_clips against independent decodes (PIL, PyAV)."""

import logging
import re
import sys

import av
import numpy as np
import pytest
from PIL import Image

from keras_constrict.data import backends
from keras_constrict.data import read_video
from keras_constrict.data import video_clips
from keras_constrict.data import video_frames


def pil_folder(folder, mode="L"):
    """Frames of a folder decoded by PIL, in the order given by numbers."""
    files = sorted(
        folder.iterdir(),
        key=lambda path: int(re.findall(r"\d+", path.name)[-1]),
    )
    frames = [np.asarray(Image.open(path).convert(mode)) for path in files]
    frames = np.stack(frames)
    return frames[..., None] if mode == "L" else frames


def pyav_decode(path, pixel_format="gray"):
    with av.open(str(path)) as container:
        frames = [
            frame.to_ndarray(format=pixel_format)
            for frame in container.decode(video=0)
        ]
    frames = np.stack(frames)
    return frames[..., None] if pixel_format == "gray" else frames


def bilinear_reference(frames, size):
    """Bilinear resize with half-pixel centres and no antialiasing."""
    frames = frames.astype(np.float64)
    in_h, in_w = frames.shape[1:3]

    def coordinates(out_size, in_size):
        source = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
        source = np.clip(source, 0, in_size - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, source - low

    row_low, row_high, row_frac = coordinates(size[0], in_h)
    col_low, col_high, col_frac = coordinates(size[1], in_w)
    rows = (
        frames[:, row_low] * (1 - row_frac)[None, :, None, None]
        + frames[:, row_high] * row_frac[None, :, None, None]
    )
    return (
        rows[:, :, col_low] * (1 - col_frac)[None, None, :, None]
        + rows[:, :, col_high] * col_frac[None, None, :, None]
    )


def clips_array(dataset):
    return np.stack(list(dataset.as_numpy_iterator()))


# --- read_video -----------------------------------------------------------


def test_frame_folder_matches_pil(tiny_video_set):
    folder = tiny_video_set.root / "testing" / "frames" / "01"
    frames = read_video(folder)
    assert frames.dtype == np.uint8
    assert frames.shape == (20, 24, 32, 1)
    np.testing.assert_array_equal(frames, pil_folder(folder))
    # The JPEGs are close to what they were written from.
    original = tiny_video_set.frames[("testing", "01")]
    assert np.abs(frames[..., 0].astype(int) - original).mean() < 3


def test_frames_sorted_by_number_not_string(tiny_video_set):
    folder = tiny_video_set.root / "training" / "frames" / "02"
    names = [path.name for path in backends.list_frame_files(folder)]
    assert names == [f"frame_{index}.jpg" for index in range(10)]
    frames = read_video(folder)
    np.testing.assert_array_equal(frames, pil_folder(folder))
    # Brightness rises with the frame number in this video.
    assert np.all(np.diff(frames.mean(axis=(1, 2, 3))) > 0)


def test_natural_sort_key():
    names = ["10.jpg", "9.jpg", "frame_10.png", "frame_2.png", "b1", "a20"]
    assert sorted(names, key=backends.natural_sort_key) == [
        "9.jpg",
        "10.jpg",
        "a20",
        "b1",
        "frame_2.png",
        "frame_10.png",
    ]


def test_frame_folder_rgb_matches_pil(tiny_video_set):
    folder = tiny_video_set.root / "testing" / "frames" / "02"
    frames = read_video(folder, grayscale=False)
    assert frames.shape == (17, 24, 32, 3)
    np.testing.assert_array_equal(frames, pil_folder(folder, "RGB"))


def test_pil_backend_equals_tf_backend(tiny_video_set):
    folder = tiny_video_set.root / "testing" / "frames" / "01"
    np.testing.assert_array_equal(
        read_video(folder, backend="pil"), read_video(folder, backend="tf")
    )


def test_png_and_tiff_folders(tmp_path, tiny_video_set):
    original = tiny_video_set.frames[("training", "01")]
    for suffix in ("png", "tif"):
        folder = tmp_path / suffix
        folder.mkdir()
        for index, frame in enumerate(original):
            Image.fromarray(frame, "L").save(folder / f"{index}.{suffix}")
        assert backends.resolve_backend(folder) == (
            "pil" if suffix == "tif" else "tf"
        )
        np.testing.assert_array_equal(read_video(folder)[..., 0], original)


def test_tf_backend_refuses_tiff(tmp_path, tiny_video_set):
    frame = tiny_video_set.frames[("training", "01")][0]
    Image.fromarray(frame, "L").save(tmp_path / "0.tif")
    frames = video_frames(tmp_path, value_range=None, backend="pil")
    np.testing.assert_array_equal(next(iter(frames)).numpy()[..., 0], frame)
    with pytest.raises(Exception, match="Unknown image file format"):
        read_video(tmp_path, backend="tf")


def test_mp4_matches_pyav(tiny_video_set):
    path = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    frames = read_video(path)
    assert frames.dtype == np.uint8
    assert frames.shape == (20, 24, 32, 1)
    # The luma plane, expanded from limited range, equals FFmpeg's grey.
    np.testing.assert_array_equal(frames, pyav_decode(path, "gray"))
    # So do clips, expanded in the compiled transform instead of NumPy.
    clips = clips_array(
        video_clips(path, clip_length=20, size=None, value_range=(0, 255))
    )
    np.testing.assert_array_equal(clips[0], frames)
    original = tiny_video_set.frames[("testing", "01")]
    assert np.abs(frames[..., 0].astype(int) - original).max() <= 1
    np.testing.assert_array_equal(
        read_video(path, grayscale=False), pyav_decode(path, "rgb24")
    )


def test_luma_expansion_matches_ffmpeg_for_every_value():
    from keras_constrict.data import readers

    # FFmpeg's own grey conversion of limited-range luma 0..255.
    luma = np.arange(256, dtype=np.uint8).reshape(16, 16)
    planes = np.concatenate([luma, np.full((8, 16), 128, np.uint8)])
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    expected = frame.to_ndarray(format="gray")[None, :, :, None]
    # The NumPy table (read_video, iterate_pyav_frames).
    np.testing.assert_array_equal(
        backends._LIMITED_TO_FULL[luma], expected[0, ..., 0]
    )
    # Two frames: the first limited range, the second left as it is.
    block = np.stack([luma, luma])[..., None]
    limited = np.array([True, False])
    for value_range in (None, (0.0, 255.0)):
        transform = readers._frame_transform(None, value_range, luma=True)
        fused = np.asarray(transform(block, limited))
        np.testing.assert_array_equal(fused[:1], expected)
        np.testing.assert_array_equal(fused[1:], block[1:])


def test_full_range_video_luma_is_not_expanded(
    tmp_path, tiny_video_set, mp4_writer
):
    original = tiny_video_set.frames[("training", "01")]
    path = mp4_writer(tmp_path / "full.mp4", original, pix_fmt="yuvj420p")
    frames = read_video(path)
    np.testing.assert_array_equal(frames, pyav_decode(path, "gray"))
    assert np.abs(frames[..., 0].astype(int) - original).max() <= 1
    # Clips take the fused path (luma flags into the compiled transform).
    clips = clips_array(
        video_clips(
            path, clip_length=len(frames), size=None, value_range=(0, 255)
        )
    )
    np.testing.assert_array_equal(clips[0], frames)


@pytest.mark.parametrize("grayscale", [True, False])
@pytest.mark.parametrize("size", [(12, 16), (48, 40), (24, 32)])
def test_resize_matches_bilinear_reference(tiny_video_set, size, grayscale):
    # Grey frames take their own path (no channel axis in the gathers).
    folder = tiny_video_set.root / "testing" / "frames" / "01"
    native = read_video(folder, grayscale=grayscale)
    expected = bilinear_reference(native, size)
    resized = read_video(folder, size=size, grayscale=grayscale)
    assert resized.dtype == np.uint8
    assert resized.shape == (20, *size, 1 if grayscale else 3)
    assert np.abs(resized - np.round(expected)).max() <= 1
    frames = np.stack(
        list(
            video_frames(
                folder,
                size=size,
                grayscale=grayscale,
                value_range=(0.0, 255.0),
            )
        )
    )
    np.testing.assert_allclose(frames, expected, atol=1e-3)
    # And the same values as TensorFlow's own kernel.
    import tensorflow as tf

    kernel = tf.image.resize(native.astype(np.float32), size, "bilinear")
    np.testing.assert_allclose(frames, kernel.numpy(), atol=1e-4)


def video_of_kind(root, kind, name="01"):
    """A test video of the tiny set as a frame folder or as an MP4."""
    if kind == "frames":
        return root / "testing" / "frames" / name
    return root / "videos" / "testing" / f"{name}.mp4"


@pytest.mark.parametrize("kind", ["frames", "mp4"])
def test_video_frames_streams_what_read_video_returns(tiny_video_set, kind):
    path = video_of_kind(tiny_video_set.root, kind)
    streamed = np.stack(
        [frame.numpy() for frame in video_frames(path, value_range=None)]
    )
    np.testing.assert_array_equal(streamed, read_video(path))


def test_write_video_round_trip(tmp_path):
    from keras_constrict.data import write_video

    rng = np.random.default_rng(5)
    grey = rng.integers(30, 220, (6, 16, 32), dtype=np.uint8)
    # (H, W) and (H, W, 1) frames are both grey; crf 0 keeps luma exactly
    # up to the full-to-limited range conversion and back.
    frames = [grey[0][:, :, None], *grey[1:]]
    path = tmp_path / "sub" / "grey.mp4"
    written = write_video(path, iter(frames), codec_options={"crf": "0"})
    assert written == 6
    decoded = read_video(path)[..., 0].astype(int)
    assert decoded.shape == grey.shape
    assert np.abs(decoded - grey).max() <= 1
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Expected at least one frame to write to "
            f"{str(tmp_path / 'none.mp4')!r}. Received: no frames."
        ),
    ):
        write_video(tmp_path / "none.mp4", [])


# --- video_clips ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["frames", "mp4"])
def test_clips_are_windows_of_the_frames(tiny_video_set, kind):
    path = video_of_kind(tiny_video_set.root, kind)
    frames = read_video(path).astype(np.float64)
    clips = clips_array(video_clips(path, clip_length=4, size=None))
    assert clips.dtype == np.float32
    assert clips.shape == (20 - 3, 4, 24, 32, 1)
    expected = np.stack([frames[i : i + 4] for i in range(17)])
    np.testing.assert_allclose(clips, expected / 255 * 2 - 1, atol=1e-6)
    assert clips.min() >= -1.0 and clips.max() <= 1.0


def test_clips_switch_the_autotuner_off_unless_asked(tiny_video_set):
    import tensorflow as tf

    path = video_of_kind(tiny_video_set.root, "frames")
    clips = video_clips(path, clip_length=4, size=(8, 8))
    assert clips.options().autotune.enabled is False
    # Batching keeps the option; a user's own options take precedence.
    assert clips.batch(2).options().autotune.enabled is False
    options = tf.data.Options()
    options.autotune.enabled = True
    assert clips.with_options(options).options().autotune.enabled is True


def test_clips_stride_size_and_range(tiny_video_set):
    path = tiny_video_set.root / "testing" / "frames" / "01"
    clips = clips_array(
        video_clips(
            path, clip_length=5, stride=3, size=(12, 16), value_range=(0, 1)
        )
    )
    starts = range(0, 20 - 5 + 1, 3)
    assert clips.shape == (len(starts), 5, 12, 16, 1)
    resized = bilinear_reference(read_video(path), (12, 16)) / 255
    expected = np.stack([resized[i : i + 5] for i in starts])
    np.testing.assert_allclose(clips, expected, atol=1e-5)
    assert 0.0 <= clips.min() and clips.max() <= 1.0


@pytest.mark.parametrize("stride", [1, 2, 4, 7])
def test_clips_across_chunk_boundaries(tiny_video_set, monkeypatch, stride):
    from keras_constrict.data import readers

    # Blocks of 3 frames: many block boundaries in a 20-frame video.
    monkeypatch.setattr(readers, "_BLOCK_FRAMES", 3)
    path = tiny_video_set.root / "testing" / "frames" / "01"
    frames = read_video(path) / 255 * 2 - 1
    clips = clips_array(
        video_clips(path, clip_length=5, stride=stride, size=None)
    )
    starts = range(0, 20 - 5 + 1, stride)
    expected = np.stack([frames[start : start + 5] for start in starts])
    np.testing.assert_allclose(clips, expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["frames", "mp4"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("names", [("01", "02"), ("01", "02") * 3 + ("01",)])
def test_windows_of_several_videos_across_blocks(
    tiny_video_set, monkeypatch, kind, shuffle, names
):
    from keras_constrict.data import readers

    # Blocks of 4 frames: blocks hold the end of one video and the start of
    # the next, and windows reach back over several blocks. Seven videos:
    # more than PyAV decodes side by side, in order all the same.
    monkeypatch.setattr(readers, "_BLOCK_FRAMES", 4)
    root = tiny_video_set.root
    paths = [video_of_kind(root, kind, name) for name in names]
    clips = clips_array(
        video_clips(
            paths, clip_length=6, stride=2, size=None, shuffle=shuffle, seed=3
        )
    )
    expected = []
    for path in paths:
        frames = read_video(path) / 255 * 2 - 1
        expected += [frames[i : i + 6] for i in range(0, len(frames) - 5, 2)]
    expected = np.stack(expected).astype(np.float32)
    if shuffle:
        # The same clips, in another order: sort both by their grey levels.
        def by_levels(array):
            levels = np.round((array + 1) * 127.5).astype(np.uint8)
            order = sorted(range(len(array)), key=lambda i: levels[i].tobytes())
            return array[order]

        clips, expected = by_levels(clips), by_levels(expected)
    assert clips.shape == expected.shape
    np.testing.assert_allclose(clips, expected, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 3])
def test_sliding_windows_of_a_frame_dataset(monkeypatch, stride):
    import tensorflow as tf

    from keras_constrict.data import readers

    # The path tfio videos take: any dataset of frames of one shape.
    monkeypatch.setattr(readers, "_BLOCK_FRAMES", 4)
    frames = np.arange(23 * 2 * 3, dtype=np.float32).reshape(23, 2, 3, 1)
    clips = np.stack(
        [
            clip.numpy()
            for clip in readers.sliding_windows(
                tf.data.Dataset.from_tensor_slices(frames), 5, stride
            )
        ]
    )
    expected = np.stack([frames[i : i + 5] for i in range(0, 19, stride)])
    np.testing.assert_array_equal(clips, expected)


def test_clips_never_span_two_videos(tiny_video_set):
    root = tiny_video_set.root
    paths = [root / "testing" / "frames" / name for name in ("01", "02")]
    clips = clips_array(video_clips(paths, clip_length=6, size=None))
    assert len(clips) == (20 - 5) + (17 - 5)
    for offset, path in ((0, paths[0]), (15, paths[1])):
        frames = read_video(path) / 255 * 2 - 1
        np.testing.assert_allclose(clips[offset], frames[:6], atol=1e-6)
        last = len(frames) - 6
        np.testing.assert_allclose(
            clips[offset + last], frames[last:], atol=1e-6
        )


@pytest.mark.parametrize("shuffle", [False, True])
def test_clips_of_videos_of_differing_native_sizes(
    tmp_path, tiny_video_set, shuffle
):
    # Frames are resized block by block, and a block of a frame-folder
    # stream may span two videos: a second video of another native size
    # must still give its own windows, resized from its own frames.
    other = tmp_path / "other"
    other.mkdir()
    rng = np.random.default_rng(3)
    for index in range(9):
        pixels = rng.integers(0, 256, (30, 20), dtype=np.uint8)
        Image.fromarray(pixels).save(other / f"{index}.png")
    first = tiny_video_set.root / "testing" / "frames" / "01"  # 24 x 32
    clips = clips_array(
        video_clips(
            [first, other],
            clip_length=4,
            size=(12, 16),
            value_range=(0.0, 255.0),
            shuffle=shuffle,
            seed=0,
        )
    )
    expected = []
    for frames in (read_video(first), pil_folder(other)):
        resized = bilinear_reference(frames, (12, 16))
        expected += [resized[i : i + 4] for i in range(len(frames) - 3)]
    assert clips.shape == (len(expected), 4, 12, 16, 1)
    if shuffle:
        # The same clips in another order.
        clips = clips[np.lexsort(clips.reshape(len(clips), -1).T)]
        expected = np.stack(expected)
        expected = expected[np.lexsort(expected.reshape(len(expected), -1).T)]
    np.testing.assert_allclose(clips, np.stack(expected), atol=1e-3)


def test_video_shorter_than_a_clip_gives_no_clips(tiny_video_set):
    path = tiny_video_set.root / "training" / "frames" / "02"  # 10 frames
    assert len(clips_array(video_clips(path, clip_length=10))) == 1
    clips = list(video_clips(path, clip_length=11))
    assert clips == []


def test_shuffle_keeps_the_clips_and_follows_the_seed(tiny_video_set):
    root = tiny_video_set.root
    paths = sorted((root / "videos" / "training").iterdir()) + [
        root / "testing" / "frames" / "01"
    ]

    def clips(shuffle, seed=None):
        return clips_array(
            video_clips(
                paths, clip_length=4, size=(8, 8), shuffle=shuffle, seed=seed
            )
        )

    ordered = clips(False)
    first, again, other = clips(True, 1), clips(True, 1), clips(True, 2)
    assert len(ordered) == (12 - 3) + (10 - 3) + (20 - 3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, ordered)
    assert not np.array_equal(first, other)

    def key(array):
        return sorted(clip.tobytes() for clip in array)

    assert key(first) == key(ordered) == key(other)


def test_each_frame_is_decoded_once_per_pass(tiny_video_set, monkeypatch):
    calls = []
    read_image = backends.read_image_pil
    iterate_blocks = backends.iterate_pyav_blocks

    def counting_read(path, grayscale=True):
        calls.append(path)
        return read_image(path, grayscale)

    def counting_iterate(path, *args):
        for block, limited in iterate_blocks(path, *args):
            calls.extend([path] * len(block))
            yield block, limited

    monkeypatch.setattr(backends, "read_image_pil", counting_read)
    monkeypatch.setattr(backends, "iterate_pyav_blocks", counting_iterate)
    root = tiny_video_set.root
    for path, backend in (
        (root / "testing" / "frames" / "01", "pil"),
        (root / "videos" / "testing" / "01.mp4", "pyav"),
    ):
        dataset = video_clips(path, clip_length=8, backend=backend)
        for _ in range(2):
            calls.clear()
            assert len(clips_array(dataset)) == 20 - 7
            # The first frame is decoded once more while the pipeline is
            # built (to learn the frame size), not during the pass.
            assert len(calls) == 20


def test_python_decoders_run_unconverted(tiny_video_set, monkeypatch):
    # AutoGraph converts the functions that tf.data maps, and the nested
    # functions they define. A Python decode loop that it converted runs
    # under the GIL several times slower (Pillow's blocks: 1450 against
    # 2220 frames/s on 2 cores), so the loops must be the module's own
    # code when they run.
    callers = []
    read_image = backends.read_image_pil
    iterate_blocks = backends.iterate_pyav_blocks

    def recording_read(path, grayscale=True):
        callers.append(sys._getframe(1).f_code.co_filename)
        return read_image(path, grayscale)

    def recording_iterate(path, *args):
        callers.append(sys._getframe(1).f_code.co_filename)
        yield from iterate_blocks(path, *args)

    monkeypatch.setattr(backends, "read_image_pil", recording_read)
    monkeypatch.setattr(backends, "iterate_pyav_blocks", recording_iterate)
    root = tiny_video_set.root
    folders = [root / "testing" / "frames" / name for name in ("01", "02")]
    files = [root / "videos" / "testing" / f"{n}.mp4" for n in ("01", "02")]
    for paths, backend in ((folders, "pil"), (files, "pyav")):
        for shuffle in (False, True):
            callers.clear()
            clips_array(
                video_clips(
                    paths, clip_length=8, backend=backend, shuffle=shuffle
                )
            )
            assert callers
            assert set(callers) == {backends.__file__}, (backend, shuffle)


def test_auto_logs_the_backend(tiny_video_set, caplog):
    path = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    with caplog.at_level(logging.INFO, logger="keras_constrict.data"):
        video_clips(path, clip_length=4)
    assert (
        "video_clips decodes 1 video(s) with backend='pyav' (chosen by "
        "backend='auto')" in caplog.text
    )


# --- errors ---------------------------------------------------------------


def test_unknown_backend(tiny_video_set):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Unknown video backend. Expected one of 'auto', 'tf', 'pil', "
            "'pyav', 'tfio'. Received: backend='opencv'"
        ),
    ):
        read_video(
            tiny_video_set.root / "testing" / "frames" / "01", backend="opencv"
        )


def test_backend_that_cannot_decode_the_source(tiny_video_set):
    path = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"backend='tf' cannot decode a video file. Use one of 'pyav', "
            f"'tfio' or 'auto'. Received: path={str(path)!r}"
        ),
    ):
        read_video(path, backend="tf")
    folder = tiny_video_set.root / "testing" / "frames" / "01"
    with pytest.raises(
        ValueError, match="backend='pyav' cannot decode a frame"
    ):
        video_clips(folder, backend="pyav")


def test_missing_path_and_unknown_file(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            "Video not found. Expected a frame folder or a video file. "
            f"Received: path={str(missing)!r}"
        ),
    ):
        read_video(missing)
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(ValueError, match="Not a frame folder or a video file"):
        read_video(text)


def test_empty_frame_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Frame folder {str(tmp_path)!r} holds no image frames. Expected "
            f"files ending in one of .jpg, .jpeg, .png, .bmp, .gif, .tif, "
            f".tiff."
        ),
    ):
        read_video(tmp_path)


def copy_frames(source, target):
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_truncated_jpeg_names_the_file(tmp_path, tiny_video_set):
    folder = copy_frames(
        tiny_video_set.root / "testing" / "frames" / "01", tmp_path / "v"
    )
    bad = folder / "007.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(
        backends.VideoDecodeError,
        match=re.escape(
            f"Frame file {str(bad)!r} is unreadable or truncated: its start "
            f"or end marker is missing."
        ),
    ):
        read_video(folder)
    import tensorflow as tf

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape("Frame file is unreadable or truncated:")
        + ".*"
        + re.escape(str(bad)),
    ):
        clips_array(video_clips(folder, clip_length=4))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape(f"Frame file {str(bad)!r} is unreadable or truncated"),
    ):
        clips_array(video_clips(folder, clip_length=4, backend="pil"))


def test_corrupt_jpeg_names_the_file(tmp_path, tiny_video_set):
    folder = copy_frames(
        tiny_video_set.root / "testing" / "frames" / "01", tmp_path / "v"
    )
    bad = folder / "003.jpg"
    data = bytearray(bad.read_bytes())
    data[2:-2] = b"\x00" * (len(data) - 4)  # markers kept, content gone
    bad.write_bytes(bytes(data))
    with pytest.raises(
        backends.VideoDecodeError,
        match=re.escape(f"Frame file {str(bad)!r} is unreadable or truncated"),
    ):
        read_video(folder)


def test_frames_of_differing_sizes(tmp_path, tiny_video_set):
    folder = copy_frames(
        tiny_video_set.root / "testing" / "frames" / "01", tmp_path / "v"
    )
    bad = folder / "005.jpg"
    Image.fromarray(np.zeros((20, 32), np.uint8)).save(bad)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Frames of differing sizes in {str(folder)!r}. Expected "
            f"(height, width)=(24, 32) like the first frame '000.jpg'. "
            f"Received: (height, width)=(20, 32) in {str(bad)!r}"
        ),
    ):
        read_video(folder)
    import tensorflow as tf

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"Frames of differing sizes in one video\..*\[24\] \[32\] "
        r"\[Received:\] \[20\] \[32\] \[in file\] \[" + re.escape(str(bad)),
    ):
        clips_array(video_clips(folder, clip_length=4, size=(8, 8)))
    # Pillow decodes blocks of frames in Python and checks each one there.
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape(
            "Frames of differing sizes in one video. Expected (height, "
            "width)=(24, 32) like its first frame. Received: (height, "
            f"width)=(20, 32) in file {str(bad)!r}"
        ),
    ):
        clips_array(video_clips(folder, clip_length=4, backend="pil"))


def test_truncated_and_unreadable_video_files(tmp_path, tiny_video_set):
    source = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    data = source.read_bytes()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    with pytest.raises(
        backends.VideoDecodeError,
        match=re.escape(
            f"Video file {str(garbage)!r} is unreadable or truncated after "
            f"0 frames:"
        ),
    ):
        read_video(garbage)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        backends.VideoDecodeError,
        match=re.escape(f"Video file {str(truncated)!r} is unreadable"),
    ):
        read_video(truncated)


def test_truncated_video_with_its_index_first(tmp_path, mp4_writer):
    # Noise spreads the bytes over all frames, so a cut loses whole frames.
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (20, 24, 32), dtype=np.uint8)
    path = mp4_writer(
        tmp_path / "faststart.mp4",
        original,
        crf=23,
        container_options={"movflags": "faststart"},
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(
        backends.VideoDecodeError,
        match=re.escape(
            f"Video file {str(path)!r} is truncated: its container records "
            f"20 frames but only 10 could be decoded."
        ),
    ):
        read_video(path)
    import tensorflow as tf

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape(f"Video file {str(path)!r} is truncated"),
    ):
        clips_array(video_clips(path, clip_length=4))


def test_missing_pyav_says_what_to_install(tiny_video_set, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    with pytest.raises(
        backends.BackendUnavailableError,
        match=re.escape(
            "backend='pyav' needs PyAV, which failed to import (import of "
            "av halted; None in sys.modules). Install it with `pip install "
            '"keras-constrict[video]"`.'
        ),
    ):
        read_video(tiny_video_set.root / "videos" / "testing" / "01.mp4")


def test_tfio_unavailable_reason_is_raised(tiny_video_set, monkeypatch):
    path = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    monkeypatch.setitem(
        __import__("sys").modules, "keras_constrict.data.tfio_backend", None
    )
    with pytest.raises(
        backends.BackendUnavailableError,
        match=re.escape(
            "backend='tfio' needs the module keras_constrict.data."
            "tfio_backend, which failed to import"
        ),
    ):
        read_video(path, backend="tfio")
    monkeypatch.undo()

    from keras_constrict.data import tfio_backend

    monkeypatch.setattr(
        tfio_backend,
        "tfio_unavailable_reason",
        lambda: "tensorflow-io is not installed; pip install tensorflow-io",
    )
    with pytest.raises(
        backends.BackendUnavailableError,
        match="^tensorflow-io is not installed; pip install tensorflow-io$",
    ):
        video_clips(path, backend="tfio")


def test_auto_never_picks_tfio(tiny_video_set, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    path = tiny_video_set.root / "videos" / "testing" / "01.mp4"
    with pytest.raises(backends.BackendUnavailableError, match="'pyav'"):
        backends.resolve_backend(path, "auto")


def test_bad_arguments(tiny_video_set):
    folder = tiny_video_set.root / "testing" / "frames" / "01"
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected `size` to be None or (height, width), two positive "
            "integers. Received: size=256"
        ),
    ):
        video_clips(folder, size=256)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected `clip_length` to be a positive integer. Received: "
            "clip_length=0"
        ),
    ):
        video_clips(folder, clip_length=0)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected `value_range` to be (low, high) with low < high, or "
            "None for uint8 values. Received: value_range=(1, -1)"
        ),
    ):
        video_clips(folder, value_range=(1, -1))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected at least one video in `videos`. Received: videos=[]"
        ),
    ):
        video_clips([])
