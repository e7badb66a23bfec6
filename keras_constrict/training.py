"""Train and evaluate the reference autoencoder on a video dataset.

`train(config)` is what `keras-constrict train` runs: it trains the
reference 3D-conv autoencoder, plain or constricted, with `model.fit` and
writes a run folder:

    RUN_DIR/
      run.json            the settings of the run (checked on restart)
      logs/               TensorBoard: train/ and validation/
      checkpoints/        best.keras (highest val_auc), last.keras
      state/              model.keras + progress.json, for resuming
      history.csv         one row per epoch
      results.json        final figures (written when the run completes)
      score_curves.png    anomaly score of every test video
      cache/              decoded frames, when cache="disk"

A run that is killed and started again with the same settings and folder
resumes from its last state save (every `checkpoint_seconds` and every
epoch end), skipping the batches it had already trained on, so it ends
with the same data order as an uninterrupted run. Nothing in the folder
is overwritten unless `overwrite=True`, and then the old files are moved
into `RUN_DIR/previous/<time>/`, not deleted.
"""

import csv
import dataclasses
import json
import logging
import math
import os
import pathlib
import shutil
import tempfile
import time

import numpy as np

logger = logging.getLogger(__name__)

CONSTRICTIONS = ("none", "sphere", "surface")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTIONS = ("none", "mirrored", "multiworker")
CACHES = ("memory", "disk", "none")
# Settings that may change between restarts of one run.
_RESTARTABLE = ("epochs", "checkpoint_seconds", "val_freq")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run (the options of `keras-constrict train`).

    Attributes:
        data: dataset root (see `keras_constrict.data.AnomalyVideoDataset`).
        out: run folder.
        constriction: "sphere", "surface" or "none".
        radius: the sphere's radius, or "auto": after `warmup_epochs`
            epochs without penalty, the `quantile` of the latent norms of
            training clips.
        weight: factor of the penalty.
        quantile: quantile of latent norms for radius "auto".
        warmup_epochs: epochs without penalty before an "auto" radius is
            measured; they count in `epochs`.
        epochs: total epochs.
        size: frames are resized to size x size.
        width: filter multiplier of the reference autoencoder.
        clip_length: frames per clip.
        stride: frames between training clip starts.
        batch_size: clips per batch (global, over all devices).
        learning_rate: Adam's learning rate.
        precision: "float32", "mixed_float16" or "mixed_bfloat16".
        distribute: "none", "mirrored" or "multiworker" (reads TF_CONFIG).
        cache: "memory", "disk" (RUN_DIR/cache) or "none" (decode every
            epoch).
        seed: seed of weights and data order.
        val_freq: score the test videos every `val_freq` epochs.
        checkpoint_seconds: seconds between state saves within an epoch.
        steps_per_epoch: batches per epoch; None for one pass over every
            training clip.
    """

    data: str
    out: str
    constriction: str = "sphere"
    radius: object = "auto"
    weight: float = 0.1
    quantile: float = 0.5
    warmup_epochs: int = 1
    epochs: int = 10
    size: int = 256
    width: float = 1.0
    clip_length: int = 16
    stride: int = 1
    batch_size: int = 4
    learning_rate: float = 1e-4
    precision: str = "float32"
    distribute: str = "none"
    cache: str = "memory"
    seed: int = 0
    val_freq: int = 1
    checkpoint_seconds: float = 60.0
    steps_per_epoch: object = None

    def validate(self):
        """Raise a `ValueError` naming the first bad setting."""
        choices = {
            "constriction": CONSTRICTIONS,
            "precision": PRECISIONS,
            "distribute": DISTRIBUTIONS,
            "cache": CACHES,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"Setting `{name}` must be one of {', '.join(allowed)}. "
                    f"Received: {name}={value!r}"
                )
        if self.radius != "auto":
            from keras_constrict.penalty import validate_radius

            self.radius = validate_radius(self.radius)
        positive_ints = ("epochs", "size", "clip_length", "stride")
        positive_ints += ("batch_size", "val_freq")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                value = None
            if value is None or value < 1:
                raise ValueError(
                    f"Setting `{name}` must be an integer >= 1. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        if self.size % 16:
            raise ValueError(
                "Setting `size` must be a multiple of 16 for the reference "
                f"autoencoder. Received: size={self.size}. Try "
                f"{max(16, 16 * round(self.size / 16))}."
            )
        if self.clip_length % 8:
            raise ValueError(
                "Setting `clip_length` must be a multiple of 8 for the "
                f"reference autoencoder. Received: clip_length="
                f"{self.clip_length}. The published setting is 16."
            )
        if self.constriction != "none" and self.radius == "auto":
            if not 0 <= self.warmup_epochs < self.epochs:
                raise ValueError(
                    "Setting `warmup_epochs` must be >= 0 and below "
                    f"`epochs` ({self.epochs}) for radius 'auto'. "
                    f"Received: warmup_epochs={self.warmup_epochs}"
                )
        return self

    def to_json(self):
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
        }


def _strategy(distribute):
    import tensorflow as tf

    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU")
        # Without GPUs, mirror over the logical CPU devices (one unless the
        # user split the CPU with tf.config.set_logical_device_configuration).
        devices = devices or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if distribute == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "distribute='multiworker' needs the TF_CONFIG environment "
                "variable describing the cluster and this worker's task, "
                "set on every worker before it starts. See "
                "tf.distribute.MultiWorkerMirroredStrategy."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and not has_chief
    )


def _prepare_run_dir(config, overwrite):
    """Create, resume or (when asked) archive the run folder.

    Returns:
        bool: True when an earlier start of this run is resumed.
    """
    out = pathlib.Path(config.out)
    run_file = out / "run.json"
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"--out {str(out)!r} is a file. Expected a folder for the run; "
            "choose another path."
        )
    entries = [p for p in out.iterdir()] if out.is_dir() else []
    if entries and overwrite:
        archive = out / "previous" / time.strftime("%Y%m%d-%H%M%S")
        archive.mkdir(parents=True)
        for entry in entries:
            if entry.name != "previous":
                shutil.move(str(entry), archive / entry.name)
        logger.warning("Moved the earlier run in %s to %s", out, archive)
        entries = []
    if entries and not run_file.exists():
        raise ValueError(
            f"--out {str(out)!r} is not empty and holds no keras-constrict "
            "run (no run.json). Choose an empty or new folder; nothing in "
            "it was changed."
        )
    if not entries:
        out.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps(config.to_json(), indent=2))
        return False

    earlier = json.loads(run_file.read_text())
    differing = [
        f"{name}: {earlier.get(name)!r} -> {value!r}"
        for name, value in config.to_json().items()
        if name not in _RESTARTABLE and earlier.get(name) != value
    ]
    if differing:
        raise ValueError(
            f"--out {str(out)!r} holds a run with other settings "
            f"({'; '.join(differing)}). Use a new --out, the same settings "
            "to resume it, or --overwrite to move it to "
            f"{str(out / 'previous')!r} and start again."
        )
    results = out / "results.json"
    if results.exists():
        finished = json.loads(results.read_text())
        done = finished.get("epochs_trained", 0)
        if finished.get("stopped_early"):
            raise ValueError(
                f"--out {str(out)!r} holds a run that a callback stopped "
                f"after {done} epochs. Evaluate it with `keras-constrict "
                f"evaluate --model {out}`, or pass --overwrite to move it "
                "aside and start again."
            )
        if done >= config.epochs:
            raise ValueError(
                f"--out {str(out)!r} holds a completed run of {done} epochs. "
                "Evaluate it with `keras-constrict evaluate --model "
                f"{out}`, raise --epochs to train on, or pass --overwrite."
            )
    run_file.write_text(json.dumps(config.to_json(), indent=2))
    return True


def _atomic_json(path, value):
    path = pathlib.Path(path)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=2))
    os.replace(temporary, path)


def _resume_callback_class():
    import keras

    class ResumeState(keras.callbacks.Callback):
        """Saves model, optimizer and position every few seconds."""

        def __init__(self, folder, progress, steps_per_epoch, seconds):
            super().__init__()
            self.folder = pathlib.Path(folder)
            self.progress = progress
            self.steps_per_epoch = steps_per_epoch
            self.seconds = seconds
            self._first_batch = progress["batch"]
            self._last_save = time.monotonic()

        def _write(self, epoch, batch):
            self.progress.update(epoch=epoch, batch=batch)
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / "model.tmp.keras"
            self.model.save(temporary)
            os.replace(temporary, self.folder / "model.keras")
            _atomic_json(self.folder / "progress.json", self.progress)
            self._last_save = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() - self._last_save >= self.seconds:
                done = self._first_batch + batch + 1
                if done < self.steps_per_epoch:
                    self._write(self._epoch, done)

        def on_epoch_end(self, epoch, logs=None):
            self._first_batch = 0
            logs = logs or {}
            auc = logs.get("val_auc")
            if auc is not None and auc > self.progress.get("best_val_auc", -1):
                self.progress["best_val_auc"] = float(auc)
            self._write(epoch + 1, 0)

    return ResumeState


def _work_around_keras_multiworker(model, strategy):
    """Let Keras 3.15's fit() train under MultiWorkerMirroredStrategy.

    TODO: drop once Keras handles multi-worker training. Keras 3.15 reduces
    every scalar a train step returns with `strategy.reduce("MEAN", value,
    axis=0)` under this strategy, which fails for scalars, and before that
    reduces a distributed input batch the same way to build the model. A
    model without a recorded strategy defers building to tracing (fit()
    runs in the strategy's scope, so training stays distributed), and a
    train function set in advance runs the same `train_step` on every
    replica and averages its logs over the replicas with `axis=None`.
    """
    import tensorflow as tf

    model._distribute_strategy = None

    @tf.function(reduce_retracing=True)
    def train_function(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {
            name: strategy.reduce("MEAN", value, axis=None)
            for name, value in logs.items()
        }

    model.train_function = train_function


def count_clips(videos, clip_length, stride):
    """Number of clips of `clip_length` frames, `stride` apart."""
    return sum(
        max(0, (video.num_frames - clip_length) // stride + 1)
        for video in videos
    )


def _compile(model, config, optimizer=None):
    import keras

    if optimizer is None:
        optimizer = keras.optimizers.Adam(config.learning_rate)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _build_model(config):
    from keras_constrict import layers as layers_lib
    from keras_constrict import models

    constriction = None
    if config.constriction != "none":
        auto = config.radius == "auto"
        constriction = layers_lib.make_constriction(
            config.constriction,
            # A placeholder until the warm-up ends; its weight is 0, so it
            # adds nothing to the loss.
            radius=1.0 if auto else config.radius,
            weight=0.0 if auto else config.weight,
            name=f"{config.constriction}_constriction",
        )
    return models.conv3d_autoencoder(
        (config.clip_length, config.size, config.size, 1),
        width=config.width,
        constriction=constriction,
    )


def _constriction_layer(model):
    from keras_constrict.layers import CONSTRICTION_LAYERS

    for layer in model.layers:
        if isinstance(layer, tuple(CONSTRICTION_LAYERS.values())):
            return layer
    return None


def _calibration_clips(dataset, config, count=32):
    """A fixed sample of training clips, spread over every video."""
    clips = dataset.clips(
        dataset.training_videos,
        clip_length=config.clip_length,
        stride=max(config.stride, config.clip_length // 2),
        shuffle=True,
        seed=config.seed,
    )
    return np.stack(list(clips.take(count).as_numpy_iterator()))


def train(config, overwrite=False, verbose="auto", callbacks=None):
    """Train the reference autoencoder as `config` says; see module doc.

    Args:
        config: a `TrainConfig`.
        overwrite: move an earlier run with other settings, or a completed
            one, into `RUN_DIR/previous/` and start again. Defaults to
            False (raise instead).
        verbose: Keras' `fit` verbosity. Defaults to "auto".
        callbacks: more Keras callbacks for `fit`, called after the run's
            own (so they see `val_auc`). One that sets
            `model.stop_training` (`EarlyStopping`) ends the run after that
            epoch: `results.json` records `epochs_trained` and
            `stopped_early`, and the run is complete (not resumed). With
            `restore_best_weights=True` the restored model is saved as
            `checkpoints/last.keras` and scored for `results.json`.
            `fit` is called once for the warm-up epochs and once after
            them, so `EarlyStopping`'s patience starts again when the
            constriction starts. Defaults to None.

    Returns:
        dict: the content of `results.json`.

    Raises:
        ValueError: bad settings, or a run folder holding another run.
    """
    import keras
    import tensorflow as tf

    from keras_constrict import callbacks as callbacks_lib
    from keras_constrict import scoring
    from keras_constrict import surgery
    from keras_constrict.data import AnomalyVideoDataset

    config.validate()
    # Created first: a multi-worker strategy must exist before other ops.
    strategy = _strategy(config.distribute)
    chief = _is_chief(strategy)
    dataset = AnomalyVideoDataset(config.data, size=(config.size,) * 2)
    if not dataset.testing_videos or not any(
        video.labels is not None for video in dataset.testing_videos
    ):
        raise ValueError(
            f"Dataset {config.data!r} has no labelled test videos, so no AUC "
            "can be computed. Expected testing/labels/NN.npy beside "
            "testing/frames/NN/."
        )
    state_dir = pathlib.Path(config.out) / "state"
    if chief:
        resumed = _prepare_run_dir(config, overwrite)
        out = pathlib.Path(config.out)
    else:
        # Other workers read the chief's state but write their copies of
        # logs and checkpoints where they harm nothing.
        resumed = (state_dir / "model.keras").exists()
        out = pathlib.Path(tempfile.mkdtemp(prefix="keras_constrict_worker"))
    keras.config.set_dtype_policy(config.precision)
    keras.utils.set_random_seed(config.seed)

    clips = count_clips(
        dataset.training_videos, config.clip_length, config.stride
    )
    # Under MultiWorkerMirroredStrategy tf.data's DATA auto-sharding hands
    # each worker every n-th element of the stream, and an element is a
    # batch: each worker trains on its own batches of `batch_size`, so one
    # pass over the clips takes 1/n as many steps.
    workers = (
        strategy.num_replicas_in_sync
        if config.distribute == "multiworker"
        else 1
    )
    steps_per_epoch = config.steps_per_epoch or math.ceil(
        clips / (config.batch_size * workers)
    )
    cache = {"memory": "memory", "none": None}.get(
        config.cache, str(pathlib.Path(config.out) / "cache" / "train.npy")
    )

    if cache is None:

        def stream_from(consumed):
            # Decoding every epoch: tf.data's seeded shuffle orders each
            # new iterator differently, so a fresh pipeline skipped by
            # `consumed` batches continues an interrupted run; under
            # tf.distribute the order may differ from one device's.
            return (
                dataset.train_dataset(
                    clip_length=config.clip_length,
                    stride=config.stride,
                    batch_size=config.batch_size,
                    shuffle=True,
                    seed=config.seed,
                )
                .repeat()
                .skip(consumed)
            )

    else:
        from keras_constrict.data.cache import FrameStore

        store = FrameStore.build(dataset, dataset.training_videos, cache)

        def stream_from(consumed):
            # A stateless order per epoch: exact resume, and the same
            # batches for one device or many.
            stream = store.epoch_batches(
                config.clip_length,
                config.stride,
                config.batch_size,
                config.seed,
            )
            return (
                stream.skip(consumed)
                .map(lambda clips: (clips, clips))
                .prefetch(tf.data.AUTOTUNE)
            )

    progress = {"epoch": 0, "batch": 0, "radius": None, "best_val_auc": -1.0}
    with strategy.scope():
        if resumed and (state_dir / "model.keras").exists():
            progress.update(
                json.loads((state_dir / "progress.json").read_text())
            )
            model = keras.saving.load_model(state_dir / "model.keras")
            logger.info(
                "Resuming %s at epoch %d, batch %d",
                config.out,
                progress["epoch"] + 1,
                progress["batch"],
            )
        else:
            model = _compile(_build_model(config), config)
    layer = _constriction_layer(model)
    warmup = (
        config.warmup_epochs
        if layer is not None and config.radius == "auto"
        else 0
    )

    auc = callbacks_lib.AnomalyAUC(
        dataset,
        freq=config.val_freq,
        clip_length=config.clip_length,
        log_dir=out / "logs",
    )
    best = keras.callbacks.ModelCheckpoint(
        out / "checkpoints" / "best.keras",
        monitor="val_auc",
        mode="max",
        save_best_only=True,
    )
    if progress["best_val_auc"] > -1:
        best.best = progress["best_val_auc"]
    last = keras.callbacks.ModelCheckpoint(out / "checkpoints" / "last.keras")
    # Every worker saves (saving a distributed model takes part in
    # collectives), the others into their scratch folder. Across workers
    # the clocks differ, so multi-worker runs save at epoch ends only.
    seconds = config.checkpoint_seconds
    if config.distribute == "multiworker":
        seconds = float("inf")
    resume = _resume_callback_class()(
        out / "state", progress, steps_per_epoch, seconds
    )
    user_callbacks = list(callbacks or [])
    callbacks = [
        auc,
        best,
        last,
        keras.callbacks.CSVLogger(out / "history.csv", append=True),
        keras.callbacks.TensorBoard(out / "logs"),
        resume,
        *user_callbacks,
    ]

    started = time.monotonic()
    stopped_early = False
    while progress["epoch"] < config.epochs:
        epoch, batch = progress["epoch"], progress["batch"]
        if layer is not None and epoch >= warmup and progress["radius"] is None:
            radius = config.radius
            if radius == "auto":
                radius = surgery.calibrate_radius(
                    model,
                    "latent",
                    _calibration_clips(dataset, config),
                    quantile=config.quantile,
                    batch_size=config.batch_size,
                )
            layer.radius, layer.weight = float(radius), config.weight
            progress["radius"] = float(radius)
            logger.info("Constriction radius %.4f", radius)
            # The best checkpoint is chosen among constricted epochs only.
            best.best = float("-inf")
            progress["best_val_auc"] = -1.0
            # Recompile so that the train step is traced with the penalty;
            # the optimizer and its state are kept.
            with strategy.scope():
                _compile(model, config, model.optimizer)
        end = (
            epoch + 1
            if batch
            else (warmup if epoch < warmup else config.epochs)
        )
        consumed = epoch * steps_per_epoch + batch
        if config.distribute == "multiworker":
            _work_around_keras_multiworker(model, strategy)
        with strategy.scope():
            model.fit(
                stream_from(consumed),
                initial_epoch=epoch,
                epochs=end,
                steps_per_epoch=steps_per_epoch - batch,
                callbacks=callbacks,
                shuffle=False,  # the dataset shuffles, reproducibly by seed
                verbose=verbose,
            )
        # A callback (EarlyStopping, TerminateOnNaN, ...) asked to stop.
        # fit() clears the flag when it starts, so the loop must look.
        if model.stop_training:
            stopped_early = progress["epoch"] < config.epochs
            break
    elapsed = time.monotonic() - started
    if stopped_early:
        logger.warning(
            "A callback stopped training after %d of %d epochs%s.",
            progress["epoch"],
            config.epochs,
            " (during the warm-up: the constriction never started)"
            if warmup and progress["radius"] is None
            else "",
        )
    # EarlyStopping(restore_best_weights=True) puts back earlier weights
    # after this epoch's checkpoints were saved: save and score those. It
    # records the epoch it stopped at; one that did not stop restored
    # nothing.
    restored = stopped_early and any(
        getattr(callback, "restore_best_weights", False)
        and getattr(callback, "stopped_epoch", 0) > 0
        for callback in user_callbacks
    )
    if restored:
        model.save(out / "checkpoints" / "last.keras")

    # The last epoch's model is the run's figure; the best checkpoint was
    # chosen on the test labels, so its AUC is an optimistic second figure.
    # AnomalyAUC has already scored the last epoch when it falls on
    # `val_freq` (the common case): reuse that rather than score again.
    evaluation = auc.last_evaluation
    if restored or evaluation is None or progress["epoch"] % config.val_freq:
        evaluation = scoring.evaluate(
            model, dataset, clip_length=config.clip_length
        )
    else:
        scoring.warn_if_undefined(evaluation)
    results = {
        "config": config.to_json(),
        "radius": progress["radius"],
        "epochs_trained": progress["epoch"],
        "stopped_early": stopped_early,
        "train_seconds_this_start": round(elapsed, 1),
        "micro_auc": evaluation.micro_auc,
        "macro_auc": evaluation.macro_auc,
        "video_auc": evaluation.video_auc,
        "best_val_auc": progress["best_val_auc"],
        "history": read_history(out / "history.csv"),
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
    }
    if chief:
        _atomic_json(out / "results.json", results)
        plot_score_curves(evaluation, out / "score_curves.png")
    return results


def read_history(path):
    """The per-epoch rows of a run's history.csv as lists by column."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    columns = {}
    for row in rows:
        for name, value in row.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = None
            columns.setdefault(name, []).append(value)
    return columns


def plot_score_curves(evaluation, path, max_videos=12):
    """Write one PNG with the anomaly score curve of each test video.

    Anomaly score: higher = more anomalous; labelled anomalous frames are
    shaded. Needs matplotlib; without it, logs a hint and writes nothing.

    Returns:
        pathlib.Path or None: the file written.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning(
            "Score curves not plotted: matplotlib is missing. Install it "
            'with pip install "keras-constrict[plots]".'
        )
        return None
    names = list(evaluation.scores)[:max_videos]
    columns = 3 if len(names) > 4 else 1
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.5 * columns, 1.8 * rows + 0.4))
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        axis = figure.add_subplot(rows, columns, index + 1)
        scores = np.asarray(evaluation.scores[name], dtype=float)
        labels = evaluation.labels.get(name)
        if labels is not None:
            axis.fill_between(
                np.arange(len(labels)),
                0,
                1,
                where=np.asarray(labels) > 0,
                color="tab:red",
                alpha=0.2,
                step="mid",
                linewidth=0,
            )
        axis.plot(scores, color="tab:blue", linewidth=1)
        auc = evaluation.video_auc.get(name, float("nan"))
        # A video whose frames are all one class has no AUC of its own.
        auc = "n/a (one class)" if np.isnan(auc) else f"{auc:.3f}"
        axis.set_title(f"video {name}  AUC {auc}", fontsize=8)
        axis.set_ylim(-0.05, 1.05)
        axis.tick_params(labelsize=7)
    figure.suptitle(
        "anomaly score (higher = more anomalous); shaded = labelled "
        f"anomalous; micro AUC {evaluation.micro_auc:.4f}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return pathlib.Path(path)


def evaluate_run(run_dir, data, checkpoint="best", out=None, batch_size=8):
    """Score a trained run on a dataset with the published protocol.

    Args:
        run_dir: a run folder written by `train`.
        data: dataset root with labelled test videos.
        checkpoint: "best", "last" or "state". Defaults to "best".
        out: folder for `evaluation.json` and `score_curves.png`; None for
            `RUN_DIR/evaluations/<dataset folder name>`. Defaults to None.
        batch_size: windows per model call. Defaults to 8.

    Returns:
        tuple: the `keras_constrict.scoring.Evaluation` and the folder
        written.
    """
    import keras

    from keras_constrict import scoring
    from keras_constrict.data import AnomalyVideoDataset

    run_dir = pathlib.Path(run_dir)
    run_file = run_dir / "run.json"
    if not run_file.exists():
        raise ValueError(
            f"--model {str(run_dir)!r} is not a keras-constrict run folder "
            "(no run.json). Pass the --out folder of `keras-constrict train`."
        )
    settings = json.loads(run_file.read_text())
    paths = {
        "best": run_dir / "checkpoints" / "best.keras",
        "last": run_dir / "checkpoints" / "last.keras",
        "state": run_dir / "state" / "model.keras",
    }
    if checkpoint not in paths:
        raise ValueError(
            "Argument `checkpoint` must be 'best', 'last' or 'state'. "
            f"Received: checkpoint={checkpoint!r}"
        )
    path = paths[checkpoint]
    if not path.exists():
        found = [name for name, p in paths.items() if p.exists()]
        raise ValueError(
            f"Run {str(run_dir)!r} has no {checkpoint} checkpoint ({path}). "
            f"Checkpoints present: {', '.join(found) or 'none'}."
        )
    model = keras.saving.load_model(path)
    dataset = AnomalyVideoDataset(data, size=(settings["size"],) * 2)
    evaluation = scoring.evaluate(
        model,
        dataset,
        clip_length=settings["clip_length"],
        batch_size=batch_size,
    )
    folder = pathlib.Path(
        out or run_dir / "evaluations" / pathlib.Path(data).resolve().name
    )
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_json(
        folder / "evaluation.json",
        {
            "model": str(path),
            "data": str(data),
            "micro_auc": evaluation.micro_auc,
            "macro_auc": evaluation.macro_auc,
            "video_auc": evaluation.video_auc,
        },
    )
    plot_score_curves(evaluation, folder / "score_curves.png")
    return evaluation, folder
