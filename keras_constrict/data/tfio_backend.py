"""Decode video files with tensorflow-io, in a child process.

This is the `backend="tfio"` of `read_video` and `video_clips`. It decodes
with `tfio.IODataset.from_ffmpeg` (the faster of tensorflow-io's two video
paths) inside a TensorFlow graph. `backend="auto"` never picks it.

tensorflow-io 0.37.1 is its last release. It loads only with TensorFlow
2.16 or 2.17 and numpy < 2, decodes video only with FFmpeg 4.2, 3.4 or 2.8
shared libraries (`libavformat.so.58` and friends for 4.x). Even then it
decodes correctly only frames whose width is a multiple of 16 (measured
for every even width from 16 to 1024, at several heights): at other
widths it writes past the end of its frame buffer, which either returns
wrong pixels without any error (`width % 16` of 2, 4 or 6) or corrupts
the heap and aborts the whole process it runs in (8, 10 or 12, e.g. Ped2's
360 and ShanghaiTech's 856; 14 only at some heights, e.g. 238 x 180 but
not 238 x 240, depending on the allocator's slack). Two protections
follow:

- The width is checked before any frame is decoded: other widths raise
  `TfioUnsafeWidthError`. This is what prevents wrong frames, which no
  process boundary can catch.
- Decoding always runs in a child Python process (started on first use
  and reused), never in the caller's, because the width rule is an
  observation on H.264 yuv420p videos with one FFmpeg 4.3 build, not a
  guarantee. If the decoder dies anyway, the caller gets a
  `TfioDecoderCrashError` that names the video, its frame width and the
  decoder's last message, and the next call starts a fresh child.

Frames are RGB as FFmpeg's swscale converts them (equal to PyAV's
`to_ndarray(format="rgb24")`). Grayscale is computed from them with the
ITU-R BT.601 weights in integer arithmetic,
`(299 R + 587 G + 114 B + 500) // 1000`, inside the child's graph.

The FFmpeg 4 libraries must be on the dynamic loader's path of the
process that starts Python (set `LD_LIBRARY_PATH` before `python`, not
from inside it); the child inherits it. `scripts/tfio_lane.sh` builds such
an environment without installing anything system-wide.
"""

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import pathlib
import queue
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading

import numpy as np

from keras_constrict.data import backends
from keras_constrict.data.backends import BackendUnavailableError
from keras_constrict.data.backends import VideoDecodeError

logger = logging.getLogger(__name__)

# `width % WIDTH_MODULUS` values that tensorflow-io 0.37.1 (TensorFlow 2.17,
# Debian 11's FFmpeg 4.3) decodes exactly at every height tried; measured
# by scripts/tfio_width_sweep.py (see docs/tfio.md).
WIDTH_MODULUS = 16
SAFE_WIDTH_REMAINDERS = (0,)
TENSORFLOW_VERSIONS = ("2.16", "2.17")
FFMPEG4_LIBRARIES = (
    "libavformat.so.58",
    "libavcodec.so.58",
    "libavutil.so.56",
    "libswscale.so.5",
)

_SETUP_HINT = (
    "tensorflow-io 0.37.1 (its last release) needs TensorFlow 2.16 or "
    "2.17, numpy < 2 and FFmpeg 4 shared libraries; keep it in a separate "
    "environment, e.g. the one `make test-tfio` builds in .venv-tfio (see "
    "docs/tfio.md), or use backend='pyav'."
)
_FRAMES_PER_MESSAGE = 32
_MAX_IDLE_DECODERS = 4
_HEADER = struct.Struct("<I")

_lock = threading.Lock()
_idle_decoders = []
_unavailable_reason = None
_checked_child = False


class TfioDecoderCrashError(VideoDecodeError):
    """tensorflow-io's decoder process died while decoding a video."""


class TfioUnsafeWidthError(VideoDecodeError):
    """A video's frame width is one tensorflow-io is known to mishandle."""


