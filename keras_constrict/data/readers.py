"""Read videos as arrays and as streaming tf.data pipelines of clips.

`read_video` returns every frame of one video as a uint8 array.
`video_clips` streams float32 clips of consecutive frames (one window per
start frame) from any number of videos: each frame is decoded once per pass
and then shared by all windows that hold it, and only a few frames per open
video are held at a time, so memory does not grow with video length.
"""

import logging
import pathlib

import numpy as np

from keras_constrict.data import backends

logger = logging.getLogger(__name__)

# Clips `video_clips` prepares ahead of the consumer.
_PREFETCH_CLIPS = 2

# Window starts per chunk of frames in `sliding_windows`.
_CHUNK_STARTS = 32

# Videos decoded at the same time when clips are shuffled; each holds only a
# window of frames, so this bounds memory as well as mixing clips.
_SHUFFLE_CYCLE_LENGTH = 4


def _source_path(video):
    """The frame folder or video file of a path or of a `Video`."""
    return pathlib.Path(getattr(video, "path", video))


def _check_size(size):
    if size is None:
        return None
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(value, (int, np.integer)) for value in size)
        or min(size) < 1
    ):
        raise ValueError(
            f"Expected `size` to be None or (height, width), two positive "
            f"integers. Received: size={size!r}"
        )
    return int(size[0]), int(size[1])


def _check_value_range(value_range):
    if value_range is None:
        return None
    if (
        not isinstance(value_range, (tuple, list))
        or len(value_range) != 2
        or not float(value_range[0]) < float(value_range[1])
    ):
        raise ValueError(
            f"Expected `value_range` to be (low, high) with low < high, or "
            f"None for uint8 values. Received: value_range={value_range!r}"
        )
    return float(value_range[0]), float(value_range[1])


def _resize_and_scale(frames, size, value_range):
    """uint8 frames to float32 `size` and `value_range` (bilinear resize)."""
    import tensorflow as tf

    frames = tf.cast(frames, tf.float32)
    if size is not None:
        frames = tf.image.resize(frames, size, method="bilinear")
    low, high = value_range
    return frames * ((high - low) / 255.0) + low


def _resize_uint8(frames, size):
    import tensorflow as tf

    resized = tf.image.resize(tf.cast(frames, tf.float32), size, "bilinear")
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


class _Source:
    """One video to decode: its path, backend and, for folders, frames."""

    def __init__(self, video, backend, grayscale):
        self.path = path = _source_path(video)
        self.files = None
        self.suffix = None
        self.height = self.width = None
        if path.is_dir():
            self.files = backends.list_frame_files(path)
        self.backend = backend = backends.resolve_backend(
            path, backend, self.files
        )
        if self.files is not None:
            self.suffix = self.files[0].suffix.lower()
            first = backends.decode_one_frame(self.files[0], backend, grayscale)
            self.height, self.width = first.shape[:2]

    @property
    def group(self):
        """Sources of one group are decoded by one traced function."""
        return self.backend, self.suffix


def _frame_transform(size, value_range):
    """The per-frame resize and scaling, or None when frames stay uint8."""
    if value_range is not None:
        return lambda frame: _resize_and_scale(frame, size, value_range)
    if size is not None:
        return lambda frame: _resize_uint8(frame, size)
    return None


def _source_frames(source, grayscale, transform=None):
    """Frames of one source as tf.data, each passed through `transform`.

    Frame folders apply `transform` in the same parallel map that decodes
    them; decoders that yield frames from Python get a parallel map of
    their own.
    """

    if source.files is not None:
        return backends.frame_folder_dataset(
            source.files,
            source.backend,
            grayscale,
            source.height,
            source.width,
            source.suffix,
            transform,
        )
    if source.backend == "tfio":
        from keras_constrict.data import tfio_backend

        frames = tfio_backend.tfio_frame_dataset(
            source.path, grayscale=grayscale
        )
    else:
        frames = backends.pyav_dataset(source.path, grayscale)
    return _transformed(frames, transform)


