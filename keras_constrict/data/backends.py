"""Frame decoders behind `read_video` and `video_clips`, and their dispatch.

A video source is either a folder of image frames or a video file. Each
decoder ("backend") turns one source into a `tf.data.Dataset` of uint8
frames `(height, width, channels)` in frame order:

| backend | sources | decoder |
| --- | --- | --- |
| `"tf"` | frame folders: JPEG, PNG, BMP, GIF | `tf.io.decode_image`, parallel |
| `"pil"` | frame folders, also TIFF | Pillow in tf.data, parallel |
| `"pyav"` | video files | PyAV (FFmpeg); grey = luma plane |
| `"tfio"` | video files | tensorflow-io, see `tfio_backend` |

`"auto"` picks `"tf"` for frame folders (`"pil"` when a folder holds TIFF
frames, which `tf.io.decode_image` cannot read) and `"pyav"` for video
files, and logs the choice. It never picks `"tfio"`. A backend whose
library cannot be imported raises `BackendUnavailableError`, which says
why and what to install.
"""

import functools
import importlib
import itertools
import logging
import pathlib
import re

import numpy as np

from keras_constrict.data import tfdata

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "tf", "pil", "pyav", "tfio")
FRAME_FOLDER_BACKENDS = ("tf", "pil")
VIDEO_FILE_BACKENDS = ("pyav", "tfio")

# Extensions read as frames inside a frame folder; other files (thumbnails
# databases, notes) are ignored.
TF_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TIFF_EXTENSIONS = (".tif", ".tiff")
IMAGE_EXTENSIONS = TF_IMAGE_EXTENSIONS + TIFF_EXTENSIONS
VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
)

VIDEO_INSTALL_HINT = 'pip install "keras-constrict[video]"'

_DIGITS = re.compile(r"(\d+)")

# Limited-range ("MPEG", 16..235) luma to full-range grey, the same table
# FFmpeg's swscale applies for `to_ndarray(format="gray")`.
_LIMITED_TO_FULL = np.clip(
    np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255
).astype(np.uint8)


# 8-bit YUV formats whose first plane is the luma, one byte per pixel.
_LUMA_FORMATS = frozenset(
    f"{prefix}{layout}"
    for prefix in ("yuv", "yuvj")
    for layout in ("420p", "422p", "444p", "440p", "411p")
) | {"nv12", "nv21"}


class BackendUnavailableError(ImportError):
    """A decoding backend was asked for but its library cannot be used."""


class VideoDecodeError(ValueError):
    """A frame file or video file cannot be read, or is truncated."""


def natural_sort_key(name):
    """Sort key that orders the numbers inside names by value.

    `"frame_2.jpg"` sorts before `"frame_10.jpg"`, unlike plain string
    order.

    Args:
        name: a file name (a `str` or a path; only its name is used).

    Returns:
        tuple: a key for `sorted`.
    """
    name = pathlib.PurePath(name).name
    parts = _DIGITS.split(name)
    # Alternate text and numbers; (0, text) / (1, number) keeps the tuple
    # comparable when one name has text where another has a number.
    return tuple(
        (1, int(part), part) if index % 2 else (0, part.lower(), part)
        for index, part in enumerate(parts)
    )