def tfio_unavailable_reason():
    """Why the tensorflow-io backend cannot decode here, or None.

    Checks, in order: tensorflow-io is installed, TensorFlow is 2.16 or
    2.17, numpy is below 2, and a child process can load tensorflow-io's
    FFmpeg video ops (which needs the FFmpeg 4 libraries). The last check
    starts the decoder process that later calls reuse, once per process.

    Returns:
        str | None: None when usable; otherwise which requirement is
            missing, the version received and how to fix it.

    Example:

    >>> reason = tfio_unavailable_reason()
    >>> backend = "tfio" if reason is None else "pyav"
    """
    global _unavailable_reason, _checked_child
    if importlib.util.find_spec("tensorflow_io") is None:
        return (
            f"backend='tfio' needs tensorflow-io, which is not installed. "
            f"{_SETUP_HINT}"
        )
    import tensorflow as tf

    tensorflow_version = ".".join(tf.__version__.split(".")[:2])
    if tensorflow_version not in TENSORFLOW_VERSIONS:
        return (
            f"backend='tfio' needs TensorFlow 2.16 or 2.17: tensorflow-io "
            f"0.37.1's native ops do not load on other versions. Received: "
            f"tensorflow=={tf.__version__}. {_SETUP_HINT}"
        )
    if int(np.__version__.split(".")[0]) >= 2:
        return (
            f"backend='tfio' needs numpy < 2 (TensorFlow 2.16 and 2.17 are "
            f"built against numpy 1). Received: numpy=={np.__version__}. "
            f"{_SETUP_HINT}"
        )
    with _lock:
        if not _checked_child:
            try:
                decoder = _DecoderProcess()
            except _Unavailable as error:
                _unavailable_reason = str(error)
            else:
                _idle_decoders.append(decoder)
            _checked_child = True
        return _unavailable_reason


def tfio_read_video(path, grayscale=True):
    """Decode every frame of a video file with tensorflow-io.

    Decoding runs in a child process (see the module docstring): a crash
    of tensorflow-io raises `TfioDecoderCrashError` here instead of ending
    the caller's process.

    Args:
        path: a video file (`str` or `os.PathLike`).
        grayscale: one channel (BT.601 luma of the RGB frames) if True,
            RGB otherwise. Defaults to True.

    Returns:
        np.ndarray: uint8 `(frames, height, width, channels)`.

    Raises:
        BackendUnavailableError: if tensorflow-io cannot decode here.
        TfioUnsafeWidthError: if tensorflow-io mishandles the frame
            width (see `tfio_width_is_safe`).
        TfioDecoderCrashError: if the decoder process died.
        VideoDecodeError: if tensorflow-io cannot read the file.

    Example:

    >>> frames = tfio_read_video("videos/testing/01.mp4")
    >>> frames.shape  # (frames, height, width, 1)
    """
    chunks = list(_decode(path, grayscale))
    return np.concatenate(chunks, axis=0)


def tfio_frame_dataset(path, grayscale=True):
    """Stream the frames of a video file, decoded by tensorflow-io.

    The child process decodes inside its own tf.data graph and sends the
    frames in batches of 32; this dataset yields them one by one, holding
    about a batch at a time. Each iteration decodes the file again.

    For a path given as `str` or `os.PathLike`, the video is probed first:
    the dataset has a static frame shape, and a width tensorflow-io
    mishandles raises here. A scalar string tensor (a path picked inside
    tf.data) is checked when it is decoded instead, and the error then
    reaches the caller wrapped in a `tf.errors.InvalidArgumentError`.

    Args:
        path: a video file (`str`, `os.PathLike` or a scalar string
            tensor).
        grayscale: one channel (BT.601 luma of the RGB frames) if True,
            RGB otherwise. Defaults to True.

    Returns:
        tf.data.Dataset: uint8 frames `(height, width, channels)`.

    Raises:
        BackendUnavailableError: if tensorflow-io cannot decode here.
        TfioUnsafeWidthError: if tensorflow-io mishandles the frame
            width (see `tfio_width_is_safe`).
        TfioDecoderCrashError: while iterating, if the decoder died.
        VideoDecodeError: if tensorflow-io cannot read the file.

    Example:

    >>> dataset = tfio_frame_dataset("videos/testing/01.mp4")
    >>> first = next(iter(dataset))  # uint8 (height, width, 1)
    """
    import tensorflow as tf

    backends.require("tfio")
    channels = 1 if grayscale else 3
    height = width = None
    if not isinstance(path, tf.Tensor):
        path = os.fspath(path)
        height, width = _probe(path)
        if not tfio_width_is_safe(width):
            raise TfioUnsafeWidthError(
                _unsafe_width_message(path, (height, width))
            )

    def generate(name):
        name = name.decode() if isinstance(name, bytes) else name
        yield from _read_ahead(_decode(name, grayscale))

    # Whole batches cross into tf.data (one Python call per 32 frames, not
    # per frame); `unbatch` splits them natively.
    batches = tf.data.Dataset.from_generator(
        generate,
        args=(path,),
        output_signature=tf.TensorSpec(
            (None, height, width, channels), tf.uint8
        ),
    )
    return batches.unbatch()


