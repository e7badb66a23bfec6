"""Constriction layers, losses and regularizers inside real models."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_constrict
from keras_constrict.losses import SphereConstrictionLoss
from keras_constrict.losses import SurfaceConstrictionLoss
from keras_constrict.penalty import constriction_penalty
from keras_constrict.regularizers import SphereConstrictionRegularizer
from keras_constrict.regularizers import SurfaceConstrictionRegularizer

LAYERS = [
    keras_constrict.SphereConstriction,
    keras_constrict.SurfaceConstriction,
]


def dense_autoencoder(constriction=None, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16,))
    latent = keras.layers.Dense(8, name="latent")(inputs)
    if constriction is not None:
        latent = constriction(latent)
    outputs = keras.layers.Dense(16)(latent)
    return keras.Model(inputs, outputs)


def normal_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(4, 16))
    return (rng.normal(size=(n, 4)) @ basis).astype("float32")


@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_returns_input_and_adds_weighted_penalty(layer_class):
    x = np.random.default_rng(0).normal(size=(5, 3, 4, 6)).astype("float32")
    layer = layer_class(radius=2.0, weight=0.3)
    y = layer(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), x)
    assert len(layer.losses) == 1
    expected = 0.3 * float(constriction_penalty(x, 2.0, layer.kind))
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-6)


def test_loss_in_fit_equals_reconstruction_plus_weighted_penalty():
    x = normal_data(64)
    model = dense_autoencoder(
        keras_constrict.SurfaceConstriction(radius=1.0, weight=0.5)
    )
    model.compile(optimizer="sgd", loss="mse")
    reported = model.evaluate(x, x, batch_size=64, verbose=0)
    latent_model = keras.Model(model.inputs, model.get_layer("latent").output)
    latent = latent_model.predict(x, verbose=0)
    reconstruction = model.predict(x, verbose=0)
    expected = np.mean((reconstruction - x) ** 2) + 0.5 * float(
        constriction_penalty(latent, 1.0, "surface")
    )
    np.testing.assert_allclose(reported, expected, rtol=1e-4)


def test_sphere_constriction_bounds_latent_norms_after_fit():
    x = normal_data()
    radius = 1.0
    plain = dense_autoencoder(seed=1)
    constricted = dense_autoencoder(
        keras_constrict.SphereConstriction(radius=radius, weight=1.0), seed=1
    )
    norms = {}
    for name, model in (("plain", plain), ("constricted", constricted)):
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        model.fit(x, x, epochs=60, batch_size=32, verbose=0)
        norms[name] = keras_constrict.latent_norms(model, "latent", x)
    # The same network and data: without the penalty the latent grows far
    # past the radius, with it the typical latent vector ends inside.
    assert np.median(norms["plain"]) > 3 * radius
    assert np.median(norms["constricted"]) <= 1.05 * radius


@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_config_round_trip(layer_class):
    layer = layer_class(
        radius=3.0, weight=0.2, feature_axes=[1, 4], squared=True, name="c"
    )
    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert clone.get_config() == config
    assert (clone.radius, clone.weight, clone.feature_axes) == (
        3.0,
        0.2,
        (1, 4),
    )


def fitted_autoencoder(constriction, samples):
    """A dense autoencoder around `constriction`, fitted for one epoch."""
    x = normal_data(samples)
    model = dense_autoencoder(constriction)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    return model, x


def test_saved_model_loads_without_custom_objects(tmp_path):
    model, x = fitted_autoencoder(
        keras_constrict.SphereConstriction(radius=1.5, weight=0.1), 32
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    assert isinstance(loaded.layers[2], keras_constrict.SphereConstriction)
    np.testing.assert_allclose(
        loaded.evaluate(x, x, verbose=0),
        model.evaluate(x, x, verbose=0),
        rtol=1e-6,
    )


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    # A new interpreter that only imports the package, as a user's script
    # would: every serialisable class must be registered by that import.
    model, x = fitted_autoencoder(
        keras_constrict.SurfaceConstriction(radius=1.5, weight=0.1), 8
    )
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    script = (
        "import sys, numpy as np, keras_constrict, keras\n"
        "folder = sys.argv[1]\n"
        "model = keras.saving.load_model(folder + '/model.keras')\n"
        "x = np.load(folder + '/x.npy')\n"
        "np.save(folder + '/loaded.npy', model.predict(x, verbose=0))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    np.testing.assert_array_equal(
        np.load(tmp_path / "loaded.npy"), np.load(tmp_path / "expected.npy")
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"radius": 0.0}, "Received: radius=0.0"),
        ({"radius": None}, "Received: radius=None"),
        (
            {"radius": 1.0, "weight": -0.5},
            "Argument `weight` must be a finite number >= 0 (the factor of "
            "the penalty in the total loss). Received: weight=-0.5. Typical "
            "values for the reference autoencoder lie in 0.01..1.",
        ),
        (
            {"radius": 1.0, "feature_axes": [0]},
            "must not include the batch axis 0: each sample's latent "
            "vectors are penalised separately. Received: feature_axes=[0].",
        ),
    ],
)
@pytest.mark.parametrize("layer_class", LAYERS)
def test_bad_arguments_raise_at_construction(layer_class, kwargs, message):
    with pytest.raises(ValueError) as error:
        layer_class(**kwargs)
    assert message in str(error.value)


def test_axes_outside_rank_raise_when_model_is_built():
    layer = keras_constrict.SphereConstriction(radius=1.0, feature_axes=[3])
    with pytest.raises(ValueError, match="outside a latent of rank 2"):
        layer(keras.Input((8,)))


def test_rank_one_latent_raises_when_built():
    layer = keras_constrict.SphereConstriction(radius=1.0)
    with pytest.raises(ValueError, match="Received: a latent of rank 1"):
        layer.build((8,))


@pytest.mark.parametrize(
    "loss_class, regularizer_class, kind",
    [
        (SphereConstrictionLoss, SphereConstrictionRegularizer, "sphere"),
        (SurfaceConstrictionLoss, SurfaceConstrictionRegularizer, "surface"),
    ],
)
def test_losses_and_regularizers_equal_the_penalty(
    loss_class, regularizer_class, kind
):
    latent = np.random.default_rng(4).normal(size=(6, 4, 5)).astype("float32")
    expected = float(constriction_penalty(latent, 2.0, kind, squared=True))
    loss = loss_class(radius=2.0, squared=True)
    value = loss(np.zeros_like(latent), latent)
    np.testing.assert_allclose(float(value), expected, rtol=1e-6)
    regularizer = regularizer_class(radius=2.0, weight=0.5, squared=True)
    layer = keras.layers.Identity(activity_regularizer=regularizer)
    layer(latent)
    np.testing.assert_allclose(
        float(sum(layer.losses)), 0.5 * expected, rtol=1e-6
    )
    assert loss_class.from_config(loss.get_config()).get_config() == (
        loss.get_config()
    )
    assert (
        regularizer_class.from_config(regularizer.get_config()).get_config()
        == regularizer.get_config()
    )


def test_sample_weight_in_loss_class():
    latent = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    loss = SurfaceConstrictionLoss(radius=1.0)
    weights = np.array([1.0, 0.0, 0.0, 1.0], "float32")
    value = float(loss(np.zeros_like(latent), latent, sample_weight=weights))
    expected = (
        float(constriction_penalty(latent[[0, 3]], 1.0, "surface")) * 2 / 4
    )
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_regularizer_as_activity_regularizer_in_saved_model(tmp_path):
    x = normal_data(32)
    inputs = keras.Input((16,))
    latent = keras.layers.Dense(
        8,
        activity_regularizer=SphereConstrictionRegularizer(0.5, weight=0.2),
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(16)(latent))
    model.compile(optimizer="adam", loss="mse")
    latent_values = keras.Model(inputs, latent).predict(x, verbose=0)
    expected = np.mean((model.predict(x, verbose=0) - x) ** 2) + 0.2 * float(
        constriction_penalty(latent_values, 0.5, "sphere")
    )
    np.testing.assert_allclose(
        model.evaluate(x, x, batch_size=32, verbose=0), expected, rtol=1e-4
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        loaded.evaluate(x, x, batch_size=32, verbose=0), expected, rtol=1e-4
    )


def test_loss_class_on_a_two_output_model(tmp_path):
    x = normal_data(64)
    inputs = keras.Input((16,))
    latent = keras.layers.Dense(8, name="latent")(inputs)
    outputs = keras.layers.Dense(16, name="reconstruction")(latent)
    model = keras.Model(inputs, [outputs, latent])
    model.compile(
        optimizer="adam",
        loss=["mse", SphereConstrictionLoss(radius=1.0)],
        loss_weights=[1.0, 0.5],
    )
    dummy = np.zeros((64, 8), "float32")
    reported = model.evaluate(x, [x, dummy], batch_size=64, verbose=0)[0]
    reconstruction, latent_values = model.predict(x, verbose=0)
    expected = np.mean((reconstruction - x) ** 2) + 0.5 * float(
        constriction_penalty(latent_values, 1.0, "sphere")
    )
    np.testing.assert_allclose(reported, expected, rtol=1e-4)
    model.save(tmp_path / "two.keras")
    keras.saving.load_model(tmp_path / "two.keras")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_with_float32_penalty(policy):
    x = np.random.default_rng(6).uniform(-1, 1, (8, 4, 8, 8, 1))
    x = x.astype("float32")
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((4, 8, 8, 1))
        latent = keras.layers.Conv3D(
            4, 3, strides=2, padding="same", name="latent"
        )(inputs)
        layer = keras_constrict.SurfaceConstriction(radius=0.5, weight=1.0)
        constricted = layer(latent)
        outputs = keras.layers.Conv3DTranspose(
            1, 3, strides=2, padding="same", dtype="float32"
        )(constricted)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        if policy == "mixed_float16":
            assert isinstance(
                model.optimizer, keras.optimizers.LossScaleOptimizer
            )
        history = model.fit(x, x, epochs=2, batch_size=4, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
        dtype_of = keras.backend.standardize_dtype
        assert dtype_of(layer.losses[0].dtype) == "float32"
        compute_dtype = policy.split("_")[1]
        assert dtype_of(constricted.dtype) == compute_dtype
    finally:
        keras.config.set_dtype_policy("float32")