def _transformed(frames, transform):
    """Frames from a Python-side decoder through `transform` (parallel)."""
    import tensorflow as tf

    if transform is None:
        return frames
    return frames.map(
        transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def read_video(path, size=None, grayscale=True, backend="auto"):
    """All frames of one video as a uint8 array.

    Args:
        path: a folder of image frames (sorted by the numbers in their
            names, not as strings) or a video file (.mp4, .avi, ...).
        size: `(height, width)` to resize every frame to (bilinear), or
            None to keep the video's own size. Defaults to None.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        backend: the decoder, one of `"auto"`, `"tf"`, `"pil"`, `"pyav"`,
            `"tfio"` (see `keras_constrict.data.backends`). Defaults to
            `"auto"`.

    Returns:
        np.ndarray: uint8 `(frames, height, width, channels)`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for a bad argument, an empty frame folder, or frames of
            differing sizes (the message names the file).
        VideoDecodeError: (a `ValueError`) for an unreadable or truncated
            file (the message names it).
        BackendUnavailableError: (an `ImportError`) if the backend's library
            cannot be used; the message says what to install.

    Example:

    >>> frames = read_video("ped2/testing/frames/01")
    >>> frames.shape, frames.dtype
    ((180, 240, 360, 1), dtype('uint8'))
    """
    return read_frames(path, size, grayscale, None, backend)


def read_frames(
    video, size=None, grayscale=True, value_range=None, backend="auto"
):
    """All frames of one video as an array, optionally resized and scaled.

    Args:
        video: a frame folder, a video file or a `Video`.
        size: `(height, width)` to resize to (bilinear), or None to keep
            the video's size. Defaults to None.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        value_range: `(low, high)` that pixel values 0 and 255 map to, for
            float32 frames; None for uint8 frames (rounded after a
            resize). Defaults to None.
        backend: the decoder (see `read_video`). Defaults to `"auto"`.

    Returns:
        np.ndarray: `(frames, height, width, channels)`, uint8 or float32.

    Raises:
        The errors of `read_video`.
    """
    import tensorflow as tf

    size = _check_size(size)
    value_range = _check_value_range(value_range)
    source = _Source(video, backend, grayscale)
    path, backend = source.path, source.backend
    if source.files is not None:
        frames = _source_frames(
            source, grayscale, _frame_transform(size, value_range)
        )
        try:
            return np.concatenate(list(frames.batch(64).as_numpy_iterator()))
        except tf.errors.InvalidArgumentError as error:
            _raise_named_frame_error(path, backend, grayscale, error)
    if backend == "tfio":
        from keras_constrict.data import tfio_backend

        frames = tfio_backend.tfio_read_video(path, grayscale=grayscale)
    else:
        frames = np.stack(list(backends.iterate_pyav_frames(path, grayscale)))
    if value_range is not None:
        return _resize_and_scale(frames, size, value_range).numpy()
    if size is not None:
        return _resize_uint8(frames, size).numpy()
    return frames


def _raise_named_frame_error(folder, backend, grayscale, error):
    """Find the frame file behind a tf.data decode error and name it."""
    files = backends.list_frame_files(folder)
    expected = None
    for file in files:
        frame = backends.decode_one_frame(file, backend, grayscale)
        if expected is None:
            expected = frame.shape[:2]
        elif frame.shape[:2] != expected:
            raise ValueError(
                f"Frames of differing sizes in {str(folder)!r}. Expected "
                f"(height, width)={expected} like the first frame "
                f"{files[0].name!r}. Received: (height, width)="
                f"{frame.shape[:2]} in {str(file)!r}"
            ) from error
    raise error


def video_frames(
    video,
    size=None,
    grayscale=True,
    value_range=(-1.0, 1.0),
    backend="auto",
):
    """The frames of one video as a streaming tf.data dataset.

    Args:
        video: a frame folder, a video file or a `Video`.
        size: `(height, width)` to resize to (bilinear), or None to keep
            the video's size. Defaults to None.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        value_range: `(low, high)` that pixel values 0 and 255 map to
            (float32 frames), or None for the decoded uint8 frames.
            Defaults to `(-1.0, 1.0)`.
        backend: the decoder (see `read_video`). Defaults to `"auto"`.

    Returns:
        tf.data.Dataset: one frame `(height, width, channels)` per element.
    """

    size = _check_size(size)
    value_range = _check_value_range(value_range)
    return _source_frames(
        _Source(video, backend, grayscale),
        grayscale,
        _frame_transform(size, value_range),
    )


def sliding_windows(frames, clip_length, stride=1):
    """Clips of `clip_length` consecutive elements, one per `stride` starts.

    Each element of `frames` is produced once. Frames are gathered into
    overlapping chunks (about 32 window starts each, plus the
    `clip_length - 1` frames the last window of a chunk reaches into), and
    every clip is a slice of its chunk, which TensorFlow shares instead of
    copying. Memory holds a few chunks, whatever the video's length.

    Args:
        frames: a tf.data dataset of frames.
        clip_length: frames per clip.
        stride: frames between the starts of consecutive clips. Defaults
            to 1.

    Returns:
        tf.data.Dataset: clips `(clip_length, *frame_shape)`; a video of
        `n` frames gives `(n - clip_length) // stride + 1` clips (none if
        it is shorter than `clip_length`).
    """
    import tensorflow as tf

    # Chunks start every `shift` frames, a multiple of the stride, so that
    # the starts inside each chunk stay on the global stride grid.
    shift = -(-_CHUNK_STARTS // stride) * stride
    span = shift + clip_length - 1

    def clips_of_chunk(chunk):
        last_start = tf.shape(chunk, out_type=tf.int64)[0] - clip_length
        starts = tf.data.Dataset.range(0, tf.minimum(last_start + 1, shift))
        starts = starts.shard(stride, 0) if stride > 1 else starts
        return starts.map(lambda start: chunk[start : start + clip_length])

    chunks = frames.window(span, shift=shift).flat_map(
        lambda window: window.batch(span)
    )
    return chunks.flat_map(clips_of_chunk)


def video_clips(
    videos,
    clip_length=16,
    stride=1,
    size=(256, 256),
    grayscale=True,
    value_range=(-1.0, 1.0),
    shuffle=False,
    backend="auto",
    shuffle_buffer=32,
    seed=None,
):
    """A tf.data dataset of float32 clips of consecutive frames.

    One window starts at every `stride`-th frame of every video; a window
    never spans two videos. Frames are decoded once per pass over the data
    (not once per window) and streamed, so memory does not grow with video
    length.

    Args:
        videos: a frame folder, a video file, a `Video`, or a list of them.
        clip_length: frames per clip. Defaults to 16.
        stride: frames between the starts of consecutive clips. Defaults
            to 1.
        size: `(height, width)` every frame is resized to (bilinear), or
            None to keep the videos' own size. Defaults to `(256, 256)`.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        value_range: `(low, high)` that pixel values 0 and 255 map to.
            Defaults to `(-1.0, 1.0)`.
        shuffle: if True, each pass visits the videos in a new order,
            decodes up to 4 of them at a time and mixes their clips
            through a buffer of `shuffle_buffer` clips; if False, clips come
            in video order and frame order. Defaults to False.
        backend: the decoder (see `read_video`). Defaults to `"auto"`.
        shuffle_buffer: clips held for shuffling (each is
            `clip_length * height * width * channels * 4` bytes). Defaults
            to 32.
        seed: seed of the shuffles, None for a random one. Defaults to
            None.

    Returns:
        tf.data.Dataset: float32 clips `(clip_length, height, width,
        channels)` in `value_range`.

    Raises:
        ValueError: for a bad argument or an empty list of videos.
        BackendUnavailableError: if a backend's library cannot be used.

    Example:

    >>> clips = video_clips(["ped2/testing/frames/01"], size=(64, 64))
    >>> next(iter(clips)).shape
    TensorShape([16, 64, 64, 1])
    """
    import tensorflow as tf

    if not isinstance(videos, (list, tuple)):
        videos = [videos]
    if not videos:
        raise ValueError(
            "Expected at least one video in `videos`. Received: videos=[]"
        )
    for name, value in (("clip_length", clip_length), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(
                f"Expected `{name}` to be a positive integer. Received: "
                f"{name}={value!r}"
            )
    size = _check_size(size)
    value_range = _check_value_range(value_range)
    if value_range is None:
        raise ValueError(
            "video_clips yields float32 clips: `value_range` must be "
            "(low, high). Received: value_range=None"
        )
    sources = [_Source(video, backend, grayscale) for video in videos]
    groups = {}
    for source in sources:
        groups.setdefault(source.group, []).append(source)
    for (name, _), members in groups.items():
        logger.info(
            "video_clips decodes %d video(s) with backend=%r%s",
            len(members),
            name,
            " (chosen by backend='auto')" if backend == "auto" else "",
        )

    transform = _frame_transform(size, value_range)

    def clips_of(frames):
        return sliding_windows(frames, clip_length, stride)

    parts = [
        _group_clips(members, transform, clips_of, grayscale, shuffle, seed)
        for members in groups.values()
    ]
    if len(parts) == 1:
        clips = parts[0]
    elif shuffle:
        clips = tf.data.Dataset.sample_from_datasets(
            parts, seed=seed, stop_on_empty_dataset=False
        )
    else:
        clips = parts[0]
        for part in parts[1:]:
            clips = clips.concatenate(part)
    if shuffle:
        clips = clips.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    # A few clips ahead, so that cutting clips overlaps with their use.
    return clips.prefetch(_PREFETCH_CLIPS)


def _group_clips(sources, transform, clips_of, grayscale, shuffle, seed):
    """Clips of videos that share one backend, video after video.

    The videos are picked by index inside tf.data, so one traced function
    decodes them all and a shuffled pass visits them in a new order.
    """
    import tensorflow as tf

    backend = sources[0].backend
    if backend == "tfio":
        # TODO: tfio_frame_dataset takes a Python path, so tfio videos are
        # chained in Python; a shuffled order is drawn once, not per pass.
        order = np.arange(len(sources))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        clips = clips_of(
            _source_frames(sources[order[0]], grayscale, transform)
        )
        for index in order[1:]:
            clips = clips.concatenate(
                clips_of(_source_frames(sources[index], grayscale, transform))
            )
        return clips

    if sources[0].files is not None:
        counts = [len(source.files) for source in sources]
        files = tf.constant(
            [str(file) for source in sources for file in source.files]
        )
        starts = tf.constant(np.cumsum([0, *counts[:-1]]), tf.int64)
        counts = tf.constant(counts, tf.int64)
        heights = tf.constant([source.height for source in sources])
        widths = tf.constant([source.width for source in sources])
        suffix = sources[0].suffix

        @tf.autograph.experimental.do_not_convert
        def clips_of_video(index):
            start = starts[index]
            frames = backends.frame_folder_dataset(
                files[start : start + counts[index]],
                backend,
                grayscale,
                heights[index],
                widths[index],
                suffix,
                transform,
            )
            return clips_of(frames)

    else:
        paths = tf.constant([str(source.path) for source in sources])

        @tf.autograph.experimental.do_not_convert
        def clips_of_video(index):
            frames = backends.pyav_dataset(paths[index], grayscale)
            return clips_of(_transformed(frames, transform))

    indices = tf.data.Dataset.range(len(sources))
    if shuffle:
        indices = indices.shuffle(
            len(sources), seed=seed, reshuffle_each_iteration=True
        )
        return indices.interleave(
            clips_of_video,
            cycle_length=min(len(sources), _SHUFFLE_CYCLE_LENGTH),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    # TODO: video_clips runs at about half the raw decode rate on 2 cores
    # (docs/data.md); decoding the next video while this one is cut into
    # clips would help, with a look-ahead that stays bounded whatever the
    # video's length.
    return indices.flat_map(clips_of_video)
