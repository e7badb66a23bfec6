"""The reference autoencoder of METHOD.md section 3."""

import keras
import numpy as np
import pytest

import keras_constrict
from keras_constrict.models import conv3d_autoencoder


def conv_params(kernel_volume, inputs, outputs):
    return kernel_volume * inputs * outputs + outputs


def test_full_size_parameter_count_matches_the_table():
    model = conv3d_autoencoder()
    channels = [1, 96, 128, 256, 256, 256, 128, 96, 1]
    convs = sum(conv_params(27, a, b) for a, b in zip(channels, channels[1:]))
    batch_norms = 4 * sum(channels[1:-1])
    assert model.count_params() == convs + batch_norms == 5_983_233
    assert model.get_layer("latent").output.shape == (None, 2, 16, 16, 256)
    assert model.output.shape == (None, 16, 256, 256, 1)


def test_constricted_small_model_trains_and_reconstructs_its_shape():
    layer = keras_constrict.SurfaceConstriction(radius=2.0, weight=0.1)
    model = conv3d_autoencoder((8, 32, 32, 1), width=0.125, constriction=layer)
    assert model.get_layer(layer.name) is layer
    clips = np.random.default_rng(0).uniform(-1, 1, (4, 8, 32, 32, 1))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(clips, clips, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    output = model.predict(clips, verbose=0)
    assert output.shape == clips.shape
    assert np.all(np.abs(output) <= 1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (15, 256, 256, 1)}, "Received: input_shape=(15, "),
        ({"input_shape": (16, 250, 256, 1)}, "multiples of 16"),
        ({"width": 0}, "Received: width=0"),
        ({"constriction": "sphere"}, "Received: constriction='sphere'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        conv3d_autoencoder(**kwargs)
    assert message in str(error.value)


def test_mixed_bfloat16_output_is_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = conv3d_autoencoder((8, 16, 16, 1), width=0.125)
        assert keras.backend.standardize_dtype(model.output.dtype) == (
            "float32"
        )
    finally:
        keras.config.set_dtype_policy("float32")
