"""Exact counts and values on the real UCSD Ped2 set (../shared/data/ped2)."""

import json

import av
import numpy as np
import pytest
from PIL import Image

from keras_constrict.data import AnomalyVideoDataset
from keras_constrict.data import read_video
from keras_constrict.data import video_clips

pytestmark = pytest.mark.ped2

TEST_FRAMES = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
TEST_ANOMALOUS = [120, 86, 146, 150, 129, 159, 135, 180, 120, 150, 180, 93]
TRAIN_FRAMES = [120, 150, 150, 180, 180, 150, 150, 120, 180, 180, 180, 180]
TRAIN_FRAMES += [180, 150, 150, 150]


@pytest.fixture(scope="module")
def ped2(ped2_root):
    return AnomalyVideoDataset(ped2_root, size=(64, 64))


@pytest.fixture(scope="module")
def ped2_videos(ped2_root):
    return AnomalyVideoDataset(ped2_root, size=(64, 64), source="videos")


def test_counts_and_labels(ped2, ped2_root):
    assert [v.name for v in ped2.testing_videos] == [
        f"{index:02d}" for index in range(1, 13)
    ]
    assert [v.num_frames for v in ped2.testing_videos] == TEST_FRAMES
    assert [v.num_frames for v in ped2.training_videos] == TRAIN_FRAMES
    assert [int(v.labels.sum()) for v in ped2.testing_videos] == TEST_ANOMALOUS
    manifest = json.loads((ped2_root / "manifest.json").read_text())
    for video in ped2.testing_videos:
        entry = manifest["splits"]["testing"]["per_video"][video.name]
        assert entry["frames"] == video.num_frames
        np.testing.assert_array_equal(
            video.labels,
            np.load(ped2_root / "testing" / "labels" / f"{video.name}.npy"),
        )
    # Video 01: frames 61..180 (1-based) are anomalous, 0..59 normal.
    labels = ped2.testing_videos[0].labels
    assert labels.dtype == np.int8
    np.testing.assert_array_equal(labels[:60], 0)
    np.testing.assert_array_equal(labels[60:], 1)


def test_frames_and_mp4_agree_in_count(ped2, ped2_videos):
    for split in ("training_videos", "testing_videos"):
        from_frames = getattr(ped2, split)
        from_mp4 = getattr(ped2_videos, split)
        assert [v.name for v in from_frames] == [v.name for v in from_mp4]
        assert [v.num_frames for v in from_frames] == [
            v.num_frames for v in from_mp4
        ]
        assert all(v.path.suffix == ".mp4" for v in from_mp4)
    for video in ped2_videos.testing_videos:
        np.testing.assert_array_equal(
            video.labels, ped2.testing_videos[int(video.name) - 1].labels
        )


def test_test_video_01_frames_and_mp4(ped2_root):
    folder = ped2_root / "testing" / "frames" / "01"
    mp4 = ped2_root / "videos" / "testing" / "01.mp4"
    frames = read_video(folder)
    assert frames.shape == (180, 240, 360, 1)
    assert frames.dtype == np.uint8
    for index in (0, 59, 60, 179):
        np.testing.assert_array_equal(
            frames[index, :, :, 0],
            np.asarray(Image.open(folder / f"{index:03d}.jpg")),
        )
    decoded = read_video(mp4)
    assert decoded.shape == (180, 240, 360, 1)
    with av.open(str(mp4)) as container:
        reference = np.stack(
            [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        )
    np.testing.assert_array_equal(decoded[..., 0], reference)
    # The MP4 was encoded from the JPEGs: about 44 dB apart.
    error = np.mean((decoded.astype(float) - frames) ** 2)
    assert 10 * np.log10(255**2 / error) > 40


def test_windows_of_test_video_01(ped2_root):
    for path in (
        ped2_root / "testing" / "frames" / "01",
        ped2_root / "videos" / "testing" / "01.mp4",
    ):
        clips = video_clips(path, clip_length=16, size=(32, 48))
        shapes = [clip.shape for clip in clips]
        assert len(shapes) == 180 - 15
        clip = next(iter(clips))
        assert clip.shape == (16, 32, 48, 1)
        assert clip.dtype == np.float32


def test_test_dataset_aligns_with_labels(ped2):
    video = ped2.testing_videos[0]
    frames = ped2.frames(video)
    assert frames.shape == (180, 64, 64, 1)
    assert frames.dtype == np.float32
    assert -1.0 <= frames.min() and frames.max() <= 1.0
    clips = video_clips(video, size=(64, 64))
    for start, clip in enumerate(clips.take(70)):
        if start in (0, 44, 52, 69):
            np.testing.assert_allclose(
                clip.numpy(), frames[start : start + 16], atol=1e-6
            )
    # The window starting at frame i is scored at its middle frame i + 8:
    # the first anomalous label (frame 60) is the middle of window 52.
    assert video.labels[52 + 8] == 1 and video.labels[51 + 8] == 0