def list_frame_files(folder):
    """Image frames of a frame folder, sorted by the numbers in their names.

    Args:
        folder: path to a folder of image frames.

    Returns:
        list[pathlib.Path]: the frame files in frame order.

    Raises:
        FileNotFoundError: if `folder` is not a folder.
        ValueError: if it holds no image frames.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Frame folder not found. Expected a folder of image frames. "
            f"Received: folder={str(folder)!r}"
        )
    files = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not files:
        raise ValueError(
            f"Frame folder {str(folder)!r} holds no image frames. Expected "
            f"files ending in one of {', '.join(IMAGE_EXTENSIONS)}."
        )
    return sorted(files, key=natural_sort_key)


def is_video_file(path):
    """Whether `path` names a video file by its extension."""
    return pathlib.Path(path).suffix.lower() in VIDEO_EXTENSIONS


def unavailable_reason(backend):
    """Why `backend` cannot be used here, or None when it can.

    Args:
        backend: one of `"tf"`, `"pil"`, `"pyav"`, `"tfio"`.

    Returns:
        str | None: the reason and the fix, or None.
    """
    if backend == "tf":
        return None
    if backend == "pil":
        return _import_reason("PIL", "Pillow", backend)
    if backend == "pyav":
        return _import_reason("av", "PyAV", backend)
    if backend == "tfio":
        try:
            tfio_backend = importlib.import_module(
                "keras_constrict.data.tfio_backend"
            )
        except ImportError as error:
            return (
                f"backend='tfio' needs the module "
                f"keras_constrict.data.tfio_backend, which failed to import "
                f"({error}). Use backend='pyav' or 'auto' instead."
            )
        return tfio_backend.tfio_unavailable_reason()
    raise ValueError(_unknown_backend_message(backend))


def _import_reason(module, library, backend):
    try:
        importlib.import_module(module)
    except ImportError as error:
        return (
            f"backend={backend!r} needs {library}, which failed to import "
            f"({error}). Install it with `{VIDEO_INSTALL_HINT}`."
        )
    return None


def _unknown_backend_message(backend):
    return (
        f"Unknown video backend. Expected one of "
        f"{', '.join(repr(name) for name in BACKENDS)}. "
        f"Received: backend={backend!r}"
    )


def resolve_backend(path, backend="auto", files=None):
    """The backend that decodes `path`, checked to be usable.

    Args:
        path: a frame folder or a video file.
        backend: a name from `BACKENDS`. Defaults to `"auto"`.
        files: the frame files of a frame folder when the caller has
            listed them already, else None. Defaults to None.

    Returns:
        str: a concrete backend name (never `"auto"`).

    Raises:
        ValueError: for an unknown name, or a backend that cannot decode
            this kind of source.
        FileNotFoundError: if `path` does not exist.
        BackendUnavailableError: if the backend's library cannot be used.
    """
    if backend not in BACKENDS:
        raise ValueError(_unknown_backend_message(backend))
    path = pathlib.Path(path)
    if path.is_dir():
        kind, allowed = "a frame folder", FRAME_FOLDER_BACKENDS
        if backend == "auto":
            if files is None:
                files = list_frame_files(path)
            has_tiff = any(
                file.suffix.lower() in TIFF_EXTENSIONS for file in files
            )
            chosen = "pil" if has_tiff else "tf"
    elif path.is_file():
        if not is_video_file(path):
            raise ValueError(
                f"Not a frame folder or a video file. Expected a folder of "
                f"image frames or a file ending in one of "
                f"{', '.join(VIDEO_EXTENSIONS)}. Received: path={str(path)!r}"
            )
        kind, allowed = "a video file", VIDEO_FILE_BACKENDS
        chosen = "pyav"
    else:
        raise FileNotFoundError(
            f"Video not found. Expected a frame folder or a video file. "
            f"Received: path={str(path)!r}"
        )
    if backend != "auto":
        if backend not in allowed:
            raise ValueError(
                f"backend={backend!r} cannot decode {kind}. Use one of "
                f"{', '.join(repr(name) for name in allowed)} or 'auto'. "
                f"Received: path={str(path)!r}"
            )
        chosen = backend
    require(chosen)
    if backend == "auto":
        logger.debug("backend='auto' chose %r for %s", chosen, path)
    return chosen


def probe_video_file(path, count_frames=True):
    """Frame count and size of a video file, read from its container.

    When the container does not record the frame count, the packets are
    counted without decoding them (unless `count_frames` is False).

    Args:
        path: a video file.
        count_frames: count the packets when the container records no
            frame count; if False, that count is returned as it is (0 or
            less). Defaults to True.

    Returns:
        tuple: `(num_frames, height, width)`.

    Raises:
        VideoDecodeError: if PyAV cannot open the file or it has no video
            stream.
    """
    av = _import_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(
                    f"Video file {str(path)!r} has no video stream."
                )
            stream = container.streams.video[0]
            height = stream.codec_context.height
            width = stream.codec_context.width
            num_frames = stream.frames
            if num_frames <= 0 and count_frames:
                num_frames = sum(
                    1 for packet in container.demux(stream) if packet.size
                )
    except av.error.FFmpegError as error:
        raise VideoDecodeError(
            f"Video file {str(path)!r} is unreadable or truncated: {error}"
        ) from error
    return num_frames, height, width


def require(backend):
    """Raise `BackendUnavailableError` with the reason if `backend` is unusable.

    Args:
        backend: one of `"tf"`, `"pil"`, `"pyav"`, `"tfio"`.
    """
    reason = unavailable_reason(backend)
    if reason is not None:
        raise BackendUnavailableError(reason)


def _import_av():
    require("pyav")
    import av

    return av


def _import_pil():
    require("pil")
    from PIL import Image

    return Image


def _luma_plane(frame):
    """The luma plane of a decoded YUV frame (a view, no copy), and
    whether it is limited range (16..235, still to be expanded)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, -1)
    # Full ("JPEG") range luma is already grey.
    full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
    return rows[:, : frame.width], not full


