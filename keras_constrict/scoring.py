"""Frame-level anomaly scores and the published evaluation protocol.

An autoencoder trained on normal video reconstructs anomalous frames
worse. `frame_scores` turns that into one anomaly score per frame of a
video, as the published protocol does:

1. slide a `clip_length`-frame window with stride 1 over the video;
2. reconstruct each window and compute the PSNR of its target frame,
   `psnr = 10 * log10(1 / mse)`, with `mse` over that frame's pixels in
   the model's value range;
3. normalise per video, `s = (psnr - min) / (max - min)` (high = normal),
   and report the anomaly score `1 - s`: **higher = more anomalous**, in
   `[0, 1]`;
4. frames that are the target of no window get NaN.

`evaluate` scores every test video of a dataset and computes the
frame-level ROC AUC over all test videos concatenated (micro AUC, the
published figure) and the mean of per-video AUCs (macro AUC).
`evaluate_scores` does the AUC part for scores computed elsewhere.
"""

import dataclasses
import logging
import numbers
import warnings

import keras
import numpy as np

__all__ = [
    "Evaluation",
    "anomaly_scores_from_psnr",
    "evaluate",
    "evaluate_scores",
    "frame_psnr",
    "frame_scores",
    "plot_frame_scores",
    "target_index",
]

logger = logging.getLogger(__name__)

# A perfect reconstruction (mse == 0) would give an infinite PSNR and break
# the per-video normalisation; the mse is floored here (PSNR <= 100 dB).
MIN_MSE = 1e-10


def target_index(clip_length, target="middle"):
    """The index, inside a window, of the frame that the window scores.

    Args:
        clip_length: int >= 1, frames per window.
        target: `"middle"` (index `clip_length // 2`, the published
            protocol: 8 of 16), `"last"` (index `clip_length - 1`, for
            models that predict the newest frame) or an int index in
            `[-clip_length, clip_length)`. Defaults to `"middle"`.

    Returns:
        int in `[0, clip_length)`.

    Raises:
        ValueError: an invalid `clip_length` or `target`.
    """
    clip_length = _positive_int(clip_length, "clip_length", "frames per window")
    if isinstance(target, str):
        if target == "middle":
            return clip_length // 2
        if target == "last":
            return clip_length - 1
    elif isinstance(target, numbers.Integral) and not isinstance(target, bool):
        if -clip_length <= target < clip_length:
            return int(target) % clip_length
    raise ValueError(
        "Argument `target` must be 'middle' (frame clip_length // 2 of each "
        "window, the published protocol), 'last' (frame clip_length - 1) or "
        f"an int index in [-{clip_length}, {clip_length}). Received: "
        f"target={target!r}"
    )


def _check_frames(frames):
    frames = np.asarray(frames)
    if frames.ndim != 4:
        hint = (
            " Add a channel axis with frames[..., None]."
            if frames.ndim == 3
            else ""
        )
        raise ValueError(
            "Argument `frames` must be one video as the model sees it, of "
            "shape (frames, height, width, channels). Received: "
            f"frames.shape={frames.shape}.{hint}"
        )
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(
            "Argument `frames` must be floating point, scaled to the "
            "model's value range (for example [-1, 1]); nothing is scaled "
            f"here. Received: frames.dtype={frames.dtype}. Use "
            "AnomalyVideoDataset.frames(video), or scale the frames first."
        )
    return frames


def _positive_int(value, name, meaning):
    """`value` as an int >= 1, or a `ValueError` naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(
            f"Argument `{name}` must be an int >= 1 ({meaning}). "
            f"Received: {name}={value!r}"
        )
    return int(value)


def _check_batch_size(batch_size):
    return _positive_int(batch_size, "batch_size", "windows per model call")


def predict_batch(model, batch):
    """The model's output for one batch, as a NumPy array.

    `predict_on_batch` (one compiled call, as fast as `predict`) except
    under a strategy with several replicas, where Keras 3.15 with
    TensorFlow 2.21 returns every replica's copy of the batch and
    `predict` fails on a batch too small to give each replica an item; a
    plain inference call on one device is correct there.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if getattr(strategy, "num_replicas_in_sync", 1) > 1:
        return keras.ops.convert_to_numpy(model(batch, training=False))
    return model.predict_on_batch(batch)