def tfio_width_is_safe(width):
    """Whether tensorflow-io decodes frames of this width correctly.

    True for widths that are a multiple of 16 (e.g. 320, 352, 368, 640);
    False for e.g. 360 (Ped2), 856 (ShanghaiTech) and 238. Measured with
    tensorflow-io 0.37.1, TensorFlow 2.17 and FFmpeg 4.3.

    Args:
        width: frame width in pixels.

    Returns:
        bool: True when `width % WIDTH_MODULUS` is in
        `SAFE_WIDTH_REMAINDERS` (that is, a multiple of 16).

    Example:

    >>> tfio_width_is_safe(352), tfio_width_is_safe(360)
    (True, False)
    """
    return int(width) % WIDTH_MODULUS in SAFE_WIDTH_REMAINDERS


def _unsafe_width_message(path, shape):
    width = shape[1]
    return (
        f"Refusing to decode {path!r} with backend='tfio': its frames are "
        f"{width} pixels wide. tensorflow-io 0.37.1 with FFmpeg 4 decodes "
        f"correctly only widths that are a multiple of 16; at other widths "
        f"it writes past its frame buffer, which returns wrong pixels or "
        f"corrupts its heap and aborts. Decode this video with "
        f"backend='pyav', or re-encode it to such a width. Received: "
        f"width={width}"
    )


def _check_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Video file not found. Expected an existing video file. "
            f"Received: path={path!r}"
        )


def _probe(path):
    """`(height, width)` of a video's frames, as tensorflow-io reads them."""
    _check_file(path)
    decoder = _acquire()
    with _returned_after_answer(decoder):
        return decoder.probe(path)


def _decode(path, grayscale):
    """Yield uint8 frame batches of `path` from a decoder process."""
    backends.require("tfio")
    path = os.fspath(path)
    _check_file(path)
    decoder = _acquire()
    with _returned_after_answer(decoder):
        yield from decoder.decode(path, bool(grayscale))


def _read_ahead(batches, depth=4):
    """Iterate `batches` in a thread, up to `depth` items ahead.

    The decoder process then keeps decoding while tf.data consumes the
    previous batch, instead of waiting for it.
    """
    pending = queue.Queue(maxsize=depth)
    stop = threading.Event()
    finished = object()

    def put(item):
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for batch in batches:
                if not put((batch, None)):
                    break
            else:
                put((finished, None))
        except BaseException as error:  # noqa: BLE001 - re-raised below.
            put((finished, error))
        finally:
            batches.close()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, error = pending.get()
            if item is finished:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def _returned_after_answer(decoder):
    """Reuse `decoder` only if it answered the request to its end."""
    try:
        yield
    except TfioDecoderCrashError:
        decoder.close(kill=True)
        raise
    except VideoDecodeError:
        # The child reported the problem and waits for the next request.
        _release(decoder)
        raise
    except BaseException:
        # Left mid-video (the consumer stopped early) or interrupted: the
        # child may be blocked writing frames nobody reads.
        decoder.close(kill=True)
        raise
    _release(decoder)


def _acquire():
    with _lock:
        while _idle_decoders:
            decoder = _idle_decoders.pop()
            if decoder.alive():
                return decoder
            decoder.close()
    try:
        return _DecoderProcess()
    except _Unavailable as error:
        raise BackendUnavailableError(str(error)) from None


