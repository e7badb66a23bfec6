"""GPU checks: skipped without a GPU unless pytest runs with --require-gpu."""

import keras
import numpy as np
import pytest

import keras_constrict
from keras_constrict.models import conv3d_autoencoder


@pytest.mark.gpu
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_full_size_model_trains_under_mixed_precision_on_gpu(policy):
    import tensorflow as tf

    assert tf.config.list_physical_devices("GPU"), "no GPU visible"
    keras.config.set_dtype_policy(policy)
    try:
        model = conv3d_autoencoder(
            constriction=keras_constrict.SurfaceConstriction(8.0, weight=0.1)
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
        clips = np.random.default_rng(0).uniform(-1, 1, (4, 16, 256, 256, 1))
        clips = clips.astype("float32")
        losses = [float(model.train_on_batch(clips, clips)) for _ in range(5)]
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