def iterate_pyav_blocks(
    path, grayscale=True, block_frames=32, frame_threads=True, expand=False
):
    """Decode a video file with PyAV into blocks of consecutive frames.

    Grayscale reads the luma plane directly when the decoder outputs YUV
    (no colour conversion) and copies it into the block as it is:
    limited-range luma is flagged, not expanded, so that the expansion to
    0..255 (FFmpeg's own grey conversion) can run fused with the resize
    and scaling (`readers._frame_transform`) instead of in this Python
    loop, unless `expand` asks for it here. Each plane is copied (or
    expanded) once, straight into a block allocated for it.

    Args:
        path: a video file.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        block_frames: frames per block (the last may be smaller).
            Defaults to 32.
        frame_threads: decode several frames at once on FFmpeg's threads
            (the fastest for one video at a time) if True; one thread if
            False, for several videos decoded side by side (on 2 cores,
            two single-threaded decoders give 3050 frames/s of Ped2,
            against 1980 for one frame-threaded decoder and 2730 for two).
            Defaults to True.
        expand: expand limited-range luma to 0..255 in NumPy while
            copying it (a table lookup, about 0.1 ms per Ped2 frame), so
            that no frame is left flagged. Defaults to False.

    Yields:
        tuple: uint8 `(frames, height, width, channels)` and bool
        `(frames,)`, True where a frame holds limited-range luma still to
        be expanded.

    Raises:
        VideoDecodeError: if the file is unreadable, changes frame size,
            or decodes to fewer frames than its container records
            (truncated).
    """
    av = _import_av()
    path = str(path)
    decoded = 0
    channels = 1 if grayscale else 3
    block = limited = None
    count = 0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            # "SLICE" is FFmpeg's default: one thread for most videos.
            stream.thread_type = "AUTO" if frame_threads else "SLICE"
            expected = stream.frames
            for frame in container.decode(stream):
                if block is None:
                    shape = (frame.height, frame.width, channels)
                    block = np.empty((block_frames, *shape), np.uint8)
                    limited = np.zeros(block_frames, bool)
                    count = 0
                if (frame.height, frame.width) != shape[:2]:
                    raise VideoDecodeError(
                        f"Video file {path!r} changes frame size at frame "
                        f"{decoded}: (height, width)="
                        f"{(frame.height, frame.width)} after "
                        f"{shape[:2]}. Re-encode it at one size."
                    )
                if not grayscale:
                    block[count] = frame.to_ndarray(format="rgb24")
                elif frame.format.name in _LUMA_FORMATS:
                    luma, flagged = _luma_plane(frame)
                    if flagged and expand:
                        # np.take is about twice as fast as fancy indexing.
                        np.take(
                            _LIMITED_TO_FULL, luma, out=block[count, ..., 0]
                        )
                    else:
                        block[count, :, :, 0] = luma
                        limited[count] = flagged
                else:
                    block[count, :, :, 0] = frame.to_ndarray(format="gray")
                count += 1
                decoded += 1
                if count == block_frames:
                    yield block, limited
                    block = None
    except av.error.FFmpegError as error:
        raise VideoDecodeError(
            f"Video file {path!r} is unreadable or truncated after "
            f"{decoded} frames: {error}"
        ) from error
    if expected > 0 and decoded < expected:
        raise VideoDecodeError(
            f"Video file {path!r} is truncated: its container records "
            f"{expected} frames but only {decoded} could be decoded."
        )
    if block is not None:
        yield block[:count], limited[:count]


def iterate_pyav_frames(path, grayscale=True):
    """Decode a video file frame by frame with PyAV.

    Grayscale frames are full-range grey (limited-range luma expanded as
    FFmpeg's own grey conversion does); see `iterate_pyav_blocks`.

    Args:
        path: a video file.
        grayscale: one channel if True, RGB otherwise. Defaults to True.

    Yields:
        np.ndarray: uint8 `(height, width, channels)` frames.

    Raises:
        VideoDecodeError: as `iterate_pyav_blocks`.
    """
    for block, _ in iterate_pyav_blocks(path, grayscale, expand=True):
        yield from block