def reconstruct_windows(model, frames, starts, clip_length=16):
    """The model's reconstruction of the windows starting at `starts`.

    Args:
        model: a Keras model mapping a batch of windows
            `(batch, clip_length, H, W, C)` to a reconstruction of the same
            shape.
        frames: float array `(frames, H, W, C)`, one video as the model
            sees it.
        starts: sequence of window start frames.
        clip_length: int, frames per window. Defaults to 16.

    Returns:
        tuple `(windows, reconstructions)`, float32 arrays of shape
        `(len(starts), clip_length, H, W, C)`.

    Raises:
        ValueError: the model's output is not one tensor of the input's
            shape.
    """
    offsets = np.arange(clip_length)
    windows = np.asarray(frames)[np.asarray(starts)[:, None] + offsets]
    windows = windows.astype("float32", copy=False)
    reconstructions = predict_batch(model, windows)
    if not hasattr(reconstructions, "shape") or tuple(
        reconstructions.shape
    ) != tuple(windows.shape):
        received = (
            tuple(reconstructions.shape)
            if hasattr(reconstructions, "shape")
            else type(reconstructions).__name__
        )
        raise ValueError(
            "Scoring needs a model that reconstructs its input window: one "
            "output of the input's shape (batch, clip_length, height, "
            f"width, channels). Received: output {received} for input "
            f"{tuple(windows.shape)}. For a model with several outputs, "
            "score a keras.Model(model.input, reconstruction_output)."
        )
    return windows, np.asarray(reconstructions, dtype="float32")


def frame_psnr(model, frames, clip_length=16, target="middle", batch_size=8):
    """Reconstruction PSNR of each frame of one video (higher = more normal).

    Every `clip_length`-frame window (stride 1) is reconstructed by
    `model`; the window starting at frame `i` gives frame
    `i + target_index(clip_length, target)` the PSNR
    `10 * log10(1 / mse)`, with `mse` over that frame's pixels (floored at
    `MIN_MSE`, so the PSNR is at most 100 dB). Windows are batched through
    `model.predict_on_batch`, the compiled function `model.predict` uses,
    and only the PSNRs are kept, so memory stays that of one batch.

    Args:
        model: a Keras model mapping `(batch, clip_length, H, W, C)` windows
            to reconstructions of the same shape.
        frames: float array `(frames, H, W, C)`: the video as the model
            sees it, already resized and scaled (nothing is changed here).
        clip_length: int, frames per window. Defaults to 16.
        target: which frame of a window it scores: `"middle"`, `"last"`
            or an int index (see `target_index`). Defaults to `"middle"`.
        batch_size: int, windows per model call. Defaults to 8.

    Returns:
        float64 array `(frames,)`: the PSNR in dB, NaN for frames that no
        window scores (the first 8 and last 7 for 16 frames, middle
        target; all frames of a video shorter than `clip_length`).

    Raises:
        ValueError: bad arguments, or a model whose output is not a
            reconstruction of its input.
    """
    index = target_index(clip_length, target)
    frames = _check_frames(frames)
    batch_size = _check_batch_size(batch_size)
    psnr = np.full(len(frames), np.nan)
    num_windows = len(frames) - clip_length + 1
    for start in range(0, max(num_windows, 0), batch_size):
        starts = np.arange(start, min(start + batch_size, num_windows))
        windows, reconstructions = reconstruct_windows(
            model, frames, starts, clip_length
        )
        error = reconstructions[:, index] - windows[:, index]
        mse = np.mean(np.square(error, dtype="float64"), axis=(1, 2, 3))
        psnr[starts + index] = 10.0 * np.log10(1.0 / np.maximum(mse, MIN_MSE))
    return psnr


def anomaly_scores_from_psnr(psnr):
    """Per-video min-max normalised anomaly scores (higher = more anomalous).

    `s = (psnr - min) / (max - min)` is a normalcy score (high = normal);
    the result is `1 - s`, in `[0, 1]`. NaN entries (frames without a
    score) stay NaN and take no part in min and max. When every scored
    frame has the same PSNR (`max == min`, for example a video with a
    single window) no frame is more anomalous than another: all scored
    frames get 0.0 rather than a division by zero.

    Args:
        psnr: 1-D array of PSNRs of one video, NaN where unscored.

    Returns:
        float64 array of the same shape.
    """
    psnr = np.asarray(psnr, dtype="float64")
    scores = np.full(psnr.shape, np.nan)
    scored = ~np.isnan(psnr)
    if not scored.any():
        return scores
    lowest = psnr[scored].min()
    highest = psnr[scored].max()
    if highest == lowest:
        scores[scored] = 0.0
    else:
        scores[scored] = 1.0 - (psnr[scored] - lowest) / (highest - lowest)
    return scores


