"""AnomalyVideoDataset: layouts, labels, validation and its pipelines."""

import re
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_constrict.data import AnomalyVideoDataset
from keras_constrict.data import Video
from keras_constrict.data import read_video


def copy_tree(source, target):
    shutil.copytree(source, target)
    return target


def batches_array(dataset):
    inputs, targets = [], []
    for clip, target in dataset.as_numpy_iterator():
        inputs.append(clip)
        targets.append(target)
    return np.concatenate(inputs), np.concatenate(targets)


def expected_clips(paths, clip_length, size=None):
    """Clips cut in NumPy from independently read frames, in [-1, 1]."""
    import tensorflow as tf

    clips = []
    for path in paths:
        frames = read_video(path).astype(np.float32)
        if size is not None:
            frames = tf.image.resize(frames, size).numpy()
        frames = frames / 255 * 2 - 1
        clips += [
            frames[start : start + clip_length]
            for start in range(len(frames) - clip_length + 1)
        ]
    return np.stack(clips)


@pytest.mark.parametrize("source", ["frames", "videos", "flat"])
def test_layouts_list_videos_and_labels(tiny_video_set, source):
    if source == "flat":
        dataset = AnomalyVideoDataset(tiny_video_set.flat_root)
        root = tiny_video_set.flat_root
    else:
        dataset = AnomalyVideoDataset(tiny_video_set.root, source=source)
        root = tiny_video_set.root
    assert dataset.layout == ("frames" if source == "frames" else "videos")
    assert [video.name for video in dataset.training_videos] == ["01", "02"]
    assert [video.name for video in dataset.testing_videos] == ["01", "02"]
    assert [video.num_frames for video in dataset.training_videos] == [12, 10]
    assert [video.num_frames for video in dataset.testing_videos] == [20, 17]
    for video in dataset.testing_videos:
        assert video.split == "testing"
        assert video.labels.dtype == np.int8
        np.testing.assert_array_equal(
            video.labels, tiny_video_set.labels[video.name]
        )
        if source == "frames":
            assert video.path == root / "testing" / "frames" / video.name
        elif source == "videos":
            assert video.path == root / "videos" / "testing" / (
                video.name + ".mp4"
            )
        else:
            assert video.path == root / "testing" / (video.name + ".mp4")
    assert all(video.labels is None for video in dataset.training_videos)


def test_auto_prefers_frames(tiny_video_set):
    assert AnomalyVideoDataset(tiny_video_set.root).layout == "frames"


def test_video_is_a_frozen_record(tiny_video_set):
    video = AnomalyVideoDataset(tiny_video_set.root).testing_videos[0]
    assert isinstance(video, Video)
    with pytest.raises(AttributeError):
        video.num_frames = 3
    # Labels do not take part in equality or hashing (arrays cannot).
    assert video == Video(video.name, video.path, "testing", 20, None)
    assert len({video, video}) == 1


def test_frames_are_what_the_model_sees(tiny_video_set):
    dataset = AnomalyVideoDataset(
        tiny_video_set.root, size=(12, 16), value_range=(0.0, 1.0)
    )
    for video in dataset.testing_videos:
        frames = dataset.frames(video)
        assert frames.dtype == np.float32
        assert frames.shape == (video.num_frames, 12, 16, 1)
        import tensorflow as tf

        expected = tf.image.resize(
            read_video(video.path).astype(np.float32), (12, 16)
        ).numpy()
        np.testing.assert_allclose(frames, expected / 255, atol=1e-5)


def test_frames_and_videos_give_nearly_the_same_frames(tiny_video_set):
    frames = AnomalyVideoDataset(tiny_video_set.root, size=None)
    videos = AnomalyVideoDataset(
        tiny_video_set.root, size=None, source="videos"
    )
    for from_frames, from_videos in zip(
        frames.testing_videos, videos.testing_videos, strict=True
    ):
        difference = frames.frames(from_frames) - videos.frames(from_videos)
        # JPEG at quality 95 against lossless H.264: a few grey levels.
        assert np.abs(difference).mean() < 4 * 2 / 255