def write_video(
    path,
    frames,
    fps=25,
    pix_fmt="yuv420p",
    codec_options=None,
    container_options=None,
):
    """Write uint8 frames as an H.264 video file with PyAV.

    For turning frame folders into video files, and for tests and
    benchmarks that need videos (a fresh machine has no `ffmpeg` command).

    Args:
        path: the video file to write; its folder is created.
        frames: an iterable of uint8 frames, grey `(height, width)` or
            `(height, width, 1)`, or RGB `(height, width, 3)`, all of the
            size of the first.
        fps: frames per second. Defaults to 25.
        pix_fmt: the encoded pixel format; `"yuvj420p"` keeps full-range
            luma. Defaults to `"yuv420p"`.
        codec_options: libx264 options such as `{"crf": "0"}` (lossless
            luma) or `{"preset": "ultrafast"}`. Defaults to None.
        container_options: muxer options such as `{"movflags":
            "faststart"}` (index first). Defaults to None.

    Returns:
        int: the number of frames written.

    Raises:
        BackendUnavailableError: if PyAV cannot be imported.
        ValueError: if `frames` is empty.
    """
    av = _import_av()
    path = pathlib.Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(
            f"Expected at least one frame to write to {str(path)!r}. "
            "Received: no frames."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), "w", options=container_options or {}) as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.height, stream.width = np.shape(first)[:2]
        stream.pix_fmt = pix_fmt
        stream.options = dict(codec_options or {})
        for frame in itertools.chain([first], frames):
            frame = np.asarray(frame, np.uint8)
            if frame.ndim == 3 and frame.shape[2] == 1:
                frame = frame[:, :, 0]
            picture = av.VideoFrame.from_ndarray(
                frame, format="gray" if frame.ndim == 2 else "rgb24"
            )
            output.mux(stream.encode(picture.reformat(format=pix_fmt)))
            count += 1
        output.mux(stream.encode())
    return count


def read_image_pil(path, grayscale=True):
    """Decode one image file with Pillow (any format it reads, incl. TIFF).

    Args:
        path: an image file.
        grayscale: one channel (PIL mode "L") if True, RGB otherwise.
            Defaults to True.

    Returns:
        np.ndarray: uint8 `(height, width, channels)`.

    Raises:
        VideoDecodeError: if the file is unreadable or truncated.
    """
    image_module = _import_pil()
    path = path.decode() if isinstance(path, bytes) else str(path)
    try:
        with image_module.open(path) as image:
            mode = "L" if grayscale else "RGB"
            if image.mode == mode:
                # No conversion: `convert` to the image's own mode copies
                # it, and NumPy's array of that copy cost 0.15-0.2 ms of
                # CPU per Ped2 frame (0.04-0.06 ms for the decoded image
                # itself).
                image.load()
            else:
                image = image.convert(mode)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        raise VideoDecodeError(
            f"Frame file {path!r} is unreadable or truncated: {error}"
        ) from error
    if grayscale:
        array = array[:, :, None]
    return array


def _looks_complete(contents, suffix):
    """In-graph check of an image file's start and end markers.

    Catches truncated JPEG and PNG files before `tf.io.decode_image`, whose
    own error does not name the file.
    """
    import tensorflow as tf

    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        head, tail = b"\xff\xd8", b"\xff\xd9"
    elif suffix == ".png":
        head, tail = b"\x89PNG", b"IEND\xae\x42\x60\x82"
    else:
        return None
    size = tf.strings.length(contents)
    starts = tf.strings.substr(contents, 0, len(head)) == head
    tail_at = tf.maximum(size - len(tail), 0)
    ends = tf.strings.substr(contents, tail_at, len(tail)) == tail
    return tf.logical_and(starts, ends)


def _tf_decode(contents, channels, suffix):
    """Decode one image with TensorFlow's own decoders."""
    import tensorflow as tf

    if suffix.lower() in (".jpg", ".jpeg"):
        # TensorFlow's default inverse DCT is the fast, inexact one: up to
        # 11 grey levels off on Ped2 frames. The accurate one matches
        # libjpeg's default (and PIL) exactly at the same speed.
        return tf.io.decode_jpeg(
            contents, channels=channels, dct_method="INTEGER_ACCURATE"
        )
    return tf.io.decode_image(
        contents, channels=channels, expand_animations=False
    )


