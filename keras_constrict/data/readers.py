"""Read videos as arrays and as streaming tf.data pipelines of clips.

`read_video` returns every frame of one video as a uint8 array.
`video_clips` streams float32 clips of consecutive frames (one window per
start frame) from any number of videos: each frame is decoded once per pass
and then shared by all windows that hold it, and only a few frames per open
video are held at a time, so memory does not grow with video length.
"""

import functools
import logging
import os
import pathlib

import numpy as np

from keras_constrict.data import backends
from keras_constrict.data import tfdata

logger = logging.getLogger(__name__)

# Frames per block: clips are cut from one block plus the last
# `clip_length - 1` frames of the block before it.
_BLOCK_FRAMES = 32

# Videos decoded at the same time when clips are shuffled; each holds only a
# window of frames, so this bounds memory as well as mixing clips.
_SHUFFLE_CYCLE_LENGTH = 4
# PyAV: videos decoded side by side (at most), and the bytes of decoded
# frames each video waiting its turn may hold.
_PYAV_VIDEOS = 4
_PYAV_LOOKAHEAD_BYTES = 32 * 2**20


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


def _interpolation(in_size, out_size):
    """Source rows (or columns) and weights of a bilinear resize.

    Half-pixel centres, no antialiasing, clamped at the borders, computed
    in float32 as TensorFlow's own bilinear kernel computes them, so that
    the resize below gives its values. `in_size` may be a tensor.
    """
    import tensorflow as tf

    in_size = tf.cast(in_size, tf.int32)
    scale = tf.cast(in_size, tf.float32) / float(out_size)
    source = (tf.range(out_size, dtype=tf.float32) + 0.5) * scale - 0.5
    floor = tf.floor(source)
    last = in_size - 1
    lower = tf.clip_by_value(tf.cast(floor, tf.int32), 0, last)
    upper = tf.clip_by_value(tf.cast(tf.math.ceil(source), tf.int32), 0, last)
    return lower, upper, source - floor


def _bilinear(frames, size):
    """Bilinear resize of float32 `(..., height, width, channels)` frames.

    The same values as `tf.image.resize(frames, size, "bilinear")`, up to
    float rounding, from two gathers and two interpolations per axis, so
    that XLA fuses them into one pass over the frames. TensorFlow's kernel
    computes every output pixel with scalar code and no vectorisation
    when frames are grey (one channel): about 0.4 ms of CPU per 256 x 256
    frame on top of a 0.7 ms JPEG decode.
    """
    if frames.shape[-1] == 1:
        # Without the trailing axis of size 1, XLA's gathers along the
        # width move whole floats, not rows of one float: 0.18 against
        # 0.24 ms of CPU per 256 x 256 frame here, the same values.
        return _separable(frames[..., 0], size, -2, -1)[..., None]
    return _separable(frames, size, -3, -2)


def _separable(frames, size, height_axis, width_axis):
    """`_bilinear` along the given axes (negative, height before width)."""
    import tensorflow as tf

    shape = tf.shape(frames)
    left, right, x_lerp = _interpolation(shape[width_axis], size[1])
    top, bottom, y_lerp = _interpolation(shape[height_axis], size[0])
    # Weights broadcast along the axes after the one they interpolate.
    x_lerp = tf.reshape(x_lerp, [-1] + [1] * (-1 - width_axis))
    y_lerp = tf.reshape(y_lerp, [-1] + [1] * (-1 - height_axis))
    # Across each row first, then down the columns, as TensorFlow does.
    start = tf.gather(frames, left, axis=width_axis)
    end = tf.gather(frames, right, axis=width_axis)
    rows = start + (end - start) * x_lerp
    start = tf.gather(rows, top, axis=height_axis)
    end = tf.gather(rows, bottom, axis=height_axis)
    return start + (end - start) * y_lerp