def frame_scores(model, frames, clip_length=16, target="middle", batch_size=8):
    """Anomaly score of each frame of one video (higher = more anomalous).

    The published protocol: the reconstruction PSNR of the target frame of
    every window (`frame_psnr`), min-max normalised over the video and
    flipped so that 1 is the video's worst-reconstructed frame and 0 its
    best (`anomaly_scores_from_psnr`). Costs about what `model.predict`
    costs on the same windows (`benchmarks/scoring_throughput.py`).

    Args:
        model: a Keras model mapping `(batch, clip_length, H, W, C)` windows
            to reconstructions of the same shape.
        frames: float array `(frames, H, W, C)`: the video as the model
            sees it, already resized and scaled to the model's value range
            (for example `AnomalyVideoDataset.frames(video)`).
        clip_length: int, frames per window. Defaults to 16.
        target: the frame of each window that the window scores:
            `"middle"` (index `clip_length // 2`, the published protocol),
            `"last"` (index `clip_length - 1`) or an int index. Defaults to
            `"middle"`.
        batch_size: int, windows per model call. Defaults to 8.

    Returns:
        float64 array `(frames,)` of anomaly scores in `[0, 1]`, NaN for
        frames that no window scores: the first `target_index` frames and
        the last `clip_length - 1 - target_index` (8 and 7 for the
        defaults). A video whose scored frames all have the same PSNR gets
        0.0 for each of them.

    Raises:
        ValueError: bad arguments, or a model whose output is not a
            reconstruction of its input.

    Example:

    >>> dataset = keras_constrict.data.AnomalyVideoDataset(root)
    >>> video = dataset.testing_videos[0]
    >>> scores = frame_scores(model, dataset.frames(video))
    >>> scores.shape == (video.num_frames,)
    True
    """
    psnr = frame_psnr(model, frames, clip_length, target, batch_size)
    return anomaly_scores_from_psnr(psnr)


