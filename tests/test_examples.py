"""The scripts in examples/ run end to end on tiny settings."""

import importlib.util
import pathlib

import keras
import numpy as np

import keras_constrict

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tiny(name, out):
    """Run an example's main() on tiny data: 32 x 32 frames, one epoch."""
    tiny = ["--size", "32", "--clip-length", "8", "--epochs", "1"]
    return load(name).main(["--out", str(out), *tiny])


def test_constrict_your_model(tmp_path):
    history = run_tiny("constrict_your_model", tmp_path)
    auc = history.history["val_auc"][0]
    assert 0.0 <= auc <= 1.0
    saved = keras.saving.load_model(tmp_path / "constricted.keras")
    encoder_layers = saved.get_layer("encoder").layers
    assert any(
        isinstance(layer, keras_constrict.SurfaceConstriction)
        for layer in encoder_layers
    )
    assert list((tmp_path / "validation").glob("events.out.*"))


def test_train_on_your_videos(tmp_path):
    result = run_tiny("train_on_your_videos", tmp_path)
    assert 0.0 <= result.micro_auc <= 1.0
    # The MP4s it wrote hold the synthetic frames, one file per video.
    videos = sorted((tmp_path / "my_videos" / "testing").glob("*.mp4"))
    labels = sorted((tmp_path / "my_videos" / "testing" / "labels").iterdir())
    assert len(videos) == len(labels) == len(result.scores)
    for video, label in zip(videos, labels, strict=True):
        assert len(np.load(label)) == len(result.scores[video.stem])
