"""backend="tfio" where tensorflow-io cannot run: the reason names the fix.

These run in every environment: each requirement is made to fail with
monkeypatch, so no tensorflow-io is needed.
"""

import importlib.util

import numpy as np
import pytest

from keras_constrict.data import tfio_backend

HINT = (
    "tensorflow-io 0.37.1 (its last release) needs TensorFlow 2.16 or "
    "2.17, numpy < 2 and FFmpeg 4 shared libraries; keep it in a separate "
    "environment, e.g. the one `make test-tfio` builds in .venv-tfio (see "
    "docs/tfio.md), or use backend='pyav'."
)


def _find_spec_with(tensorflow_io_installed):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "tensorflow_io":
            if not tensorflow_io_installed:
                return None
            return object()
        return real_find_spec(name, *args, **kwargs)

    return find_spec


def test_reason_when_tensorflow_io_is_missing(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with(False))
    assert tfio_backend.tfio_unavailable_reason() == (
        "backend='tfio' needs tensorflow-io, which is not installed. " + HINT
    )


def test_reason_when_tensorflow_is_too_new(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with(True))
    monkeypatch.setattr(tfio_backend, "TENSORFLOW_VERSIONS", ("2.16",))
    if tf.__version__.startswith("2.16."):
        monkeypatch.setattr(tfio_backend, "TENSORFLOW_VERSIONS", ("2.17",))
    assert tfio_backend.tfio_unavailable_reason() == (
        f"backend='tfio' needs TensorFlow 2.16 or 2.17: tensorflow-io 0.37.1's "
        f"native ops do not load on other versions. Received: "
        f"tensorflow=={tf.__version__}. " + HINT
    )


def test_reason_when_numpy_is_2(monkeypatch):
    import tensorflow as tf

    current = ".".join(tf.__version__.split(".")[:2])
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with(True))
    monkeypatch.setattr(tfio_backend, "TENSORFLOW_VERSIONS", (current,))
    monkeypatch.setattr(np, "__version__", "2.1.3")
    assert tfio_backend.tfio_unavailable_reason() == (
        "backend='tfio' needs numpy < 2 (TensorFlow 2.16 and 2.17 are built "
        "against numpy 1). Received: numpy==2.1.3. " + HINT
    )


def test_read_video_and_video_clips_raise_the_reason(monkeypatch, tmp_path):
    pytest.importorskip("av", reason="writes a video with PyAV")
    from keras_constrict.data import BackendUnavailableError
    from keras_constrict.data import read_video
    from keras_constrict.data import video_clips
    from keras_constrict.data import write_video

    path = tmp_path / "one.mp4"
    write_video(path, [np.zeros((32, 32, 3), np.uint8)])
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_with(False))
    reason = "backend='tfio' needs tensorflow-io, which is not installed. "
    with pytest.raises(BackendUnavailableError, match=reason):
        read_video(path, backend="tfio")
    with pytest.raises(BackendUnavailableError, match=reason):
        video_clips([path], backend="tfio")
    with pytest.raises(BackendUnavailableError, match=reason):
        tfio_backend.tfio_read_video(path)


@pytest.mark.parametrize(
    "width, safe",
    [
        (320, True),
        (352, True),
        (368, True),
        (640, True),
        (1024, True),
        (360, False),
        (856, False),
        (238, False),
        (178, False),
        (239, False),
    ],
)
def test_width_rule(width, safe):
    # Measured: widths that are a multiple of 16 decode exactly at every
    # height tried; others give wrong pixels or abort, 238 (16 * 15 - 2)
    # at some heights only (scripts/tfio_width_sweep.py, docs/tfio.md).
    assert tfio_backend.tfio_width_is_safe(width) is safe