def decode_frame_file(path, grayscale, height, width, suffix):
    """Decode one frame file with TensorFlow's decoders, checking its size.

    A frame whose size is not `(height, width)`, or a truncated JPEG/PNG,
    fails with an error that names the file. `path`, `height` and `width`
    may be tensors, so that one traced function serves every video.
    (Pillow decodes blocks of frames instead: `decode_pil_block`.)

    Args:
        path: the frame file (a string or a scalar string tensor).
        grayscale: one channel if True, three otherwise.
        height: the height the frame must have.
        width: the width the frame must have.
        suffix: extension of the frames (for the truncation check).

    Returns:
        uint8 tensor `(height, width, channels)`.
    """
    import tensorflow as tf

    channels = 1 if grayscale else 3
    contents = tf.io.read_file(path)
    complete = _looks_complete(contents, suffix)
    assertions = []
    if complete is not None:
        assertions.append(
            tf.debugging.Assert(
                complete,
                ["Frame file is unreadable or truncated:", path],
            )
        )
    # TODO: a file with intact start and end markers but corrupt data
    # fails inside TensorFlow's decoder, whose message does not name the
    # file (read_video finds and names it). Naming it here would need a
    # decode that reports errors as values, which TensorFlow's image ops
    # do not offer.
    with tf.control_dependencies(assertions):
        image = _tf_decode(contents, channels, suffix)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
    check = tf.debugging.Assert(
        same,
        [
            "Frames of differing sizes in one video. Expected "
            "(height, width) of the first frame:",
            height,
            width,
            "Received:",
            shape[0],
            shape[1],
            "in file",
            path,
        ],
    )
    with tf.control_dependencies([check]):
        image = tf.identity(image)
    return tf.ensure_shape(image, (None, None, channels))


def _decode_pil_frames(names, heights, widths, grayscale):
    """`decode_pil_block`'s Python side: one block of frames as an array."""
    block = None
    for index, name in enumerate(names):
        # Looked up at call time, so a test can count the decodes.
        frame = read_image_pil(name, grayscale)
        expected = (int(heights[index]), int(widths[index]))
        if frame.shape[:2] != expected:
            raise ValueError(
                "Frames of differing sizes in one video. Expected "
                f"(height, width)={expected} like its first frame. "
                f"Received: (height, width)={frame.shape[:2]} in file "
                f"{name.decode()!r}"
            )
        if block is None:
            block = np.empty((len(names), *frame.shape), np.uint8)
        block[index] = frame
    return block


def decode_pil_block(paths, grayscale, heights, widths):
    """Decode a block of frame files with Pillow in one Python call.

    One call per block rather than per frame keeps TensorFlow's hand-over
    to Python off the per-frame cost: 0.76 against 1.17 ms of CPU per
    Ped2 frame on 2 cores, blocks of 32 decoded in a parallel map. Each
    frame must have its `heights`/`widths` entry as size; one of another
    size, or an unreadable one, fails with an error that names the file.

    Args:
        paths: 1-D string tensor of frame files.
        grayscale: one channel if True, three otherwise.
        heights: 1-D, the height each frame must have.
        widths: 1-D, the width each frame must have.

    Returns:
        uint8 tensor `(frames, height, width, channels)`.
    """
    import tensorflow as tf

    # A module function, not a nested one: AutoGraph converts the nested
    # functions of the tf.data functions that call decode_pil_block, and
    # its converted loop, run by numpy_function, held the GIL long enough
    # to cost 0.25 ms of CPU per Ped2 frame on 2 cores (1450 against 2220
    # frames/s for the blocks alone).
    decode = functools.partial(_decode_pil_frames, grayscale=grayscale)
    block = tf.numpy_function(
        decode, [paths, heights, widths], tf.uint8, stateful=False
    )
    return tf.ensure_shape(block, (None, None, None, 1 if grayscale else 3))