def _convert(frames, size, value_range, limited=None):
    """uint8 frames resized (bilinear) and scaled.

    Frames flagged in `limited` (bool, one per frame) hold limited-range
    luma (16..235) and are first expanded to 0..255 as
    `backends.iterate_pyav_blocks(expand=True)` does (same values: the
    fractions of 255 / 219 stay far from one half, so float32 rounds as
    float64).
    With `value_range` None the result is rounded back to uint8.
    """
    import tensorflow as tf

    frames = tf.cast(frames, tf.float32)
    if limited is not None:
        expanded = tf.clip_by_value(
            tf.round((frames - 16.0) * (255.0 / 219.0)), 0.0, 255.0
        )
        frames = tf.where(limited[:, None, None, None], expanded, frames)
    if size is not None:
        frames = _bilinear(frames, size)
    if value_range is None:
        return tf.cast(tf.clip_by_value(tf.round(frames), 0.0, 255.0), tf.uint8)
    low, high = value_range
    # Clipped: a fused multiply-add (XLA) can land one float step outside.
    return tf.clip_by_value(frames * ((high - low) / 255.0) + low, low, high)


@functools.cache
def _frame_transform(size, value_range, luma=False):
    """The resize and scaling of frames, compiled with XLA.

    Returns a function of one block of at most `_BLOCK_FRAMES` uint8
    frames `(count, height, width, channels)` (with `luma`, also of the
    block's bool `limited` flags, see `_convert`), or None when frames
    stay uint8 at their own size and there is no luma to expand. Blocks
    are padded to `_BLOCK_FRAMES` frames for the compiled call, and the
    function is cached, so that XLA compiles once per frame shape in the
    process, not once per pipeline, `read_frames` call or length of a
    video's last block (a compilation costs more than scoring a Ped2
    video).

    TensorFlow runs each op of a tf.data function on its own, writing
    every intermediate to memory; XLA fuses the cast, luma expansion,
    gathers, interpolations and scaling into one loop (on 2 cores, CPU
    per 256 x 256 grey frame falls from 0.44 ms to 0.18 ms, and the
    conversion of a 360 x 240 frame to float32 from 0.18 ms to 0.09 ms;
    the expansion of PyAV's luma costs 0.12 ms per frame in NumPy).
    """
    import tensorflow as tf

    if size is None and value_range is None and not luma:
        return None

    def transform(frames, *limited):
        return _convert(frames, size, value_range, *limited)

    compiled = tf.function(transform, jit_compile=True, autograph=False)

    def blockwise(block, *limited):
        count = tf.shape(block)[0]
        padding = [[0, _BLOCK_FRAMES - count], [0, 0], [0, 0], [0, 0]]
        padded = tf.ensure_shape(
            tf.pad(block, padding), (_BLOCK_FRAMES, *block.shape[1:])
        )
        limited = [
            tf.ensure_shape(tf.pad(flags, padding[:1]), (_BLOCK_FRAMES,))
            for flags in limited
        ]
        return compiled(padded, *limited)[:count]

    # A graph for eager calls too (read_frames): eager padding and slicing
    # cost 0.07 ms per frame. One trace serves every block length.
    return tf.function(blockwise, autograph=False, reduce_retracing=True)


class _Source:
    """One video to decode: its path, backend and, for folders, frames."""

    def __init__(self, video, backend, grayscale):
        self.grayscale = grayscale
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

    def frame_shape(self):
        """`(height, width, channels)` of the decoded frames.

        Frame folders know it from their first frame; video files are
        probed (PyAV reads the container's header). tensorflow-io videos
        are probed by their own frame dataset, so None here.
        """
        channels = 1 if self.grayscale else 3
        if self.files is not None:
            return (int(self.height), int(self.width), channels)
        if self.backend == "tfio":
            return None
        # Only the size is needed: no packet counting.
        _, height, width = backends.probe_video_file(
            self.path, count_frames=False
        )
        return (height, width, channels)


