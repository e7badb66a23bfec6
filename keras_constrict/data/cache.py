"""Decode and resize frames once, then cut clips from the stored frames.

Training at 256 x 256 on a GPU is faster than decoding and resizing the
same frames every epoch, so `AnomalyVideoDataset.train_dataset(cache=...)`
keeps the frames as the model sees them (float32, resized, scaled) in
memory or in a `.npy` file, and cuts clips from that store by index. The
index makes a full shuffle over every clip of every video cheap.
"""

import json
import logging
import os
import pathlib
import time

import numpy as np

from keras_constrict.data import readers

logger = logging.getLogger(__name__)


class FrameStore:
    """The frames of several videos, back to back in one array.

    Args:
        frames: float32 `(total_frames, height, width, channels)`, an array
            or a read-only memory map.
        num_frames: frames of each video, in storage order.
    """

    def __init__(self, frames, num_frames):
        self.frames = frames
        self.num_frames = [int(count) for count in num_frames]
        self.offsets = np.cumsum([0, *self.num_frames[:-1]]).astype(np.int64)

    @classmethod
    def build(cls, dataset, videos, cache):
        """Decode `videos` of `dataset` once into memory or a file.

        Args:
            dataset: the `AnomalyVideoDataset` whose settings (size, value
                range, backend) apply.
            videos: the `Video`s to store.
            cache: `"memory"`, or the path of a `.npy` file. A file written
                by an earlier run for the same videos and settings is
                reused; otherwise it is written anew (via a temporary file,
                so a killed run never leaves a partial cache behind).

        Returns:
            FrameStore: the stored frames.

        Raises:
            ValueError: if the videos differ in size and `dataset.size` is
                None, or a video decodes to another number of frames than
                it was listed with.
        """
        num_frames = [video.num_frames for video in videos]
        if cache == "memory":
            return cls(_decode_all(dataset, videos, np.empty), num_frames)

        # Sizes and modification times stand in for the contents: a video
        # re-encoded or a frame replaced in place changes them, and reading
        # them costs one stat per file rather than a decode.
        key = {
            "videos": [
                [str(video.path), video.num_frames, *_fingerprint(video.path)]
                for video in videos
            ],
            "size": dataset.size,
            "grayscale": dataset.grayscale,
            "value_range": dataset.value_range,
            "backend": dataset.backend,
        }
        key = json.loads(json.dumps(key))
        path = pathlib.Path(cache)
        key_path = path.with_name(path.name + ".json")
        if path.is_file() and key_path.is_file():
            if json.loads(key_path.read_text()) == key:
                logger.info("Reusing the frame cache %s", path)
                frames = np.load(path, mmap_mode="r")
                return cls(frames, num_frames)
            logger.info(
                "Frame cache %s was made for other data; rewriting", path
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".partial-{os.getpid()}.npy")

        def allocate(shape, dtype):
            return np.lib.format.open_memmap(
                partial, mode="w+", dtype=dtype, shape=shape
            )

        try:
            frames = _decode_all(dataset, videos, allocate)
            frames.flush()
            del frames
            os.replace(partial, path)
        finally:
            if partial.exists():
                partial.unlink()
        key_path.write_text(json.dumps(key))
        return cls(np.load(path, mmap_mode="r"), num_frames)

    def _starts(self, clip_length, stride):
        return np.concatenate(
            [
                offset + np.arange(0, count - clip_length + 1, stride)
                for offset, count in zip(
                    self.offsets, self.num_frames, strict=True
                )
            ]
        ).astype(np.int64)

    def _loader(self, clip_length):
        import tensorflow as tf

        frames = self.frames
        clip_shape = (clip_length, *frames.shape[1:])

        def cut(start):
            return np.ascontiguousarray(frames[start : start + clip_length])

        def load(start):
            clip = tf.numpy_function(cut, [start], tf.float32, stateful=False)
            return tf.ensure_shape(clip, clip_shape)

        return load

    def epoch_batches(self, clip_length, stride, batch_size, seed):
        """An endless stream of batches, epoch after epoch, reproducibly.

        Epoch `e` holds every clip once, in the order of a stateless
        shuffle keyed by `(seed, e)`, cut into batches (the last one of
        an epoch may be smaller). The order depends on nothing else: not
        on how often the dataset was iterated before, nor on the graph
        rewrites of `tf.distribute`. So `stream.skip(n)` continues a
        stream exactly where an earlier one stopped after `n` batches,
        and every device count sees the same batches.

        Args:
            clip_length: frames per clip.
            stride: frames between clip starts.
            batch_size: clips per batch.
            seed: int seed of the order.

        Returns:
            tf.data.Dataset: endless float32 batches `(batch, clip_length,
            height, width, channels)`.
        """
        import tensorflow as tf

        starts = tf.constant(self._starts(clip_length, stride))
        load = self._loader(clip_length)

        def epoch(index):
            order = tf.random.experimental.stateless_shuffle(
                starts, seed=tf.stack([tf.constant(seed, tf.int64), index])
            )
            return (
                tf.data.Dataset.from_tensor_slices(order)
                .map(load, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(batch_size)
            )

        return tf.data.Dataset.counter().flat_map(epoch)

    def clips(self, clip_length=16, stride=1, shuffle=False, seed=None):
        """Clips cut from the stored frames, one per start frame.

        Args:
            clip_length: frames per clip. Defaults to 16.
            stride: frames between clip starts. Defaults to 1.
            shuffle: reshuffle all clips every pass. Defaults to False.
            seed: seed of the shuffle. Defaults to None.

        Returns:
            tf.data.Dataset: float32 clips `(clip_length, height, width,
            channels)`, the same values as `video_clips` gives.
        """
        import tensorflow as tf

        starts = self._starts(clip_length, stride)
        load = self._loader(clip_length)
        indices = tf.data.Dataset.from_tensor_slices(starts)
        if shuffle:
            indices = indices.shuffle(
                len(starts), seed=seed, reshuffle_each_iteration=True
            )
        return indices.map(
            load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )


def _fingerprint(path):
    """Total bytes and latest modification time of a video's file(s)."""
    path = pathlib.Path(path)
    if path.is_dir():
        with os.scandir(path) as entries:
            stats = [entry.stat() for entry in entries if entry.is_file()]
    else:
        stats = [path.stat()]
    return (
        sum(stat.st_size for stat in stats),
        max((stat.st_mtime_ns for stat in stats), default=0),
    )


def _decode_all(dataset, videos, allocate):
    """Decode every video into one array made by `allocate(shape, dtype)`."""
    started = time.perf_counter()
    frames = None
    row = 0
    total = sum(video.num_frames for video in videos)
    for video in videos:
        decoded = 0
        for batch in readers._frame_blocks(
            video,
            dataset.size,
            dataset.grayscale,
            dataset.value_range,
            dataset.backend,
        ):
            if frames is None:
                frames = allocate((total, *batch.shape[1:]), np.float32)
            if batch.shape[1:] != frames.shape[1:]:
                raise ValueError(
                    f"Cannot cache videos of differing frame sizes: "
                    f"{str(video.path)!r} has frames of "
                    f"{batch.shape[1:3]} where earlier videos have "
                    f"{frames.shape[1:3]}. Pass size=(height, width) to "
                    f"AnomalyVideoDataset."
                )
            if decoded + len(batch) > video.num_frames:
                raise ValueError(_count_message(video, "more than"))
            frames[row : row + len(batch)] = batch
            row += len(batch)
            decoded += len(batch)
        if decoded != video.num_frames:
            raise ValueError(_count_message(video, f"only {decoded}"))
    logger.info(
        "Cached %d frames (%.1f MB) in %.1f s",
        total,
        frames.nbytes / 1e6,
        time.perf_counter() - started,
    )
    return frames


def _count_message(video, decoded):
    return (
        f"Video {str(video.path)!r} was listed with {video.num_frames} "
        f"frames but decodes to {decoded} frames. Expected the count its "
        f"container or folder records; re-encode the file if it is damaged."
    )
