"""AnomalyAUC and ConstrictionMonitor inside `fit`: logs keys, History,
EarlyStopping, ModelCheckpoint and the TensorBoard event files."""

import io
import pathlib
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

import keras_constrict
from keras_constrict import callbacks
from keras_constrict import scoring
from keras_constrict.data import AnomalyVideoDataset
from keras_constrict.data import make_synthetic_dataset

CLIP = 8
SIZE = 16
RADIUS = 0.5
WEIGHT = 0.1


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_synthetic_dataset(
        tmp_path_factory.mktemp("synthetic"),
        frame_size=(SIZE, SIZE),
        num_training_videos=2,
        num_testing_videos=3,
        num_frames=40,
    )
    return AnomalyVideoDataset(root, size=(SIZE, SIZE))


@pytest.fixture(scope="module")
def train_clips(dataset):
    frames = dataset.frames(dataset.training_videos[0])
    return np.stack([frames[i : i + CLIP] for i in range(0, 32, 2)])


def constricted_autoencoder(learning_rate=1e-2, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((CLIP, SIZE, SIZE, 1))
    x = keras.layers.Conv3D(
        4, 3, strides=(1, 2, 2), padding="same", activation="tanh"
    )(inputs)
    x = keras_constrict.SphereConstriction(
        radius=RADIUS, weight=WEIGHT, name="latent_constriction"
    )(x)
    outputs = keras.layers.Conv3DTranspose(
        1, 3, strides=(1, 2, 2), padding="same", activation="tanh"
    )(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def fit(model, clips, callback_list, epochs):
    return model.fit(
        clips,
        clips,
        batch_size=4,
        epochs=epochs,
        callbacks=callback_list,
        verbose=0,
    )


def test_history_holds_val_auc_equal_to_evaluate(dataset, train_clips):
    model = constricted_autoencoder()
    auc = callbacks.AnomalyAUC(dataset, clip_length=CLIP)

    history = fit(model, train_clips, [auc], epochs=2)

    assert len(history.history["val_auc"]) == 2
    assert len(history.history["val_auc_macro"]) == 2
    # The last epoch's logs were computed with the final weights.
    result = scoring.evaluate(model, dataset, clip_length=CLIP)
    assert history.history["val_auc"][-1] == result.micro_auc
    assert history.history["val_auc_macro"][-1] == result.macro_auc
    assert 0.0 <= result.micro_auc <= 1.0


def test_freq_scores_every_nth_epoch(dataset, train_clips):
    model = constricted_autoencoder()
    auc = callbacks.AnomalyAUC(dataset, freq=2, clip_length=CLIP)
    history = fit(model, train_clips, [auc], epochs=3)
    assert len(history.history["loss"]) == 3
    assert len(history.history["val_auc"]) == 1


def separable_dataset():
    """In-memory videos whose anomalies a zero reconstruction separates."""
    rng = np.random.default_rng(0)
    videos = []
    frames = {}
    for number in range(2):
        labels = np.zeros(30, dtype="int8")
        labels[12 + 3 * number : 20 + 3 * number] = 1
        amplitude = np.where(labels == 1, 0.9, 0.05)[:, None, None, None]
        noise = rng.uniform(0.9, 1.0, (30, SIZE, SIZE, 1))
        name = f"{number + 1:02d}"
        frames[name] = (amplitude * noise).astype("float32")
        videos.append(
            types.SimpleNamespace(name=name, labels=labels, num_frames=30)
        )
    return types.SimpleNamespace(
        testing_videos=videos, frames=lambda video: frames[video.name]
    )


def test_separable_anomalies_give_auc_one_in_history(train_clips):
    # A decoder that outputs ~0: the error is the frame's energy.
    model = constricted_autoencoder(learning_rate=0.0)
    last = model.layers[-1]
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    auc = callbacks.AnomalyAUC(separable_dataset(), clip_length=CLIP)
    history = fit(model, train_clips, [auc], epochs=1)
    assert history.history["val_auc"] == [1.0]
    assert history.history["val_auc_macro"] == [1.0]


def test_early_stopping_reads_val_auc(dataset, train_clips):
    # Learning rate 0: weights and AUC never change, so EarlyStopping with
    # patience 0 stops after the second epoch, which did not improve.
    model = constricted_autoencoder(learning_rate=0.0)
    auc = callbacks.AnomalyAUC(dataset, clip_length=CLIP)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=0
    )
    history = fit(model, train_clips, [auc, stop], epochs=10)
    assert len(history.history["val_auc"]) == 2
    assert history.history["val_auc"][0] == history.history["val_auc"][1]
    assert stop.stopped_epoch == 1


def test_model_checkpoint_keeps_best_val_auc(dataset, train_clips, tmp_path):
    model = constricted_autoencoder(learning_rate=5e-2)
    auc = callbacks.AnomalyAUC(dataset, clip_length=CLIP)
    path = tmp_path / "best.weights.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(
        path,
        monitor="val_auc",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    history = fit(model, train_clips, [auc, checkpoint], epochs=3)
    assert path.exists()
    assert checkpoint.best == max(history.history["val_auc"])
    # The file holds the weights of the best epoch.
    model.load_weights(path)
    result = scoring.evaluate(model, dataset, clip_length=CLIP)
    assert result.micro_auc == checkpoint.best


def one_class_dataset(dataset):
    videos = [
        types.SimpleNamespace(
            name=video.name,
            labels=np.zeros(video.num_frames, dtype="int8"),
            num_frames=video.num_frames,
        )
        for video in dataset.testing_videos
    ]
    return types.SimpleNamespace(testing_videos=videos, frames=dataset.frames)


def test_one_class_labels_warn_and_skip(dataset, train_clips):
    with pytest.warns(UserWarning) as record:
        auc = callbacks.AnomalyAUC(one_class_dataset(dataset), clip_length=CLIP)
    assert str(record[0].message) == (
        "The scored frames of the test videos are all of one class ([0]), so "
        "the AUC is undefined; AnomalyAUC will skip scoring. The test "
        "videos need both normal (0) and anomalous (1) frames."
    )
    history = fit(constricted_autoencoder(), train_clips, [auc], epochs=1)
    assert "val_auc" not in history.history
    assert auc.last_evaluation is None


def test_missing_labels_raise():
    dataset = types.SimpleNamespace(
        testing_videos=[types.SimpleNamespace(name="01", labels=None)],
        frames=None,
    )
    with pytest.raises(ValueError) as info:
        callbacks.AnomalyAUC(dataset)
    assert str(info.value) == (
        "AnomalyAUC needs per-frame labels (1 = anomalous) for the test "
        "videos, but none of the 1 has labels. Put one .npy file per video "
        "in testing/labels/."
    )


def test_bad_freq_raises(dataset):
    with pytest.raises(ValueError) as info:
        callbacks.AnomalyAUC(dataset, freq=0, clip_length=CLIP)
    assert str(info.value) == (
        "Argument `freq` must be an int >= 1 (run every `freq` epochs). "
        "Received: freq=0"
    )


def read_events(folder):
    """tag -> list of (step, plugin name, tensor as NumPy), from all event
    files under `folder`."""
    events = {}
    for path in sorted(pathlib.Path(folder).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tensor = tf.make_ndarray(value.tensor)
                events.setdefault(value.tag, []).append(
                    (event.step, plugin, tensor)
                )
    return events


def reference_term(model, clips):
    """weight * mean max(0, n - r) of the latent norms, in NumPy."""
    probe = keras.Model(
        model.inputs, model.get_layer("latent_constriction").output
    )
    latent = probe.predict(clips, verbose=0).astype("float64")
    # (B, T, H, W, C): one vector = the T*C values at each location.
    vectors = latent.transpose(0, 2, 3, 1, 4).reshape(
        len(latent), -1, latent.shape[1] * latent.shape[4]
    )
    norms = np.sqrt(np.sum(vectors**2, axis=-1) + 1e-6)
    return WEIGHT * np.mean(np.maximum(norms - RADIUS, 0.0)), norms


def test_tensorboard_events_hold_scalars_histograms_images(
    dataset, train_clips, tmp_path
):
    pytest.importorskip("matplotlib")
    from PIL import Image

    model = constricted_autoencoder()
    auc = callbacks.AnomalyAUC(
        dataset, clip_length=CLIP, log_dir=tmp_path, plot_videos=2
    )
    # TensorBoard first: AnomalyAUC writes its own summaries anyway.
    board = keras.callbacks.TensorBoard(tmp_path)
    history = fit(model, train_clips, [board, auc], epochs=2)

    validation = read_events(tmp_path / "validation")
    steps = [step for step, _, _ in validation["anomaly/auc"]]
    values = [float(value) for _, _, value in validation["anomaly/auc"]]
    assert steps == [0, 1]
    np.testing.assert_allclose(values, history.history["val_auc"], rtol=1e-6)
    macro = [float(v) for _, _, v in validation["anomaly/auc_macro"]]
    np.testing.assert_allclose(
        macro, history.history["val_auc_macro"], rtol=1e-6
    )
    evaluation = auc.last_evaluation
    for name in ("01", "02", "03"):
        _, plugin, value = validation[f"anomaly_video_auc/{name}"][-1]
        assert plugin == "scalars"
        assert float(value) == pytest.approx(evaluation.video_auc[name])

    for name in ("01", "02"):
        for tag in (f"anomaly_scores/{name}", f"reconstruction/{name}"):
            assert [step for step, _, _ in validation[tag]] == [0, 1]
            _, plugin, value = validation[tag][-1]
            assert plugin == "images"
            width, height = int(value[0]), int(value[1])
            image = Image.open(io.BytesIO(value[2]))
            assert image.size == (width, height)
        # frame | reconstruction | error for the most anomalous and the
        # most normal frame, 2-pixel gaps.
        _, _, value = validation[f"reconstruction/{name}"][-1]
        assert (int(value[0]), int(value[1])) == (3 * 18 - 2, 2 * 18 - 2)
    assert "anomaly_scores/03" not in validation

    train = read_events(tmp_path / "train")
    assert "epoch_loss" in train  # written by Keras' TensorBoard
    expected_term, norms = reference_term(model, auc._monitor.data)
    _, plugin, value = train["constriction/latent_constriction"][-1]
    assert plugin == "scalars"
    assert float(value) == pytest.approx(expected_term, rel=1e-4, abs=1e-7)
    _, _, radius = train["constriction/latent_constriction_radius"][-1]
    assert float(radius) == RADIUS
    _, _, outside = train["constriction/latent_constriction_outside"][-1]
    assert float(outside) == pytest.approx(np.mean(norms > RADIUS))
    reconstruction = auc._monitor.data - model.predict(
        auc._monitor.data, verbose=0
    )
    _, _, mse = train["constriction/reconstruction_mse"][-1]
    assert float(mse) == pytest.approx(np.mean(reconstruction**2), rel=1e-4)
    steps, plugin, histogram = train["latent_norms/latent_constriction"][-1]
    assert plugin == "histograms"
    # Buckets (left, right, count) hold every latent vector.
    assert histogram[:, 2].sum() == norms.size
    assert histogram[0, 0] == pytest.approx(norms.min(), rel=1e-5)
    assert histogram[-1, 1] == pytest.approx(norms.max(), rel=1e-5)
    _, plugin, _ = train["latent_norms_plot/latent_constriction"][-1]
    assert plugin == "images"


def test_monitor_clips_come_from_the_training_videos(dataset):
    clips = callbacks._monitor_clips(dataset, 8, CLIP)
    first = dataset.frames(dataset.training_videos[0])
    assert clips.shape == (8, CLIP, SIZE, SIZE, 1)
    np.testing.assert_array_equal(clips[0], first[:CLIP])
    last = dataset.frames(dataset.training_videos[-1])
    np.testing.assert_array_equal(clips[-1], last[-CLIP:])


def test_reconstruction_grid_layout():
    frames = np.full((2, 4, 5, 1), -1.0)
    frames[1] = 1.0
    reconstructions = np.zeros_like(frames)
    grid = callbacks.reconstruction_grid(frames, reconstructions, (-1, 1))
    assert grid.shape == (2 * 6 - 2, 3 * 7 - 2, 1)
    np.testing.assert_array_equal(grid[:4, :5], 0.0)  # frame -1 -> 0
    np.testing.assert_array_equal(grid[:4, 7:12], 0.5)  # reconstruction 0
    np.testing.assert_array_equal(grid[:4, 14:19], 0.5)  # |error| 1 of 2
    np.testing.assert_array_equal(grid[6:10, :5], 1.0)
    np.testing.assert_array_equal(grid[4:6], 1.0)  # white gap


def test_constriction_term_matches_numpy():
    layer = keras_constrict.SurfaceConstriction(
        radius=2.0, weight=0.5, squared=True
    )
    norms = np.array([0.5, 1.0, 2.0, 3.5])
    expected = 0.5 * np.mean((norms - 2.0) ** 2)
    assert callbacks.constriction_term(norms, layer) == pytest.approx(
        expected, rel=1e-6
    )


def test_evaluate_auc_agrees_with_sklearn_on_synthetic_set(dataset):
    model = constricted_autoencoder()
    result = scoring.evaluate(model, dataset, clip_length=CLIP)
    labels = np.concatenate(
        [video.labels[4:-3] for video in dataset.testing_videos]
    )
    scores = np.concatenate(
        [result.scores[video.name][4:-3] for video in dataset.testing_videos]
    )
    assert result.micro_auc == pytest.approx(roc_auc_score(labels, scores))


def test_without_matplotlib_curves_are_skipped_with_a_hint(
    dataset, train_clips, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    auc = callbacks.AnomalyAUC(
        dataset, clip_length=CLIP, log_dir=tmp_path, plot_videos=1
    )
    with pytest.warns(UserWarning) as record:
        fit(constricted_autoencoder(), train_clips, [auc], epochs=1)
    messages = [str(warning.message) for warning in record]
    assert (
        "matplotlib is not installed, so plot images are left out of "
        "TensorBoard. Install it with: pip install "
        '"keras-constrict[plots]"'
    ) in messages
    validation = read_events(tmp_path / "validation")
    assert "reconstruction/01" in validation
    assert "anomaly_scores/01" not in validation
    assert "latent_norms/latent_constriction" in read_events(tmp_path / "train")


def test_constriction_sites_find_layers_and_regularizers():
    from keras_constrict import regularizers

    inputs = keras.Input((8,))
    encoder_inputs = keras.Input((8,))
    latent = keras.layers.Dense(
        4,
        name="code",
        activity_regularizer=regularizers.SurfaceConstrictionRegularizer(1.0),
    )(encoder_inputs)
    encoder = keras.Model(encoder_inputs, latent, name="encoder")
    x = keras_constrict.SphereConstriction(2.0, name="outer")(encoder(inputs))
    model = keras.Model(inputs, keras.layers.Dense(8)(x))
    sites = callbacks.constriction_sites(model)
    assert [(layer.name, c.kind, c.radius) for layer, c in sites] == [
        ("code", "surface", 1.0),
        ("outer", "sphere", 2.0),
    ]