def frame_file_blocks(frames, backend, grayscale, suffix, block_frames):
    """Decode frame files inside tf.data into blocks of consecutive frames.

    TensorFlow's decoders run one file per call of a parallel map and the
    frames are batched; Pillow decodes a batch of files per Python call
    (`decode_pil_block`). Every frame is checked as those functions do.

    Args:
        frames: a tf.data dataset of `(file, height, width, *more)` per
            frame, in frame order: the file, the size it must have, and
            any values to carry along.
        backend: `"tf"` or `"pil"`.
        grayscale: one channel if True, three otherwise.
        suffix: extension of the frames (for the truncation check).
        block_frames: frames per block (the last block may be smaller).

    Returns:
        tf.data.Dataset: uint8 blocks `(frames, height, width, channels)`,
        or `(block, *more)` with the carried values batched alike.
    """
    import tensorflow as tf

    def load(file, height, width, *more):
        image = decode_frame_file(file, grayscale, height, width, suffix)
        return (image, *more) if more else image

    def load_block(files, heights, widths, *more):
        block = decode_pil_block(files, grayscale, heights, widths)
        return (block, *more) if more else block

    if backend == "tf":
        return tfdata.inline_map(
            frames, load, num_parallel_calls=tf.data.AUTOTUNE
        ).batch(block_frames)
    return tfdata.inline_map(
        frames.batch(block_frames), load_block, tf.data.AUTOTUNE
    )


def pyav_block_dataset(
    paths, grayscale, block_frames, first_video=0, frame_threads=True
):
    """Decode video files with PyAV into blocks of consecutive frames.

    One Python call per block rather than per frame keeps the hand-over
    from Python to TensorFlow off the per-frame cost. A block never holds
    frames of two videos.

    Args:
        paths: a video file, or a list of them decoded one after another
            (strings, or a string tensor of rank 0 or 1).
        grayscale: one channel if True, RGB otherwise.
        block_frames: frames per block (the last block of a video may be
            smaller).
        first_video: the video number of the first path. Defaults to 0.
        frame_threads: see `iterate_pyav_blocks`. Defaults to True.

    Returns:
        tf.data.Dataset: tuples `(frames, videos, positions, limited)`:
        uint8 `(block, height, width, channels)`; int32 `(block,)` video
        numbers (from `first_video`, one per path) and frame positions
        within their video; bool `(block,)`, True for frames of
        limited-range luma still to be expanded (see
        `iterate_pyav_blocks`).
    """
    import tensorflow as tf

    _import_av()
    channels = 1 if grayscale else 3

    def generate(names, first):
        if np.ndim(names) == 0:
            names = [names]
        for number, name in enumerate(names, start=int(first)):
            name = name.decode() if isinstance(name, bytes) else str(name)
            position = 0
            # Looked up at call time, so a test can count the decodes.
            for block, limited in iterate_pyav_blocks(
                name, grayscale, block_frames, frame_threads
            ):
                count = len(block)
                yield (
                    block,
                    np.full(count, number, np.int32),
                    np.arange(position, position + count, dtype=np.int32),
                    limited,
                )
                position += count

    if not isinstance(paths, tf.Tensor):
        paths = (
            [str(path) for path in paths]
            if isinstance(paths, (list, tuple))
            else str(paths)
        )
    return tf.data.Dataset.from_generator(
        generate,
        args=(paths, first_video),
        output_signature=(
            tf.TensorSpec((None, None, None, channels), tf.uint8),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((None,), tf.bool),
        ),
    )


def decode_one_frame(path, backend, grayscale):
    """Decode one frame file eagerly, naming the file if it fails.

    Args:
        path: an image file.
        backend: `"tf"` or `"pil"`.
        grayscale: one channel if True, three otherwise.

    Returns:
        np.ndarray: uint8 `(height, width, channels)`.

    Raises:
        VideoDecodeError: if the file is unreadable or truncated.
    """
    import tensorflow as tf

    if backend == "pil":
        return read_image_pil(path, grayscale)
    contents = tf.io.read_file(str(path))
    complete = _looks_complete(contents, pathlib.Path(path).suffix)
    if complete is not None and not bool(complete):
        raise VideoDecodeError(
            f"Frame file {str(path)!r} is unreadable or truncated: its "
            f"start or end marker is missing."
        )
    try:
        image = _tf_decode(
            contents, 1 if grayscale else 3, pathlib.Path(path).suffix
        )
    except tf.errors.InvalidArgumentError as error:
        raise VideoDecodeError(
            f"Frame file {str(path)!r} is unreadable or truncated: "
            f"{error.message}"
        ) from error
    return image.numpy()
