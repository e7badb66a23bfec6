"""Callbacks that watch anomaly detection while `fit` trains.

- `AnomalyAUC` scores the test videos every `freq` epochs with the
  published protocol and adds `val_auc` (micro, the published figure) and
  `val_auc_macro` to the epoch logs, for History, EarlyStopping
  (`mode="max"`), ModelCheckpoint and TensorBoard. With `log_dir` it also
  writes its own TensorBoard summaries: the AUCs, per-video score curves
  with the anomalous frames shaded, and frames next to their
  reconstruction and error map.
- `ConstrictionMonitor` writes each constriction term, the reconstruction
  error, and histograms of the latent vector norms with the radius, all
  measured on a few held clips of normal data.

Both write with their own `tf.summary` file writers into `log_dir/train`
and `log_dir/validation`, the folders Keras' `TensorBoard` callback uses,
so their summaries appear in TensorBoard whatever the order of the
callbacks. Every value is computed in the callback from the model's
predictions (backend-neutral `keras.ops` and NumPy); TensorFlow is only
used to write the event files.
"""

import logging
import numbers
import os
import warnings

import keras
import numpy as np

from keras_constrict import scoring

__all__ = ["AnomalyAUC", "ConstrictionMonitor"]

logger = logging.getLogger(__name__)

_MATPLOTLIB_HINT = 'pip install "keras-constrict[plots]"'


def _check_freq(freq):
    return scoring._positive_int(freq, "freq", "run every `freq` epochs")