def test_train_and_test_datasets(tiny_video_set):
    dataset = AnomalyVideoDataset(tiny_video_set.root, size=(8, 8))
    inputs, targets = batches_array(
        dataset.test_dataset(clip_length=4, batch_size=3)
    )
    np.testing.assert_array_equal(inputs, targets)
    expected = expected_clips(
        [video.path for video in dataset.testing_videos], 4, (8, 8)
    )
    assert inputs.shape == (17 + 14, 4, 8, 8, 1)
    np.testing.assert_allclose(inputs, expected, atol=1e-5)

    train = dataset.train_dataset(clip_length=4, batch_size=5, seed=3)
    first_batch = next(iter(train))[0]
    assert first_batch.shape == (5, 4, 8, 8, 1)
    inputs, targets = batches_array(train)
    np.testing.assert_array_equal(inputs, targets)
    expected = expected_clips(
        [video.path for video in dataset.training_videos], 4, (8, 8)
    )
    assert len(inputs) == len(expected) == 9 + 7

    def key(array):
        return sorted(np.round(clip, 4).tobytes() for clip in array)

    assert key(inputs) == key(expected)


@pytest.mark.parametrize("cache", ["memory", "file"])
def test_cache_gives_the_streamed_clips(tiny_video_set, tmp_path, cache):
    dataset = AnomalyVideoDataset(tiny_video_set.root, size=(8, 8))
    if cache == "file":
        cache = tmp_path / "cache" / "train.npy"
    streamed, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False)
    )
    cached, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    np.testing.assert_array_equal(cached, streamed)
    shuffled, _ = batches_array(
        dataset.train_dataset(clip_length=4, seed=0, cache=cache)
    )
    assert not np.array_equal(shuffled, streamed)
    assert sorted(c.tobytes() for c in shuffled) == sorted(
        c.tobytes() for c in streamed
    )
    tested, _ = batches_array(dataset.test_dataset(clip_length=4, cache=cache))
    streamed_test, _ = batches_array(dataset.test_dataset(clip_length=4))
    np.testing.assert_array_equal(tested, streamed_test)


def test_cache_file_is_reused_and_rewritten(tiny_video_set, tmp_path):
    cache = tmp_path / "train.npy"
    dataset = AnomalyVideoDataset(tiny_video_set.root, size=(8, 8))
    first, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    written = cache.stat().st_mtime_ns
    again, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    assert cache.stat().st_mtime_ns == written
    np.testing.assert_array_equal(first, again)
    # Other settings: the cache is rebuilt, not reused.
    larger = AnomalyVideoDataset(tiny_video_set.root, size=(12, 12))
    clips, _ = batches_array(
        larger.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    assert clips.shape[2:4] == (12, 12)
    assert not list(tmp_path.glob("*partial*"))


def test_cache_file_notices_a_frame_replaced_in_place(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.root, tmp_path / "set")
    cache = tmp_path / "train.npy"
    dataset = AnomalyVideoDataset(root, size=(8, 8))
    before, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    # Same file names, same frame count, other pixels.
    frame = sorted((root / "training" / "frames" / "01").iterdir())[0]
    Image.fromarray(np.full((24, 32), 255, np.uint8)).save(frame, quality=95)
    dataset = AnomalyVideoDataset(root, size=(8, 8))
    after, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False, cache=cache)
    )
    streamed, _ = batches_array(
        dataset.train_dataset(clip_length=4, shuffle=False)
    )
    np.testing.assert_array_equal(after, streamed)
    assert not np.array_equal(after[0], before[0])


# --- validation -----------------------------------------------------------


def test_root_without_a_layout(tmp_path):
    (tmp_path / "clips").mkdir()
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"No recognisable video dataset layout under {str(tmp_path)!r}. "
            f"Expected training/frames/<video>/, testing/frames/<video>/, "
            f"training/<video>.mp4, testing/<video>.mp4 or "
            f"videos/{{training,testing}}/<video>.mp4 (labels in "
            f"testing/labels/<video>.npy). Received: root={str(tmp_path)!r}, "
            f"source='auto'"
        ),
    ):
        AnomalyVideoDataset(tmp_path)
    missing = tmp_path / "missing"
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"Dataset root not found. Expected a folder. Received: "
            f"root={str(missing)!r}"
        ),
    ):
        AnomalyVideoDataset(missing)


