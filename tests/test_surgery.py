"""constrict(), latent_norms() and calibrate_radius() on real models."""

import keras
import numpy as np
import pytest

import keras_constrict
from keras_constrict.penalty import constriction_penalty

CLIPS = np.random.default_rng(0).uniform(-1, 1, (6, 4, 8, 8, 1))
CLIPS = CLIPS.astype("float32")


def sequential_autoencoder():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4, 8, 8, 1)),
            keras.layers.Conv3D(4, 3, strides=2, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(0.2, name="latent"),
            keras.layers.Conv3DTranspose(1, 3, strides=2, padding="same"),
        ],
        name="sequential_ae",
    )


def functional_autoencoder():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 8, 8, 1))
    x = keras.layers.Conv3D(4, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.LeakyReLU(0.2, name="latent")(x)
    outputs = keras.layers.Conv3DTranspose(1, 3, strides=2, padding="same")(x)
    return keras.Model(inputs, outputs, name="functional_ae")


def nested_autoencoder():
    keras.utils.set_random_seed(0)
    encoder_input = keras.Input((4, 8, 8, 1))
    x = keras.layers.Conv3D(4, 3, strides=2, padding="same")(encoder_input)
    x = keras.layers.LeakyReLU(0.2, name="latent")(x)
    encoder = keras.Model(encoder_input, x, name="encoder")
    decoder = keras.Sequential(
        [
            keras.Input((2, 4, 4, 4)),
            keras.layers.Conv3DTranspose(1, 3, strides=2, padding="same"),
        ],
        name="decoder",
    )
    inputs = keras.Input((4, 8, 8, 1))
    return keras.Model(inputs, decoder(encoder(inputs)), name="nested_ae")


def latent_of(model, clips):
    """Latent values computed independently of the package."""
    if model.name == "nested_ae":
        encoder = model.get_layer("encoder")
        return encoder.predict(clips, verbose=0)
    sub = keras.Model(model.inputs, model.get_layer("latent").output)
    return sub.predict(clips, verbose=0)


BUILDERS = [sequential_autoencoder, functional_autoencoder, nested_autoencoder]


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("kind", ["sphere", "surface"])
def test_constrict_adds_the_penalty_and_keeps_the_original(build, kind):
    model = build()
    before = [w.copy() for w in model.get_weights()]
    layer_count = len(model.layers)
    constricted = keras_constrict.constrict(
        model, "latent", kind=kind, radius=0.5, weight=0.7
    )

    assert type(constricted) is type(model)
    np.testing.assert_allclose(
        constricted.predict(CLIPS, verbose=0),
        model.predict(CLIPS, verbose=0),
        atol=1e-6,
    )
    constricted.compile(optimizer="adam", loss="mse")
    latent = latent_of(model, CLIPS)
    expected = np.mean(
        (model.predict(CLIPS, verbose=0) - CLIPS) ** 2
    ) + 0.7 * float(constriction_penalty(latent, 0.5, kind))
    reported = constricted.evaluate(CLIPS, CLIPS, batch_size=6, verbose=0)
    np.testing.assert_allclose(reported, expected, rtol=1e-4)

    # Weights are copies: training the new model leaves the original as it
    # was, and the original has no constriction and no losses.
    constricted.fit(CLIPS, CLIPS, epochs=2, batch_size=3, verbose=0)
    for old, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, now)
    assert len(model.layers) == layer_count
    model.compile(optimizer="adam", loss="mse")
    plain_loss = model.evaluate(CLIPS, CLIPS, batch_size=6, verbose=0)
    np.testing.assert_allclose(
        plain_loss,
        np.mean((model.predict(CLIPS, verbose=0) - CLIPS) ** 2),
        rtol=1e-5,
    )


def test_constricted_nested_model_saves_and_loads(tmp_path):
    constricted = keras_constrict.constrict(
        nested_autoencoder(), "encoder/latent", radius=1.0
    )
    names = [layer.name for layer in constricted.get_layer("encoder").layers]
    assert "latent_sphere_constriction" in names
    constricted.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_array_equal(
        loaded.predict(CLIPS, verbose=0),
        constricted.predict(CLIPS, verbose=0),
    )


def test_unknown_layer_lists_the_names_that_exist():
    with pytest.raises(ValueError) as error:
        keras_constrict.constrict(nested_autoencoder(), "z", radius=1.0)
    assert str(error.value).startswith(
        "Model 'nested_ae' has no layer named 'z'. Layers that exist: "
    )
    assert "encoder/latent" in str(error.value)
    assert "decoder" in str(error.value)


def test_ambiguous_name_asks_for_the_full_path():
    inner = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, name="z")], name="inner"
    )
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(3, name="z")(inner(inputs))
    model = keras.Model(inputs, outputs, name="outer")
    with pytest.raises(ValueError, match="has 2 layers named 'z': inner/z"):
        keras_constrict.constrict(model, "z", radius=1.0)
    constricted = keras_constrict.constrict(model, "inner/z", radius=1.0)
    assert any(
        isinstance(layer, keras_constrict.SphereConstriction)
        for layer in constricted.get_layer("inner").layers
    )


def test_subclassed_model_gets_a_clear_error():
    class Autoencoder(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.latent = keras.layers.Dense(2, name="latent")
            self.out = keras.layers.Dense(4)

        def call(self, x):
            return self.out(self.latent(x))

    model = Autoencoder()
    model(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="is a subclassed model"):
        keras_constrict.constrict(model, "latent", radius=1.0)


def test_bad_constriction_arguments_raise_before_any_work():
    with pytest.raises(ValueError, match="Received: kind='cube'"):
        keras_constrict.constrict(
            functional_autoencoder(), "latent", kind="cube", radius=1.0
        )
    with pytest.raises(ValueError, match="Received: radius=None"):
        keras_constrict.constrict(functional_autoencoder(), "latent")


@pytest.mark.parametrize("build", BUILDERS)
def test_latent_norms_and_calibrated_radius_match_numpy(build):
    model = build()
    latent = latent_of(model, CLIPS)
    # Vectors: all T*C values at each (h, w) location.
    vectors = np.transpose(latent, (0, 2, 3, 1, 4)).reshape(-1, 2 * 4)
    expected = np.sqrt((vectors.astype("float64") ** 2).sum(1) + 1e-6)
    norms = keras_constrict.latent_norms(model, "latent", CLIPS, batch_size=4)
    np.testing.assert_allclose(np.sort(norms), np.sort(expected), rtol=1e-4)
    radius = keras_constrict.calibrate_radius(
        model, "latent", CLIPS, quantile=0.9
    )
    np.testing.assert_allclose(radius, np.quantile(expected, 0.9), rtol=1e-4)


def test_latent_norms_from_a_dataset_of_pairs():
    import tensorflow as tf

    model = functional_autoencoder()
    dataset = tf.data.Dataset.from_tensor_slices((CLIPS, CLIPS)).batch(4)
    from_dataset = keras_constrict.latent_norms(model, "latent", dataset)
    from_array = keras_constrict.latent_norms(model, "latent", CLIPS)
    np.testing.assert_allclose(from_dataset, from_array, rtol=1e-5)


def test_calibrate_radius_rejects_bad_quantile():
    with pytest.raises(ValueError, match="Received: quantile=1.5"):
        keras_constrict.calibrate_radius(
            functional_autoencoder(), "latent", CLIPS, quantile=1.5
        )