class _SummaryWriters:
    """Lazily opened `tf.summary` writers for the runs under one log_dir."""

    def __init__(self, log_dir):
        self.log_dir = os.fspath(log_dir)
        self._writers = {}

    def get(self, run):
        if run not in self._writers:
            import tensorflow as tf

            path = os.path.join(self.log_dir, run)
            self._writers[run] = tf.summary.create_file_writer(path)
        return self._writers[run]

    def flush(self):
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _have_matplotlib(owner):
    """True if matplotlib imports; else warn once per `owner` and False."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if not getattr(owner, "_warned_matplotlib", False):
            owner._warned_matplotlib = True
            warnings.warn(
                "matplotlib is not installed, so plot images are left out "
                f"of TensorBoard. Install it with: {_MATPLOTLIB_HINT}",
                stacklevel=3,
            )
        return False
    return True


def _to_unit(values, value_range):
    low, high = value_range
    span = high - low if high > low else 1.0
    return np.clip((values - low) / span, 0.0, 1.0)


def reconstruction_grid(frames, reconstructions, value_range=None):
    """An image of frames, their reconstructions and error maps, in rows.

    Each row holds one frame, its reconstruction and the absolute error
    `|frame - reconstruction|` (bright = large error), each scaled from
    `value_range` to `[0, 1]` (the error by the width of the range), with
    a 2-pixel white gap between the panels.

    Args:
        frames: float array `(rows, H, W, C)`.
        reconstructions: float array of the same shape.
        value_range: `(low, high)` of the pixel values. Defaults to None:
            the minimum and maximum of `frames`.

    Returns:
        float32 array `(rows * (H + 2) - 2, 3 * (W + 2) - 2, C)` in
        `[0, 1]`.
    """
    frames = np.asarray(frames, dtype="float32")
    reconstructions = np.asarray(reconstructions, dtype="float32")
    if value_range is None:
        value_range = (float(frames.min()), float(frames.max()))
    low, high = value_range
    span = high - low if high > low else 1.0
    error = np.abs(frames - reconstructions).mean(axis=-1, keepdims=True)
    error = np.clip(error / span, 0.0, 1.0)
    error = np.broadcast_to(error, frames.shape)
    rows, height, width, channels = frames.shape
    gap = 2
    grid = np.ones(
        (rows * (height + gap) - gap, 3 * (width + gap) - gap, channels),
        dtype="float32",
    )
    panels = (
        _to_unit(frames, value_range),
        _to_unit(reconstructions, value_range),
        error,
    )
    for row in range(rows):
        top = row * (height + gap)
        for column, panel in enumerate(panels):
            left = column * (width + gap)
            grid[top : top + height, left : left + width] = panel[row]
    return grid


def _walk_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if isinstance(layer, keras.Model):
            yield from _walk_layers(layer)


def constriction_sites(model):
    """The constricted layers of `model`, nested sub-models included.

    A site is a `SphereConstriction` / `SurfaceConstriction` layer, or a
    layer whose `activity_regularizer` is a constriction regularizer.

    Args:
        model: a Keras model.

    Returns:
        list of `(layer, constriction)` pairs: the layer whose output is
        the latent, and the object holding `kind`, `radius`, `weight`,
        `feature_axes`, `squared` and `epsilon` (the layer itself or its
        regularizer).
    """
    from keras_constrict import layers as layers_lib
    from keras_constrict import regularizers as regularizers_lib

    layer_types = tuple(layers_lib.CONSTRICTION_LAYERS.values())
    regularizer_types = regularizers_lib._ConstrictionRegularizer
    sites = []
    for layer in _walk_layers(model):
        if isinstance(layer, layer_types):
            sites.append((layer, layer))
        elif isinstance(
            getattr(layer, "activity_regularizer", None), regularizer_types
        ):
            sites.append((layer, layer.activity_regularizer))
    return sites


def constriction_term(norms, constriction):
    """The loss term `weight * penalty` that given latent norms produce.

    Args:
        norms: 1-D array of latent vector norms `n(f)` (as returned by
            `keras_constrict.latent_norms`).
        constriction: a constriction layer or regularizer (has `kind`,
            `radius`, `weight` and `squared`).

    Returns:
        float, `weight * mean_f max(0, n(f) - radius)` for the sphere,
        `weight * mean_f |n(f) - radius|` for the surface (terms squared
        when `squared`).
    """
    from keras_constrict import penalty as penalty_lib

    terms = penalty_lib.penalty_terms(
        np.asarray(norms, dtype="float32"),
        constriction.radius,
        constriction.kind,
        constriction.squared,
    )
    value = keras.ops.mean(terms)
    return constriction.weight * float(keras.ops.convert_to_numpy(value))


class ConstrictionMonitor(keras.callbacks.Callback):
    """Writes each constriction term and the latent norms to TensorBoard.

    Every `freq` epochs the model runs in inference mode on `data`, a few
    clips of normal data, and the callback writes into `log_dir/train`:

    - `constriction/reconstruction_mse`: mean squared error over all
      pixels and frames of `data`, the reconstruction term of the loss;
    - `constriction/<layer>`: each constriction term as it enters the
      loss, `weight * penalty`, computed from the latent norms of `data`
      with the penalty function the layer uses;
    - `constriction/<layer>_radius` and `constriction/<layer>_outside`
      (the fraction of latent vectors whose norm exceeds the radius);
    - histogram `latent_norms/<layer>` of the latent vector norms and,
      with matplotlib, an image `latent_norms_plot/<layer>` of the same
      histogram with the radius drawn in.

    The values are measured on held data with the current weights, not
    averaged over the epoch's training batches as `loss` is; they are
    computed here rather than by metrics inside the layers, which would
    not work on every backend. Latent norms are read with
    `keras_constrict.latent_norms`, so the constricted layers must sit in
    a Sequential or functional model (nested ones included); for a
    subclassed model only the reconstruction error is written.

    Args:
        data: float array of clips `(clips, T, H, W, C)`, normal data as
            the model sees it. Keep it small (a few clips).
        log_dir: folder of the TensorBoard logs (the `TensorBoard`
            callback's `log_dir`).
        freq: int, write every `freq` epochs. Defaults to 1.
        batch_size: int, clips per model call. Defaults to 8.
        plots: bool, also write the histogram-with-radius image (needs
            matplotlib). Defaults to True.

    Example:

    >>> monitor = keras_constrict.callbacks.ConstrictionMonitor(
    ...     clips[:8], log_dir="logs")
    >>> model.fit(train, epochs=10, callbacks=[monitor,
    ...     keras.callbacks.TensorBoard("logs")])
    """

    def __init__(self, data, log_dir, freq=1, batch_size=8, plots=True):
        super().__init__()
        data = np.asarray(data)
        if data.ndim < 2 or len(data) == 0:
            raise ValueError(
                "Argument `data` must be a non-empty array of model inputs "
                "(clips of normal data). Received: data.shape="
                f"{data.shape}"
            )
        self.data = data.astype("float32", copy=False)
        self.log_dir = os.fspath(log_dir)
        self.freq = _check_freq(freq)
        self.batch_size = scoring._check_batch_size(batch_size)
        self.plots = bool(plots)
        self._writers = None
        self._sites = None
        self.last_values = {}

    def on_train_begin(self, logs=None):
        self._writers = _SummaryWriters(self.log_dir)
        self._sites = constriction_sites(self.model)
        if not self._sites:
            logger.info(
                "Model %s has no constriction layer or regularizer; only "
                "the reconstruction error is written.",
                self.model.name,
            )

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.freq:
            return
        self.write(epoch)

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._writers.close()

    def measure(self):
        """Reconstruction error, terms and latent norms on `data`, now.

        Returns:
            tuple `(values, norms)`: `values` maps scalar tags to floats,
            `norms` maps layer names to arrays of latent vector norms.
        """
        import keras_constrict

        squared_errors = []
        for start in range(0, len(self.data), self.batch_size):
            batch = self.data[start : start + self.batch_size]
            output = np.asarray(scoring.predict_batch(self.model, batch))
            squared_errors.append(np.square(output - batch, dtype="float64"))
        values = {
            "constriction/reconstruction_mse": float(
                np.mean(np.concatenate(squared_errors))
            )
        }
        norms = {}
        for layer, constriction in list(self._sites or []):
            try:
                layer_norms = keras_constrict.latent_norms(
                    self.model,
                    layer,
                    self.data,
                    feature_axes=constriction.feature_axes,
                    batch_size=self.batch_size,
                )
            except ValueError as error:
                warnings.warn(
                    f"Cannot read the latent norms of layer {layer.name!r}, "
                    f"so its constriction term is not written: {error}",
                    stacklevel=2,
                )
                self._sites.remove((layer, constriction))
                continue
            norms[layer.name] = layer_norms
            values[f"constriction/{layer.name}"] = constriction_term(
                layer_norms, constriction
            )
            values[f"constriction/{layer.name}_radius"] = constriction.radius
            values[f"constriction/{layer.name}_outside"] = float(
                np.mean(layer_norms > constriction.radius)
            )
        return values, norms

    def write(self, epoch):
        """Measure now and write the summaries at step `epoch`."""
        import tensorflow as tf

        if self._sites is None:
            self._sites = constriction_sites(self.model)
        if self._writers is None:
            self._writers = _SummaryWriters(self.log_dir)
        values, norms = self.measure()
        self.last_values = values
        with self._writers.get("train").as_default():
            for tag, value in values.items():
                tf.summary.scalar(tag, value, step=epoch)
            for name, layer_norms in norms.items():
                tf.summary.histogram(
                    f"latent_norms/{name}", layer_norms, step=epoch
                )
            if self.plots and norms and _have_matplotlib(self):
                for name, layer_norms in norms.items():
                    radius = values[f"constriction/{name}_radius"]
                    image = _norm_histogram_image(layer_norms, radius, name)
                    tf.summary.image(
                        f"latent_norms_plot/{name}", image[None], step=epoch
                    )
        self._writers.flush()


def _norm_histogram_image(norms, radius, name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.8, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(norms, bins=40, color="tab:blue", alpha=0.8)
    axes.axvline(radius, color="tab:red", lw=1.5, label=f"radius {radius:g}")
    axes.set_xlabel("latent vector norm")
    axes.set_ylabel("vectors")
    axes.set_title(name, fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return scoring.figure_to_array(figure)


def _monitor_clips(dataset, count, clip_length):
    """Up to `count` windows spread evenly over the training videos."""
    videos = list(getattr(dataset, "training_videos", None) or [])
    lengths = [getattr(video, "num_frames", None) for video in videos]
    if not videos or any(length is None for length in lengths):
        return None
    windows = np.maximum(np.asarray(lengths) - clip_length + 1, 0)
    total = int(windows.sum())
    if total == 0:
        return None
    picks = np.unique(np.linspace(0, total - 1, count).round().astype(int))
    bounds = np.cumsum(windows)
    clips = []
    for video_index in np.unique(np.searchsorted(bounds, picks, side="right")):
        frames = dataset.frames(videos[video_index])
        first = bounds[video_index] - windows[video_index]
        for pick in picks[(picks >= first) & (picks < bounds[video_index])]:
            start = int(pick - first)
            clips.append(frames[start : start + clip_length])
    return np.stack(clips).astype("float32")


class AnomalyAUC(keras.callbacks.Callback):
    """Scores the test videos every `freq` epochs and logs the frame AUC.

    At the end of every `freq`-th epoch each test video is scored with
    `keras_constrict.scoring.frame_scores` (the published protocol:
    reconstruction PSNR of the middle frame of every window, normalised
    per video; higher score = more anomalous) and two keys are added to
    the epoch logs:

    - `val_auc`: frame-level ROC AUC over all test videos concatenated
      (micro AUC, the published figure);
    - `val_auc_macro`: mean AUC over the test videos that have both
      classes (left out, with a warning at construction, when none has).

    History records them, and `EarlyStopping(monitor="val_auc",
    mode="max")` and `ModelCheckpoint(monitor="val_auc", mode="max")` use
    them. Keras calls callbacks in list order, so list `AnomalyAUC` before
    EarlyStopping and ModelCheckpoint (History always comes last). On the
    other epochs the keys are absent.

    With `log_dir` the callback writes TensorBoard summaries itself, so
    the order relative to Keras' `TensorBoard` callback does not matter.
    Into `log_dir/validation`: scalars `anomaly/auc`, `anomaly/auc_macro`
    and `anomaly_video_auc/<video>`; images `anomaly_scores/<video>` (the
    score curve with anomalous frames shaded; needs matplotlib) and
    `reconstruction/<video>` (the most anomalous and the most normal
    frame, each next to its reconstruction and error map). Into
    `log_dir/train`: the constriction terms and latent norm histograms of
    `ConstrictionMonitor`, measured on `monitor_clips` windows of the
    training videos. (Listed before `TensorBoard`, the logs keys are also
    drawn by it as `epoch_auc` and `epoch_auc_macro`.)

    If the scored frames of the labelled test videos are all of one
    class, the AUC is undefined: the callback warns at construction and
    skips its work.

    Args:
        dataset: a `keras_constrict.data.AnomalyVideoDataset`, or any object
            with `testing_videos` (each with `name` and per-frame `labels`,
            1 = anomalous) and `frames(video)`; optionally
            `training_videos` (with `num_frames`) for the monitor clips
            and `value_range` for the images.
        freq: int, score every `freq` epochs. Defaults to 1.
        clip_length: int, frames per window. Defaults to 16.
        target: the frame each window scores: `"middle"`, `"last"` or an
            int index. Defaults to `"middle"`.
        batch_size: int, windows per model call. Defaults to 8.
        log_dir: folder of the TensorBoard logs, or None to only add the
            logs keys. Defaults to None.
        videos: optional list of test videos (or names) to score instead
            of all. Defaults to None.
        plot_videos: int, how many test videos (the first ones) get score
            curve and reconstruction images, or a list of names. Defaults
            to 4.
        monitor_clips: int, training windows for `ConstrictionMonitor`
            (0 to switch it off). Defaults to 8.

    Raises:
        ValueError: bad arguments, or no test video has labels.

    Example:

    >>> dataset = keras_constrict.data.AnomalyVideoDataset(root, size=(64, 64))
    >>> auc = keras_constrict.callbacks.AnomalyAUC(dataset, log_dir="logs")
    >>> model.fit(
    ...     dataset.train_dataset(),
    ...     epochs=20,
    ...     callbacks=[
    ...         auc,
    ...         keras.callbacks.EarlyStopping("val_auc", mode="max"),
    ...         keras.callbacks.TensorBoard("logs"),
    ...     ],
    ... )
    """

    def __init__(
        self,
        dataset,
        freq=1,
        clip_length=16,
        target="middle",
        batch_size=8,
        log_dir=None,
        videos=None,
        plot_videos=4,
        monitor_clips=8,
    ):
        super().__init__()
        self.dataset = dataset
        self.freq = _check_freq(freq)
        self.clip_length = clip_length
        self.target = target
        self.target_index = scoring.target_index(clip_length, target)
        self.batch_size = scoring._check_batch_size(batch_size)
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.videos = scoring.select_videos(dataset, videos)
        names = [video.name for video in self.videos]
        if isinstance(plot_videos, numbers.Integral):
            self.plot_videos = names[: max(int(plot_videos), 0)]
        else:
            self.plot_videos = [
                video if isinstance(video, str) else video.name
                for video in plot_videos
            ]
            unknown = sorted(set(self.plot_videos) - set(names))
            if unknown:
                raise ValueError(
                    f"Argument `plot_videos` names videos that are not "
                    f"scored: {unknown}. Scored videos: {names}"
                )
        self.monitor_clips = int(monitor_clips)
        self._check_labels()
        self._writers = None
        self._monitor = None
        self.last_evaluation = None

    def _check_labels(self):
        scored = [
            scoring.scored_labels(
                video.labels, self.clip_length, self.target_index
            )
            for video in self.videos
            if getattr(video, "labels", None) is not None
        ]
        if not scored:
            raise ValueError(
                "AnomalyAUC needs per-frame labels (1 = anomalous) for the "
                f"test videos, but none of the {len(self.videos)} has "
                "labels. Put one .npy file per video in testing/labels/."
            )
        classes = np.unique(np.concatenate(scored))
        self.skip = classes.size < 2
        if self.skip:
            warnings.warn(
                "The scored frames of the test videos are all of one class "
                f"({classes.tolist()}), so the AUC is undefined; AnomalyAUC "
                "will skip scoring. The test videos need both normal (0) "
                "and anomalous (1) frames.",
                stacklevel=3,
            )
        self.has_macro = any(np.unique(labels).size == 2 for labels in scored)
        if not self.skip and not self.has_macro:
            warnings.warn(
                "No test video has both normal and anomalous scored frames, "
                "so there is no macro AUC; only `val_auc` is logged.",
                stacklevel=3,
            )

    def on_train_begin(self, logs=None):
        if self.log_dir is None or self.skip:
            return
        self._writers = _SummaryWriters(self.log_dir)
        if self.monitor_clips > 0 and self._monitor is None:
            clips = _monitor_clips(
                self.dataset, self.monitor_clips, self.clip_length
            )
            if clips is None:
                logger.info(
                    "No training videos with known lengths in the dataset; "
                    "constriction terms are not written."
                )
            else:
                self._monitor = ConstrictionMonitor(
                    clips, self.log_dir, batch_size=self.batch_size
                )
        if self._monitor is not None:
            self._monitor.set_model(self.model)
            self._monitor.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.skip or (epoch + 1) % self.freq:
            return
        scores, labels, plotted = scoring.score_videos(
            self.model,
            self.dataset,
            self.videos,
            self.clip_length,
            self.target_index,
            self.batch_size,
            keep=self.plot_videos if self._writers is not None else (),
        )
        evaluation = scoring.evaluate_scores(scores, labels)
        self.last_evaluation = evaluation
        if logs is not None:
            logs["val_auc"] = evaluation.micro_auc
            if self.has_macro:
                logs["val_auc_macro"] = evaluation.macro_auc
        logger.info(
            "Epoch %d: val_auc=%.4f val_auc_macro=%.4f",
            epoch + 1,
            evaluation.micro_auc,
            evaluation.macro_auc,
        )
        if self._writers is not None:
            self._write(epoch, evaluation, plotted)
        if self._monitor is not None:
            self._monitor.write(epoch)

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._writers.close()
            self._writers = None
        if self._monitor is not None:
            self._monitor.on_train_end(logs)

    def _write(self, epoch, evaluation, plotted):
        import tensorflow as tf

        with self._writers.get("validation").as_default():
            tf.summary.scalar("anomaly/auc", evaluation.micro_auc, step=epoch)
            if self.has_macro:
                tf.summary.scalar(
                    "anomaly/auc_macro", evaluation.macro_auc, step=epoch
                )
            for name, auc in evaluation.video_auc.items():
                if not np.isnan(auc):
                    tf.summary.scalar(
                        f"anomaly_video_auc/{name}", auc, step=epoch
                    )
            draw_curves = bool(plotted) and _have_matplotlib(self)
            for name, frames in plotted.items():
                scores = evaluation.scores[name]
                if draw_curves:
                    figure = scoring.plot_frame_scores(
                        scores,
                        evaluation.labels.get(name),
                        title=f"video {name} (higher = more anomalous)",
                    )
                    image = scoring.figure_to_array(figure)
                    tf.summary.image(
                        f"anomaly_scores/{name}", image[None], step=epoch
                    )
                grid = self._reconstruction_grid(frames, scores)
                if grid is not None:
                    tf.summary.image(
                        f"reconstruction/{name}", grid[None], step=epoch
                    )
        self._writers.flush()

    def _reconstruction_grid(self, frames, scores):
        """Most anomalous and most normal frame, reconstruction, error."""
        if np.isnan(scores).all():
            return None
        chosen = [int(np.nanargmax(scores)), int(np.nanargmin(scores))]
        if chosen[0] == chosen[1]:
            chosen = chosen[:1]
        starts = np.asarray(chosen) - self.target_index
        windows, reconstructions = scoring.reconstruct_windows(
            self.model, frames, starts, self.clip_length
        )
        return reconstruction_grid(
            windows[:, self.target_index],
            reconstructions[:, self.target_index],
            getattr(self.dataset, "value_range", None),
        )
