"""make_synthetic_dataset: layout, labels, determinism, difficulty."""

import hashlib
import json
import re

import numpy as np
import pytest
from PIL import Image

from keras_constrict.data import AnomalyVideoDataset
from keras_constrict.data import make_synthetic_dataset


def digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(str(path.relative_to(root)).encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "s")


def test_layout_and_labels(synthetic_root):
    dataset = AnomalyVideoDataset(synthetic_root, size=None)
    assert dataset.layout == "frames"
    assert [v.name for v in dataset.training_videos] == ["01", "02", "03", "04"]
    assert [v.num_frames for v in dataset.testing_videos] == [64] * 6
    manifest = json.loads((synthetic_root / "synthetic.json").read_text())
    kinds = [
        manifest["videos"]["testing"][v.name]["anomaly"]
        for v in (dataset.testing_videos)
    ]
    assert kinds == ["fast", "large", "wrong_direction"] * 2
    for video in dataset.testing_videos:
        # Each test video has normal frames before its event, then some
        # anomalous ones.
        assert video.labels[0] == 0
        assert 5 <= video.labels.sum() < video.num_frames
        assert manifest["videos"]["testing"][video.name][
            "anomalous_frames"
        ] == int(video.labels.sum())
        # Labels are one contiguous event.
        assert np.count_nonzero(np.diff(video.labels)) <= 2
    first = synthetic_root / "training" / "frames" / "01" / "000.jpg"
    with Image.open(first) as image:
        assert image.mode == "L"
        assert image.size == (64, 64)
    labels = np.load(synthetic_root / "testing" / "labels" / "01.npy")
    assert labels.dtype == np.uint8


def test_same_seed_same_files_other_seed_other_files(tmp_path, synthetic_root):
    again = make_synthetic_dataset(tmp_path / "again", seed=0)
    assert digest(again) == digest(synthetic_root)
    other = make_synthetic_dataset(tmp_path / "other", seed=1)
    assert digest(other) != digest(synthetic_root)


def test_reuse_rewrite_and_foreign_folder(tmp_path):
    root = tmp_path / "set"
    make_synthetic_dataset(root, num_frames=20, num_training_videos=1)
    first = (root / "training" / "frames" / "01" / "000.jpg").stat()
    make_synthetic_dataset(root, num_frames=20, num_training_videos=1)
    again = (root / "training" / "frames" / "01" / "000.jpg").stat()
    assert again.st_mtime_ns == first.st_mtime_ns
    make_synthetic_dataset(
        root, num_frames=24, num_training_videos=1, frame_size=(32, 48)
    )
    dataset = AnomalyVideoDataset(root, size=None)
    assert [v.num_frames for v in dataset.training_videos] == [24]
    assert dataset.frames(dataset.training_videos[0]).shape == (24, 32, 48, 1)

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(
        FileExistsError,
        match=re.escape(
            f"make_synthetic_dataset writes into an empty folder or one it "
            f"filled before (with synthetic.json). Received: "
            f"root={str(foreign)!r}, which holds other files"
        ),
    ):
        make_synthetic_dataset(foreign)


def test_bad_arguments(tmp_path):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Unknown anomaly kind. Expected kinds from ('fast', 'large', "
            "'wrong_direction'). Received: anomaly_kinds=('slow',)"
        ),
    ):
        make_synthetic_dataset(tmp_path, anomaly_kinds=("slow",))
    with pytest.raises(ValueError, match=re.escape("frame_size=(8, 8)")):
        make_synthetic_dataset(tmp_path, frame_size=(8, 8))


def test_anomalies_are_visible_but_not_trivial(synthetic_root):
    """A simple motion detector separates some, not all, anomalous frames.

    Score = mean absolute difference to the previous frame (motion energy,
    higher = more anomalous). Fast objects and carts move more pixels, so
    the score is informative; sideways walkers move like walkers, so it is
    not perfect.
    """
    from sklearn.metrics import roc_auc_score

    dataset = AnomalyVideoDataset(synthetic_root, size=None)
    scores, labels = [], []
    for video in dataset.testing_videos:
        frames = dataset.frames(video)[..., 0]
        motion = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
        scores.append(np.concatenate([[motion[0]], motion]))
        labels.append(video.labels)
    auc = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    assert 0.55 < auc < 0.9