def _release(decoder):
    with _lock:
        if decoder.alive() and len(_idle_decoders) < _MAX_IDLE_DECODERS:
            _idle_decoders.append(decoder)
            return
    decoder.close()


@atexit.register
def _close_idle_decoders():
    with _lock:
        decoders = list(_idle_decoders)
        _idle_decoders.clear()
    for decoder in decoders:
        decoder.close()


class _Unavailable(Exception):
    """The decoder process could not load tensorflow-io's FFmpeg ops."""


class _DecoderProcess:
    """A child Python that decodes with tensorflow-io on request.

    Requests are JSON lines on its stdin; replies are length-prefixed JSON
    headers on its stdout, each `frames` header followed by the raw uint8
    frames. Its stderr goes to a temporary file, read when it dies.
    """

    def __init__(self):
        self._stderr = tempfile.TemporaryFile()
        package_root = str(pathlib.Path(__file__).resolve().parents[2])
        command = (
            f"import sys; sys.path.insert(0, {package_root!r}); "
            f"from keras_constrict.data.tfio_backend import _serve; _serve()"
        )
        environment = dict(os.environ)
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self._process = subprocess.Popen(
            [sys.executable, "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=environment,
        )
        hello = self._receive()
        if hello is None or hello["kind"] != "ready":
            if hello is None:
                detail = f"it exited ({self._exit_description()})"
            else:
                detail = hello["error"]
            self.close()
            raise _Unavailable(
                f"backend='tfio' cannot load tensorflow-io's FFmpeg video "
                f"ops: {detail}. They need FFmpeg 4.2, 3.4 or 2.8 shared "
                f"libraries ({', '.join(FFMPEG4_LIBRARIES)} for 4.x) on the "
                f"library path when Python starts; Debian 12 and newer ship "
                f"FFmpeg 5 or later. Unpack FFmpeg 4 into a private folder "
                f"and start Python with LD_LIBRARY_PATH naming it, as "
                f"scripts/tfio_lane.sh does. {_SETUP_HINT}"
            )
        logger.debug("tensorflow-io decoder process ready: %s", hello)

    def alive(self):
        return self._process.poll() is None

    def close(self, kill=False):
        """End the child: by closing its input, or at once if `kill`."""
        if self.alive():
            try:
                if kill:
                    raise OSError("killed")
                self._process.stdin.close()
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._stderr.close()

    def probe(self, path):
        """`(height, width)` of the frames, read without decoding any."""
        replies = self._messages(path, grayscale=False, probe=True)
        return [shape for shape, _ in replies][-1]

    def decode(self, path, grayscale):
        """Yield uint8 frame batches `(n, height, width, channels)`."""
        for _, batch in self._messages(path, grayscale, probe=False):
            if batch is not None:
                yield batch

    def _messages(self, path, grayscale, probe):
        """Send one request; yield `(shape, frames or None)` per reply."""
        stderr_start = self._stderr.seek(0, os.SEEK_END)
        request = {
            "path": path,
            "grayscale": grayscale,
            "probe": probe,
            "width_modulus": WIDTH_MODULUS,
            "safe_width_remainders": list(SAFE_WIDTH_REMAINDERS),
        }
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
        except OSError:
            pass  # It died; `_receive` reports how.
        shape = None
        while True:
            message = self._receive()
            if message is None:
                raise self._crash_error(path, shape, stderr_start)
            kind = message["kind"]
            if kind == "spec":
                shape = (message["height"], message["width"])
                channels = message["channels"]
                yield shape, None
            elif kind == "frames":
                count = message["count"]
                size = count * shape[0] * shape[1] * channels
                data = self._process.stdout.read(size)
                if len(data) != size:
                    raise self._crash_error(path, shape, stderr_start)
                yield (
                    shape,
                    np.frombuffer(data, np.uint8).reshape(
                        (count, *shape, channels)
                    ),
                )
            elif kind == "unsafe_width":
                raise TfioUnsafeWidthError(_unsafe_width_message(path, shape))
            elif kind == "error":
                raise VideoDecodeError(
                    f"tensorflow-io cannot decode video file {path!r}: "
                    f"{message['error']}"
                )
            elif kind == "end":
                if probe:
                    return
                if shape is None or message["frames"] == 0:
                    raise VideoDecodeError(
                        f"tensorflow-io decoded no frames from video file "
                        f"{path!r}. Expected a file with a video stream."
                    )
                return
            else:
                raise RuntimeError(f"Unknown decoder message: {message}")

    def _receive(self):
        header = self._process.stdout.read(_HEADER.size)
        if len(header) != _HEADER.size:
            return None
        (length,) = _HEADER.unpack(header)
        body = self._process.stdout.read(length)
        if len(body) != length:
            return None
        return json.loads(body)

    def _exit_description(self):
        code = self._process.wait()
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def _last_stderr_line(self, start):
        self._stderr.seek(start)
        lines = self._stderr.read().decode(errors="replace").splitlines()
        lines = [line.strip() for line in lines if line.strip()]
        return lines[-1] if lines else "(none)"

    def _crash_error(self, path, shape, stderr_start):
        exit_description = self._exit_description()
        width = "unknown width" if shape is None else f"width {shape[1]}"
        return TfioDecoderCrashError(
            f"tensorflow-io's decoder process died ({exit_description}) "
            f"while decoding {path!r} (frames of {width}). tensorflow-io "
            f"0.37.1 with FFmpeg 4 corrupts its heap at some frame widths "
            f"(360 and 856 seen); decoding runs in a child process, so only "
            f"that process ended. Decode "
            f"this video with backend='pyav'. Last decoder message: "
            f"{self._last_stderr_line(stderr_start)!r}"
        )


def _serve():
    """Body of the decoder process: answer requests until stdin closes."""
    # The protocol gets the real stdout; anything a library prints to
    # file descriptor 1 goes to stderr instead of corrupting it.
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)

    def send(message, payload=b""):
        body = json.dumps(message).encode()
        protocol.write(_HEADER.pack(len(body)) + body)
        if payload:
            protocol.write(payload)
        protocol.flush()

    try:
        import tensorflow as tf
        import tensorflow_io as tfio

        # Importing this module loads the FFmpeg ops (it is what
        # `IODataset.from_ffmpeg` imports), so a missing FFmpeg fails here
        # rather than at the first video.
        from tensorflow_io.python.ops import ffmpeg_ops  # noqa: F401
    except Exception as error:  # noqa: BLE001 - reported to the parent.
        send({"kind": "unavailable", "error": _describe_load_error(error)})
        return
    send(
        {
            "kind": "ready",
            "tensorflow": tf.__version__,
            "tensorflow_io": tfio.__version__,
        }
    )

    def to_gray(frame):
        rgb = tf.cast(frame, tf.int32)
        weighted = rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114
        return tf.cast((weighted + 500) // 1000, tf.uint8)[..., None]

    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            dataset = tfio.IODataset.from_ffmpeg(request["path"], "v:0")
            height, width, channels = dataset.element_spec.shape.as_list()
            channels = 1 if request["grayscale"] else channels
            send(
                {
                    "kind": "spec",
                    "height": height,
                    "width": width,
                    "channels": channels,
                }
            )
            if request["probe"]:
                send({"kind": "end", "frames": 0})
                continue
            remainder = width % request["width_modulus"]
            if remainder not in request["safe_width_remainders"]:
                send({"kind": "unsafe_width"})
                continue
            if request["grayscale"]:
                dataset = dataset.map(to_gray)
            total = 0
            for batch in dataset.batch(_FRAMES_PER_MESSAGE):
                batch = batch.numpy()
                total += len(batch)
                send({"kind": "frames", "count": len(batch)}, batch.data)
        except Exception as error:  # noqa: BLE001 - reported to the parent.
            message = getattr(error, "message", None) or str(error)
            # Drop TensorFlow's "{{function_node ...}}" and "[Op:...]" noise.
            message = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]", "", message)
            send({"kind": "error", "error": message.strip()})
            continue
        send({"kind": "end", "frames": total})


def _describe_load_error(error):
    """Which FFmpeg 4 library (or dependency of one) failed to load."""
    import ctypes

    for library in FFMPEG4_LIBRARIES:
        try:
            ctypes.CDLL(library)
        except OSError as load_error:
            return f"{library} could not be loaded ({load_error})"
    return f"{type(error).__name__}: {error}"
