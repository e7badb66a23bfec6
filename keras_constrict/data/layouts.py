"""Anomaly-detection video datasets on disk: layouts, labels, pipelines.

`AnomalyVideoDataset(root)` recognises these layouts:

Frame folders, as UCSD Ped2, CUHK Avenue and ShanghaiTech are shipped::

    root/training/frames/<name>/<frames>     normal videos
    root/testing/frames/<name>/<frames>      test videos
    root/testing/labels/<name>.npy           one label per frame, 1 = anomalous

Video files, for users' own recordings::

    root/training/<name>.mp4                 (any extension in VIDEO_EXTENSIONS)
    root/testing/<name>.mp4
    root/testing/labels/<name>.npy

Video files beside frames, as in ../shared/data/ped2::

    root/videos/training/<name>.mp4
    root/videos/testing/<name>.mp4
    root/testing/labels/<name>.npy

Either split may be missing (a set of test videos only, or of training
videos only), not both. When `testing/labels/` exists, every test video
needs its label file; without that folder the test videos carry no labels
(`Video.labels` is None) and can be scored but not evaluated. Frame folders
are preferred when a root holds both forms; `source="videos"` picks the
video files.
"""

import dataclasses
import logging
import pathlib

import numpy as np

from keras_constrict.data import backends
from keras_constrict.data import readers

logger = logging.getLogger(__name__)

SPLITS = ("training", "testing")
SOURCES = ("auto", "frames", "videos")


@dataclasses.dataclass(frozen=True)
class Video:
    """One video of a dataset.

    Attributes:
        name: the video's name, its folder name or file stem (`"01"`).
        path: its frame folder or video file.
        split: `"training"` or `"testing"`.
        num_frames: number of frames.
        labels: int8 `(num_frames,)`, 1 = anomalous frame, 0 = normal;
            None when the video has no labels.
    """

    name: str
    path: pathlib.Path
    split: str
    num_frames: int
    labels: np.ndarray | None = dataclasses.field(
        default=None, compare=False, hash=False, repr=False
    )


def _video_files(folder):
    return sorted(
        (
            path
            for path in folder.iterdir()
            if path.is_file() and backends.is_video_file(path)
        ),
        key=backends.natural_sort_key,
    )


def _frame_folders(folder):
    return sorted(
        (path for path in folder.iterdir() if path.is_dir()),
        key=backends.natural_sort_key,
    )


def _find_layout(root, source):
    """The layout's name and, per split found, its frame folders or files."""
    if source in ("auto", "frames"):
        found = {
            split: _frame_folders(root / split / "frames")
            for split in SPLITS
            if (root / split / "frames").is_dir()
        }
        if found:
            return "frames", found
    if source in ("auto", "videos"):
        # Users' own `training/*.mp4`, then Ped2's `videos/training/*.mp4`.
        for parent in (root, root / "videos"):
            found = {
                split: _video_files(parent / split)
                for split in SPLITS
                if (parent / split).is_dir()
            }
            found = {split: files for split, files in found.items() if files}
            if found:
                return "videos", found
    expected = {
        "auto": "training/frames/<video>/, testing/frames/<video>/, "
        "training/<video>.mp4, testing/<video>.mp4 or "
        "videos/{training,testing}/<video>.mp4",
        "frames": "training/frames/<video>/ or testing/frames/<video>/",
        "videos": "training/<video>.mp4, testing/<video>.mp4 or "
        "videos/{training,testing}/<video>.mp4",
    }[source]
    raise ValueError(
        f"No recognisable video dataset layout under {str(root)!r}. "
        f"Expected {expected} (labels in testing/labels/<video>.npy). "
        f"Received: root={str(root)!r}, source={source!r}"
    )


def _count_frames(path):
    if path.is_dir():
        return len(backends.list_frame_files(path))
    num_frames, _, _ = backends.probe_video_file(path)
    return num_frames


def _video_name(path):
    return path.name if path.is_dir() else path.stem