def _source_blocks(source, grayscale):
    """uint8 frames of a frame folder or a tensorflow-io video as tf.data,
    `_BLOCK_FRAMES` at a time (PyAV's blocks come with luma flags: see
    `_source_frames`)."""
    import tensorflow as tf

    if source.files is not None:
        count = len(source.files)
        frames = tf.data.Dataset.from_tensor_slices(
            (
                [str(file) for file in source.files],
                tf.fill([count], source.height),
                tf.fill([count], source.width),
            )
        )
        return backends.frame_file_blocks(
            frames, source.backend, grayscale, source.suffix, _BLOCK_FRAMES
        )
    from keras_constrict.data import tfio_backend

    frames = tfio_backend.tfio_frame_dataset(source.path, grayscale=grayscale)
    return frames.batch(_BLOCK_FRAMES)


def _source_frames(source, grayscale, size, value_range):
    """Frames of one source as tf.data, one compiled transform call per
    block of frames (per frame, the call costs more than it saves)."""
    import tensorflow as tf

    if source.files is None and source.backend == "pyav":
        blocks = backends.pyav_block_dataset(
            source.path, grayscale, _BLOCK_FRAMES
        )
        luma_transform = _frame_transform(size, value_range, luma=True)

        def transform(frames, videos, positions, limited):
            return luma_transform(frames, limited)

    else:
        blocks = _source_blocks(source, grayscale)
        transform = _frame_transform(size, value_range)
    if transform is not None:
        blocks = tfdata.inline_map(blocks, transform, tf.data.AUTOTUNE)
    return blocks.unbatch()


def _frame_blocks(video, size, grayscale, value_range, backend):
    """Yield one video's frames as arrays of up to `_BLOCK_FRAMES` frames.

    Decoded, resized and scaled as `read_frames` says, and streamed: only
    a block is held at a time. The compiled transform is called eagerly,
    block by block; a tf.data map would trace it again for every video.
    """
    import tensorflow as tf

    size = _check_size(size)
    value_range = _check_value_range(value_range)
    source = _Source(video, backend, grayscale)
    path, backend = source.path, source.backend
    transform = _frame_transform(size, value_range)
    if source.files is not None:
        blocks = _named_errors(
            _source_blocks(source, grayscale), path, backend, grayscale
        )
        blocks = ((block,) for block in blocks)
    elif backend == "tfio":
        from keras_constrict.data import tfio_backend

        frames = tfio_backend.tfio_read_video(path, grayscale=grayscale)
        blocks = (
            (frames[start : start + _BLOCK_FRAMES],)
            for start in range(0, len(frames), _BLOCK_FRAMES)
        )
    elif transform is None:
        # uint8 at native size: luma expanded while copied, in NumPy.
        blocks = (
            (block,)
            for block, _ in backends.iterate_pyav_blocks(
                path, grayscale, _BLOCK_FRAMES, expand=True
            )
        )
    else:
        # Luma flags go to the compiled transform with their block.
        blocks = backends.iterate_pyav_blocks(path, grayscale, _BLOCK_FRAMES)
        transform = _frame_transform(size, value_range, luma=True)
    for block, *limited in blocks:
        if transform is not None:
            # On the CPU, as in tf.data pipelines, whatever devices there are.
            with tf.device("/CPU:0"):
                block = transform(block, *limited)
        yield np.asarray(block)


def _named_errors(blocks, folder, backend, grayscale):
    """Iterate a frame folder's blocks, naming the file behind an error."""
    import tensorflow as tf

    try:
        yield from blocks
    except tf.errors.InvalidArgumentError as error:
        _raise_named_frame_error(folder, backend, grayscale, error)


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
    return np.concatenate(
        list(_frame_blocks(video, size, grayscale, value_range, backend))
    )


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
        _Source(video, backend, grayscale), grayscale, size, value_range
    )