def test_label_count_differs_from_frame_count(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.root, tmp_path / "root")
    label_path = root / "testing" / "labels" / "02.npy"
    np.save(label_path, np.zeros(16, np.uint8))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Label count differs from frame count for test video '02': 16 "
            f"labels in {str(label_path)!r} but 17 frames. Expected one label "
            f"per frame."
        ),
    ):
        AnomalyVideoDataset(root)


def test_missing_labels(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.flat_root, tmp_path / "root")
    labels = root / "testing" / "labels"
    (labels / "01.npy").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"Missing labels for test video '01'. Expected one label per "
            f"frame in {str(labels / '01.npy')!r}, or no {str(labels)!r} "
            f"folder at all for unlabelled test videos."
        ),
    ):
        AnomalyVideoDataset(root)
    shutil.rmtree(labels)
    dataset = AnomalyVideoDataset(root)
    assert [video.labels for video in dataset.testing_videos] == [None, None]


def test_labels_must_be_binary(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.root, tmp_path / "root")
    label_path = root / "testing" / "labels" / "01.npy"
    np.save(label_path, np.full(20, 2))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Labels of test video '01' must be 0 (normal) or 1 (anomalous). "
            f"Received values [2] in {str(label_path)!r}"
        ),
    ):
        AnomalyVideoDataset(root)


def test_unreadable_label_file(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.root, tmp_path / "root")
    label_path = root / "testing" / "labels" / "01.npy"
    label_path.write_bytes(label_path.read_bytes()[:40])
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"Label file {str(label_path)!r} is unreadable or truncated:"
        ),
    ):
        AnomalyVideoDataset(root)


def test_empty_split_and_empty_frame_folder(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.root, tmp_path / "root")
    shutil.rmtree(root / "videos")
    for folder in (root / "training" / "frames").iterdir():
        shutil.rmtree(folder)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"The training split of {str(root)!r} holds no frame folders. "
            f"Expected at least one video, or no training folder."
        ),
    ):
        AnomalyVideoDataset(root)
    shutil.rmtree(root / "training")
    empty = root / "testing" / "frames" / "03"
    empty.mkdir()
    with pytest.raises(
        ValueError,
        match=re.escape(f"Frame folder {str(empty)!r} holds no image frames."),
    ):
        AnomalyVideoDataset(root)
    empty.rmdir()
    dataset = AnomalyVideoDataset(root)
    assert dataset.training_videos == []
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{str(root)!r} has no training videos. Expected them in the "
            f"training folder of the frames layout."
        ),
    ):
        dataset.train_dataset()


def test_unreadable_video_file_is_named(tiny_video_set, tmp_path):
    root = copy_tree(tiny_video_set.flat_root, tmp_path / "root")
    bad = root / "training" / "02.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(
        ValueError,
        match=re.escape(f"Video file {str(bad)!r} is unreadable or truncated"),
    ):
        AnomalyVideoDataset(root)


def test_frames_of_differing_sizes_in_a_pipeline(tiny_video_set, tmp_path):
    from PIL import Image

    root = copy_tree(tiny_video_set.root, tmp_path / "root")
    bad = root / "training" / "frames" / "01" / "004.jpg"
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(bad)
    dataset = AnomalyVideoDataset(root, size=(8, 8))
    with pytest.raises(
        ValueError,
        match=re.escape(f"Frames of differing sizes in {str(bad.parent)!r}"),
    ):
        dataset.frames(dataset.training_videos[0])
    import tensorflow as tf

    with pytest.raises(
        tf.errors.InvalidArgumentError, match=re.escape(str(bad))
    ):
        batches_array(dataset.train_dataset(clip_length=4))


def test_bad_arguments(tiny_video_set):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected `source` to be one of ('auto', 'frames', 'videos'). "
            "Received: source='mp4'"
        ),
    ):
        AnomalyVideoDataset(tiny_video_set.root, source="mp4")
    with pytest.raises(ValueError, match="Unknown video backend"):
        AnomalyVideoDataset(tiny_video_set.root, backend="cv2")