def _load_labels(label_folder, name, num_frames):
    path = label_folder / f"{name}.npy"
    if not path.is_file():
        raise FileNotFoundError(
            f"Missing labels for test video {name!r}. Expected one label "
            f"per frame in {str(path)!r}, or no {str(label_folder)!r} folder "
            f"at all for unlabelled test videos."
        )
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise backends.VideoDecodeError(
            f"Label file {str(path)!r} is unreadable or truncated: {error}"
        ) from error
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != num_frames:
        raise ValueError(
            f"Label count differs from frame count for test video {name!r}: "
            f"{labels.shape[0]} labels in {str(path)!r} but {num_frames} "
            f"frames. Expected one label per frame."
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"Labels of test video {name!r} must be 0 (normal) or 1 "
            f"(anomalous). Received values "
            f"{sorted(set(np.unique(labels).tolist()))} in {str(path)!r}"
        )
    return labels.astype(np.int8)


class AnomalyVideoDataset:
    """The training and test videos of an anomaly-detection dataset.

    Lists the videos of a root folder in one of the layouts of
    `keras_constrict.data.layouts` (frame folders as Ped2, Avenue and
    ShanghaiTech, or video files), checks them, gives each test video's
    per-frame labels (1 = anomalous) and builds the pipelines a model
    trains and is scored on. Frames are resized to `size` and scaled to
    `value_range` everywhere, so every pipeline shows the model the same
    frames.

    Args:
        root: the dataset's root folder.
        size: `(height, width)` frames are resized to (bilinear), or None
            to keep their size. Defaults to `(256, 256)`.
        grayscale: one channel if True, RGB otherwise. Defaults to True.
        value_range: `(low, high)` that pixel values 0 and 255 map to.
            Defaults to `(-1.0, 1.0)`.
        backend: the decoder (see `keras_constrict.data.read_video`).
            Defaults to `"auto"`.
        source: `"frames"`, `"videos"`, or `"auto"` for frame folders
            when the root holds both. Defaults to `"auto"`.

    Raises:
        ValueError: for a root with no recognisable layout, an empty split
            or frame folder, or a label count that differs from the frame
            count (the message names the video and both counts).
        FileNotFoundError: if `root` is missing or a test video has no
            label file while `testing/labels/` exists.
        VideoDecodeError: (a `ValueError`) for an unreadable video or label
            file (the message names it).

    Example:

    >>> dataset = AnomalyVideoDataset("ped2", size=(64, 64))
    >>> [video.num_frames for video in dataset.testing_videos][:3]
    [180, 180, 150]
    >>> model.fit(dataset.train_dataset(batch_size=4), epochs=10)
    """

    def __init__(
        self,
        root,
        size=(256, 256),
        grayscale=True,
        value_range=(-1.0, 1.0),
        backend="auto",
        source="auto",
    ):
        root = pathlib.Path(root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"Dataset root not found. Expected a folder. Received: "
                f"root={str(root)!r}"
            )
        if source not in SOURCES:
            raise ValueError(
                f"Expected `source` to be one of {SOURCES}. Received: "
                f"source={source!r}"
            )
        if backend not in backends.BACKENDS:
            raise ValueError(backends._unknown_backend_message(backend))
        self.root = root
        self.size = readers._check_size(size)
        self.grayscale = grayscale
        self.value_range = readers._check_value_range(value_range)
        self.backend = backend
        self.layout, found = _find_layout(root, source)

        label_folder = root / "testing" / "labels"
        videos = {split: [] for split in SPLITS}
        for split, paths in found.items():
            if not paths:
                # Only a frames layout keeps an empty split: _find_layout
                # drops video splits without video files.
                raise ValueError(
                    f"The {split} split of {str(root)!r} holds no frame "
                    "folders. "
                    f"Expected at least one video, or no {split} folder."
                )
            for path in paths:
                name = _video_name(path)
                num_frames = _count_frames(path)
                if num_frames == 0:
                    raise ValueError(
                        f"Video {str(path)!r} holds no frames. Expected at "
                        f"least one."
                    )
                labels = None
                if split == "testing" and label_folder.is_dir():
                    labels = _load_labels(label_folder, name, num_frames)
                videos[split].append(
                    Video(name, path, split, num_frames, labels)
                )
        self.training_videos = videos["training"]
        self.testing_videos = videos["testing"]
        logger.info(
            "%s: %s layout, %d training and %d test videos",
            root,
            self.layout,
            len(self.training_videos),
            len(self.testing_videos),
        )

    def __repr__(self):
        return (
            f"AnomalyVideoDataset(root={str(self.root)!r}, "
            f"layout={self.layout!r}, "
            f"training_videos={len(self.training_videos)}, "
            f"testing_videos={len(self.testing_videos)})"
        )

    def frames(self, video):
        """One video as the model sees it.

        Args:
            video: a `Video` of this dataset (or a path).

        Returns:
            np.ndarray: float32 `(num_frames, height, width, channels)`,
            resized to `size` and scaled to `value_range`.
        """
        return readers.read_frames(
            video, self.size, self.grayscale, self.value_range, self.backend
        )

    def clips(self, videos, clip_length=16, stride=1, shuffle=False, seed=None):
        """Clips of the given videos (see `keras_constrict.data.video_clips`).

        Args:
            videos: `Video`s of this dataset.
            clip_length: frames per clip. Defaults to 16.
            stride: frames between clip starts. Defaults to 1.
            shuffle: shuffle the clips. Defaults to False.
            seed: seed of the shuffle. Defaults to None.

        Returns:
            tf.data.Dataset: float32 clips `(clip_length, height, width,
            channels)`.
        """
        return readers.video_clips(
            list(videos),
            clip_length=clip_length,
            stride=stride,
            size=self.size,
            grayscale=self.grayscale,
            value_range=self.value_range,
            shuffle=shuffle,
            backend=self.backend,
            seed=seed,
        )

    def train_dataset(
        self,
        clip_length=16,
        stride=1,
        batch_size=4,
        shuffle=True,
        seed=None,
        cache=None,
    ):
        """`(clip, clip)` batches of the training videos for `model.fit`.

        Args:
            clip_length: frames per clip. Defaults to 16.
            stride: frames between clip starts. Defaults to 1.
            batch_size: clips per batch. Defaults to 4.
            shuffle: shuffle the clips every pass. Without a cache, clips
                are mixed across 4 videos at a time through a buffer; with
                a cache, over all clips. Defaults to True.
            seed: seed of the shuffle. Defaults to None.
            cache: None to decode every pass; `"memory"` to decode and
                resize once into memory; or a file path to do so once into
                that file, reused by later runs with the same videos and
                settings. Defaults to None.

        Returns:
            tf.data.Dataset: batches of `(clip, clip)`, float32.
        """
        return self._clip_batches(
            self.training_videos,
            "training",
            clip_length,
            stride,
            batch_size,
            shuffle,
            seed,
            cache,
        )

    def test_dataset(
        self,
        clip_length=16,
        stride=1,
        batch_size=4,
        cache=None,
    ):
        """`(clip, clip)` batches of the test videos, in order.

        For validation loss; anomaly scores come from
        `keras_constrict.scoring`.

        Args:
            clip_length: frames per clip. Defaults to 16.
            stride: frames between clip starts. Defaults to 1.
            batch_size: clips per batch. Defaults to 4.
            cache: as in `train_dataset`. Defaults to None.

        Returns:
            tf.data.Dataset: batches of `(clip, clip)`, float32.
        """
        return self._clip_batches(
            self.testing_videos,
            "testing",
            clip_length,
            stride,
            batch_size,
            False,
            None,
            cache,
        )

    def _clip_batches(
        self,
        videos,
        split,
        clip_length,
        stride,
        batch_size,
        shuffle,
        seed,
        cache,
    ):
        import tensorflow as tf

        if not videos:
            raise ValueError(
                f"{str(self.root)!r} has no {split} videos. Expected them in "
                f"the {split} folder of the {self.layout} layout."
            )
        if cache is None:
            clips = self.clips(videos, clip_length, stride, shuffle, seed)
        else:
            from keras_constrict.data import cache as frame_cache

            store = frame_cache.FrameStore.build(self, videos, cache)
            clips = store.clips(clip_length, stride, shuffle, seed)
        clips = clips.map(lambda clip: (clip, clip))
        return clips.batch(batch_size).prefetch(tf.data.AUTOTUNE)