def sliding_windows(frames, clip_length, stride=1):
    """Clips of `clip_length` consecutive frames of one video.

    Each frame of `frames` is produced once and shared by every clip that
    holds it (see `clips_of_blocks`); memory holds a few blocks of frames,
    whatever the video's length.

    Args:
        frames: a tf.data dataset of frames of one fully known shape.
        clip_length: frames per clip.
        stride: frames between the starts of consecutive clips. Defaults
            to 1.

    Returns:
        tf.data.Dataset: clips `(clip_length, *frame_shape)`; a video of
        `n` frames gives `(n - clip_length) // stride + 1` clips (none if
        it is shorter than `clip_length`).

    Raises:
        ValueError: if the frames' shape is not fully known.
    """
    import tensorflow as tf

    positions = tf.data.Dataset.range(2**31 - 1, output_type=tf.int32)
    frames = tf.data.Dataset.zip(frames, positions)
    blocks = frames.batch(_BLOCK_FRAMES).map(
        lambda block, positions: (block, tf.zeros_like(positions), positions)
    )
    return clips_of_blocks(blocks, clip_length, stride)


def clips_of_blocks(blocks, clip_length, stride=1):
    """Clips of consecutive frames from a stream of blocks of frames.

    `blocks` yields `(frames, videos, positions)`: a block of frames in
    stream order, the video number of each frame and its position in its
    video. Each block is joined to the last `clip_length - 1` frames before
    it, and every window that ends inside the block, lies within one video
    and starts at a multiple of `stride` becomes a clip: a slice of that
    chunk, which TensorFlow shares instead of copying. The pipeline runs
    one traced function per stage whatever the number of blocks or videos,
    so no function is instantiated per chunk or per clip.

    Args:
        blocks: a tf.data dataset of `(frames, videos, positions)`; frames
            of one fully known shape, videos and positions int32.
        clip_length: frames per clip.
        stride: frames between the starts of clips of one video. Defaults
            to 1.

    Returns:
        tf.data.Dataset: clips `(clip_length, *frame_shape)`, video after
        video, in frame order.

    Raises:
        ValueError: if the frames' shape is not fully known.
    """
    import tensorflow as tf

    frame_spec = blocks.element_spec[0]
    frame_shape = frame_spec.shape[1:]
    if not frame_shape.is_fully_defined():
        raise ValueError(
            "Cutting clips needs frames of one known shape. Received: "
            f"frames of shape {frame_shape}; resize them to one size or "
            "use tf.ensure_shape."
        )
    tail_length = clip_length - 1
    empty = (
        tf.zeros((0, *frame_shape), frame_spec.dtype),
        tf.zeros((0,), tf.int32),
        tf.zeros((0,), tf.int32),
    )

    def join(tail, block):
        frames, videos, positions = (
            tf.concat([before, new], 0) for before, new in zip(tail, block)
        )
        count = tf.shape(videos)[0]
        keep_from = tf.maximum(count - tail_length, 0)
        tail = (
            frames[keep_from:],
            videos[keep_from:],
            positions[keep_from:],
        )
        # The chunk holds at most `tail_length` frames before the block,
        # so every window of it ends inside the block: no window is cut
        # twice, and none is missed.
        starts = tf.range(keep_from)
        valid = tf.logical_and(
            tf.equal(
                tf.gather(videos, starts),
                tf.gather(videos, starts + tail_length),
            ),
            tf.equal(tf.gather(positions, starts) % stride, 0),
        )
        return tail, (frames, tf.boolean_mask(starts, valid))

    # TODO: video_clips stays below the 0.8 goal of the raw decode rate on
    # 2 cores at 256 x 256 (tf and pyav) and for JPEG folders at native
    # size (docs/data.md): on top of decoding, the resize costs ~0.27 ms
    # of CPU per frame in the pipeline, and this stage ~0.2 ms: `join` (a
    # float32 copy of 47 frames per 32) and every clip as one tf.data
    # element (~0.04 ms of it is tf.data's own floor). With the resize
    # replaced by a free crop, tf at 256 x 256 measured 0.77.
    def clips_of_chunk(frames, starts):
        # Each clip is a slice of the chunk along its first axis, which
        # TensorFlow shares instead of copying. A map inside flat_map
        # costs less per clip than zipping the chunk with its starts.
        return tfdata.inline_map(
            tf.data.Dataset.from_tensor_slices(starts),
            lambda start: frames[start : start + clip_length],
        )

    return blocks.scan(empty, join).flat_map(clips_of_chunk)


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
    length. With PyAV, several video files decode side by side (up to 4,
    one thread each; each waiting video holds at most 32 MB of decoded
    frames), clips still in video order.

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
        channels)` in `value_range`. Its options switch tf.data's
        autotuner off (`options.autotune.enabled = False`, steadier on
        few cores; parallel maps run one call per core), which datasets
        built on it inherit unless their own options say otherwise.

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
    counts = {}
    for source in sources:
        counts[source.backend] = counts.get(source.backend, 0) + 1
    for name, count in counts.items():
        logger.info(
            "video_clips decodes %d video(s) with backend=%r%s",
            count,
            name,
            " (chosen by backend='auto')" if backend == "auto" else "",
        )

    channels = 1 if grayscale else 3
    groups = []
    for source in sources:
        shape = (*size, channels) if size is not None else None
        if source.files is not None:
            # Frame folders are resized block by block, and one block may
            # hold frames of two videos: one group per native size.
            shape = source.frame_shape()
        key = (source.backend, source.suffix, shape or source.frame_shape())
        if shuffle:
            # Shuffled clips are mixed anyway: one group per decoder.
            group = next((g for g in groups if g[0] == key), None)
        else:
            # Consecutive videos only, so that clips keep the video order.
            group = groups[-1] if groups and groups[-1][0] == key else None
        if group is None:
            groups.append((key, [source]))
        else:
            group[1].append(source)

    parts = [
        _group_clips(
            members,
            key[2] if size is None else (*size, channels),
            size,
            value_range,
            clip_length,
            stride,
            grayscale,
            shuffle,
            seed,
        )
        for key, members in groups
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
    # No prefetch of single clips: on 2 cores it costs more per clip than
    # it overlaps; the parallel decode and resize already run ahead, and
    # pipelines that batch clips prefetch whole batches.
    #
    # tf.data's autotuner starts again at every pass, and on 2 cores about
    # one pass in three settled at about 770 frames/s (PyAV and PIL: 1100
    # to 1300 otherwise; batched JPEG clips at 256 x 256: 760 against
    # 1190). Without it, each parallel map runs one call per core and
    # every pass runs at the same speed. `with_options` can turn it on.
    options = tf.data.Options()
    options.autotune.enabled = False
    return clips.with_options(options)


def _group_clips(
    sources,
    frame_shape,
    size,
    value_range,
    clip_length,
    stride,
    grayscale,
    shuffle,
    seed,
):
    """Clips of videos that share one decoder and one frame shape.

    Unshuffled, all videos form one stream of frames (each window checked
    to lie within one video), so the pipeline is traced and instantiated
    once. Shuffled, each pass visits the videos in a new order, up to
    `_SHUFFLE_CYCLE_LENGTH` at a time, each with its own pipeline.
    """
    import tensorflow as tf

    backend = sources[0].backend
    if backend == "tfio":
        # TODO: tfio_frame_dataset takes a Python path (it probes the frame
        # size in Python to refuse unsafe widths before decoding), so tfio
        # videos are chained in Python; a shuffled order is drawn once, not
        # per pass.
        order = np.arange(len(sources))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        clips = None
        for index in order:
            frames = _source_frames(
                sources[index], grayscale, size, value_range
            )
            if frame_shape is not None:
                frames = frames.map(
                    lambda frame: tf.ensure_shape(frame, frame_shape)
                )
            more = sliding_windows(frames, clip_length, stride)
            clips = more if clips is None else clips.concatenate(more)
        return clips

    # PyAV's blocks also carry their luma flags, expanded in the transform.
    pyav = sources[0].files is None
    transform = _frame_transform(size, value_range, luma=pyav)

    def transformed(block, video, position, *limited):
        # One compiled call per block of frames rather than per frame.
        if transform is not None:
            block = transform(block, *limited)
        return tf.ensure_shape(block, (None, *frame_shape)), video, position

    if sources[0].files is not None:
        counts = [len(source.files) for source in sources]
        starts = np.cumsum([0, *counts[:-1]])
        files = tf.constant(
            [str(file) for source in sources for file in source.files]
        )
        videos = tf.constant(
            np.repeat(np.arange(len(sources)), counts), tf.int32
        )
        positions = tf.constant(
            np.concatenate([np.arange(count) for count in counts]), tf.int32
        )
        heights = tf.constant(
            np.repeat([source.height for source in sources], counts), tf.int32
        )
        widths = tf.constant(
            np.repeat([source.width for source in sources], counts), tf.int32
        )
        suffix = sources[0].suffix

        def blocks_of(start, count):
            columns = (files, heights, widths, videos, positions)
            frames = tf.data.Dataset.from_tensor_slices(
                tuple(column[start : start + count] for column in columns)
            )
            blocks = backends.frame_file_blocks(
                frames, backend, grayscale, suffix, _BLOCK_FRAMES
            )
            return tfdata.inline_map(blocks, transformed, tf.data.AUTOTUNE)

        starts = tf.constant(starts, tf.int64)
        counts = tf.constant(counts, tf.int64)

        def clips_of_video(index):
            return clips_of_blocks(
                blocks_of(starts[index], counts[index]), clip_length, stride
            )

        if not shuffle:
            return clips_of_blocks(
                blocks_of(0, int(sum(len(s.files) for s in sources))),
                clip_length,
                stride,
            )
    else:
        paths = tf.constant([str(source.path) for source in sources])

        # PyAV releases the GIL while it decodes, so several videos decode
        # side by side, each on one thread: on 2 cores that beats FFmpeg's
        # frame threads on one video at a time (see iterate_pyav_blocks).
        # Not converted by AutoGraph: pyav_block_dataset holds a Python
        # generator, which AutoGraph would warn about and leave as it is.
        @tf.autograph.experimental.do_not_convert
        def blocks_of_video(index):
            return backends.pyav_block_dataset(
                paths[index],
                grayscale,
                _BLOCK_FRAMES,
                first_video=tf.cast(index, tf.int32),
                frame_threads=len(sources) == 1,
            )

        if not shuffle:
            # In video order: all of a video's blocks before the next's.
            if len(sources) == 1:
                blocks = blocks_of_video(0)
            else:
                # A video waiting its turn decodes ahead into a bounded
                # buffer of uint8 blocks, transformed once its turn comes.
                side_by_side = max(2, min(os.cpu_count() or 2, _PYAV_VIDEOS))
                frame_bytes = int(np.prod(sources[0].frame_shape()))
                lookahead = _PYAV_LOOKAHEAD_BYTES // (
                    frame_bytes * _BLOCK_FRAMES
                )
                blocks = tfdata.videos_side_by_side(
                    tf.data.Dataset.range(len(sources)),
                    blocks_of_video,
                    min(len(sources), side_by_side),
                    int(np.clip(lookahead, 2, 16)),
                )
            blocks = tfdata.inline_map(blocks, transformed, tf.data.AUTOTUNE)
            return clips_of_blocks(blocks, clip_length, stride)

        @tf.autograph.experimental.do_not_convert
        def clips_of_video(index):
            blocks = tfdata.inline_map(
                blocks_of_video(index), transformed, tf.data.AUTOTUNE
            )
            return clips_of_blocks(blocks, clip_length, stride)

    indices = tf.data.Dataset.range(len(sources)).shuffle(
        len(sources), seed=seed, reshuffle_each_iteration=True
    )
    return indices.interleave(
        clips_of_video,
        cycle_length=min(len(sources), _SHUFFLE_CYCLE_LENGTH),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