def _auc(labels, scores):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Frame-level ROC AUCs of anomaly scores (higher score = more anomalous).

    Attributes:
        micro_auc: float, AUC over the scored frames of all videos
            concatenated (the published figure). NaN when those frames
            are all of one class.
        macro_auc: float, mean of `video_auc` over the videos that have
            both classes among their scored frames; NaN when none has.
        video_auc: dict, video name to its own AUC; NaN for a video whose
            scored frames are all one class (or that has no scored frame
            or no labels).
        scores: dict, video name to its anomaly scores, one per frame, NaN
            where unscored.
        labels: dict, video name to its per-frame labels (1 = anomalous),
            for the videos that have labels.
    """

    micro_auc: float
    macro_auc: float
    video_auc: dict
    scores: dict = dataclasses.field(repr=False)
    labels: dict = dataclasses.field(repr=False)

    @property
    def single_class_videos(self):
        """Names of labelled videos without an AUC of their own."""
        return [
            name
            for name, auc in self.video_auc.items()
            if np.isnan(auc) and name in self.labels
        ]


def evaluate_scores(scores, labels):
    """Micro, macro and per-video frame-level AUCs of given anomaly scores.

    Frames whose score is NaN (no window scored them) take no part. A
    video whose remaining frames are all of one class gets a NaN AUC and
    is left out of the macro mean; it still counts in the micro AUC.

    Args:
        scores: dict, video name to a 1-D array of anomaly scores, one per
            frame, higher = more anomalous, NaN where unscored.
        labels: dict, video name to a 1-D array of per-frame labels, 1 =
            anomalous, 0 = normal. Videos missing here (or with `None`)
            are scored but take no part in any AUC.

    Returns:
        `Evaluation`.

    Raises:
        ValueError: a video's labels and scores differ in length, or labels
            other than 0 and 1.
    """
    video_auc = {}
    used_labels = {}
    all_scores = []
    all_labels = []
    for name, video_scores in scores.items():
        video_scores = np.asarray(video_scores, dtype="float64")
        video_labels = labels.get(name)
        if video_labels is None:
            video_auc[name] = float("nan")
            continue
        video_labels = np.asarray(video_labels)
        if video_labels.shape != video_scores.shape:
            raise ValueError(
                f"Video {name!r} has {video_labels.shape[0]} labels but "
                f"{video_scores.shape[0]} scores; each frame needs exactly "
                f"one label. Received: labels.shape={video_labels.shape}, "
                f"scores.shape={video_scores.shape}"
            )
        if not np.isin(video_labels, (0, 1)).all():
            found = np.unique(video_labels)[:10].tolist()
            raise ValueError(
                f"Labels of video {name!r} must be 0 (normal) or 1 "
                f"(anomalous). Received values: {found}"
            )
        used_labels[name] = video_labels.astype("int8")
        scored = ~np.isnan(video_scores)
        kept_labels = video_labels[scored]
        all_scores.append(video_scores[scored])
        all_labels.append(kept_labels)
        if np.unique(kept_labels).size == 2:
            video_auc[name] = _auc(kept_labels, video_scores[scored])
        else:
            video_auc[name] = float("nan")

    all_labels = np.concatenate(all_labels) if all_labels else np.zeros(0)
    all_scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    if np.unique(all_labels).size == 2:
        micro_auc = _auc(all_labels, all_scores)
    else:
        micro_auc = float("nan")
    two_class = [
        auc
        for name, auc in video_auc.items()
        if name in used_labels and not np.isnan(auc)
    ]
    macro_auc = float(np.mean(two_class)) if two_class else float("nan")
    return Evaluation(
        micro_auc=micro_auc,
        macro_auc=macro_auc,
        video_auc=video_auc,
        scores={name: np.asarray(s, "float64") for name, s in scores.items()},
        labels=used_labels,
    )


def scored_labels(labels, clip_length=16, target="middle"):
    """The labels of the frames that windows score (the others dropped).

    Args:
        labels: 1-D array of one video's per-frame labels.
        clip_length: int, frames per window. Defaults to 16.
        target: as for `frame_scores`. Defaults to `"middle"`.

    Returns:
        1-D array: `labels[index : len(labels) - (clip_length - 1 - index)]`.
    """
    index = target_index(clip_length, target)
    labels = np.asarray(labels)
    return labels[index : max(len(labels) - (clip_length - 1 - index), index)]


def evaluate(
    model,
    dataset,
    clip_length=16,
    target="middle",
    batch_size=8,
    videos=None,
):
    """Score every test video and compute the protocol's frame-level AUCs.

    Each test video is scored with `frame_scores` (higher = more
    anomalous, normalised per video, NaN for unscored frames). The micro
    AUC (the published figure) is the ROC AUC over the scored frames of
    all videos concatenated; the macro AUC is the mean over the videos
    that have both classes. A video whose scored frames are all one class
    is reported with a NaN AUC, never an error; when the AUC itself is
    undefined it is NaN and a warning says why.

    Args:
        model: a Keras model mapping `(batch, clip_length, H, W, C)` windows
            to reconstructions of the same shape.
        dataset: a `keras_constrict.data.AnomalyVideoDataset`, or any object
            with `testing_videos` (each with `name` and per-frame `labels`,
            1 = anomalous) and `frames(video)` returning the video as the
            model sees it, `(frames, H, W, C)` float.
        clip_length: int, frames per window. Defaults to 16.
        target: the frame each window scores: `"middle"`, `"last"` or an
            int index (see `frame_scores`). Defaults to `"middle"`.
        batch_size: int, windows per model call. Defaults to 8.
        videos: optional list of test videos (or their names) to score
            instead of all of `dataset.testing_videos`. Defaults to None.

    Returns:
        `Evaluation` with `micro_auc`, `macro_auc`, `video_auc`, `scores`
        and `labels`.

    Raises:
        ValueError: no test video has labels, a video's label count
            differs from its frame count, or a named video does not exist.

    Example:

    >>> dataset = keras_constrict.data.AnomalyVideoDataset(root, size=(64, 64))
    >>> result = keras_constrict.scoring.evaluate(model, dataset)
    >>> print(f"micro AUC {result.micro_auc:.4f}")
    """
    index = target_index(clip_length, target)
    batch_size = _check_batch_size(batch_size)
    test_videos = select_videos(dataset, videos)
    unlabelled = [
        v.name for v in test_videos if getattr(v, "labels", None) is None
    ]
    if len(unlabelled) == len(test_videos):
        raise ValueError(
            "evaluate needs per-frame labels (1 = anomalous) for the test "
            f"videos, but none of the {len(test_videos)} has labels. "
            "Put one .npy file per video in testing/labels/, or use "
            "frame_scores to score unlabelled videos."
        )
    if unlabelled:
        warnings.warn(
            f"Test videos without labels are scored but take no part in "
            f"the AUCs: {unlabelled}",
            stacklevel=2,
        )
    scores, labels, _ = score_videos(
        model, dataset, test_videos, clip_length, index, batch_size
    )
    result = evaluate_scores(scores, labels)
    warn_if_undefined(result, stacklevel=3)
    return result


def score_videos(
    model, dataset, videos, clip_length, index, batch_size, keep=()
):
    """Frame scores and labels of test videos, each decoded once.

    Args:
        model: the autoencoder.
        dataset: gives each video's frames with `dataset.frames(video)`.
        videos: the test videos to score.
        clip_length: frames per window.
        index: the window frame each window scores (`target_index`).
        batch_size: windows per model call.
        keep: names of videos whose decoded frames are also returned.

    Returns:
        tuple `(scores, labels, frames)`: dicts from video name to its
        frame scores (higher = more anomalous), to its labels (labelled
        videos only) and to its frames (the videos in `keep`).

    Raises:
        ValueError: if a video's label count differs from its frame count.
    """
    scores, labels, kept = {}, {}, {}
    for video in videos:
        frames = dataset.frames(video)
        video_labels = getattr(video, "labels", None)
        if video_labels is not None and len(video_labels) != len(frames):
            raise ValueError(
                f"Test video {video.name!r} has {len(video.labels)} labels "
                f"but {len(frames)} frames; each frame needs exactly one "
                "label."
            )
        scores[video.name] = frame_scores(
            model, frames, clip_length, index, batch_size
        )
        if video_labels is not None:
            labels[video.name] = video_labels
        if video.name in keep:
            kept[video.name] = frames
        logger.debug(
            "Scored test video %s (%d frames)", video.name, len(frames)
        )
    return scores, labels, kept


def warn_if_undefined(result, stacklevel=2):
    """Warn when the micro or the macro AUC of `result` is NaN, and why."""
    if np.isnan(result.micro_auc):
        warnings.warn(
            "The micro AUC is undefined (NaN): all scored frames of the "
            "labelled test videos belong to one class. The AUC needs both "
            "normal (0) and anomalous (1) frames.",
            stacklevel=stacklevel,
        )
    elif np.isnan(result.macro_auc):
        warnings.warn(
            "The macro AUC is undefined (NaN): no test video has both "
            "normal and anomalous scored frames.",
            stacklevel=stacklevel,
        )


def select_videos(dataset, videos=None):
    """The test videos of `dataset` to score: all, or those named.

    Args:
        dataset: an object with `testing_videos`.
        videos: None (all test videos), or a list of test videos or of
            their names. Defaults to None.

    Returns:
        list of videos.

    Raises:
        ValueError: a named video is not among the test videos, or there
            are no test videos.
    """
    test_videos = list(dataset.testing_videos)
    if not test_videos:
        raise ValueError(
            "The dataset has no test videos to score. Received: "
            f"dataset={dataset!r}"
        )
    if videos is None:
        return test_videos
    by_name = {video.name: video for video in test_videos}
    chosen = []
    for video in videos:
        name = video if isinstance(video, str) else video.name
        if name not in by_name:
            raise ValueError(
                f"Video {name!r} is not a test video of the dataset. "
                f"Test videos: {sorted(by_name)}"
            )
        chosen.append(by_name[name])
    return chosen


def plot_frame_scores(scores, labels=None, title=None, figsize=(6.4, 2.4)):
    """A matplotlib figure of one video's anomaly scores over its frames.

    The curve is the anomaly score (higher = more anomalous); frames
    labelled anomalous are shaded red. Uses matplotlib's Agg canvas (no
    display, no pyplot state).

    Args:
        scores: 1-D array of anomaly scores, NaN where unscored.
        labels: optional 1-D array of per-frame labels, 1 = anomalous.
            Defaults to None.
        title: optional figure title. Defaults to None.
        figsize: figure size in inches. Defaults to `(6.4, 2.4)`.

    Returns:
        `matplotlib.figure.Figure`.

    Raises:
        ImportError: matplotlib is missing (with the install command).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "Plotting frame scores needs matplotlib. Install it with: "
            'pip install "keras-constrict[plots]"'
        ) from error
    scores = np.asarray(scores, dtype="float64")
    figure = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    frames = np.arange(len(scores))
    if labels is not None:
        labels = np.asarray(labels).astype(bool)
        for start, stop in _runs(labels):
            axes.axvspan(
                start - 0.5, stop - 0.5, color="tab:red", alpha=0.25, lw=0
            )
    axes.plot(frames, scores, color="tab:blue", lw=1.2)
    axes.set_xlim(-0.5, max(len(scores) - 0.5, 0.5))
    axes.set_ylim(-0.05, 1.05)
    axes.set_xlabel("frame")
    axes.set_ylabel("anomaly score")
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def _runs(mask):
    """`(start, stop)` of each run of True values in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype("int8")
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


def figure_to_array(figure):
    """Render a matplotlib figure to an RGB uint8 array `(H, W, 3)`."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
