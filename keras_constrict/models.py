"""The reference 3D-convolutional autoencoder of the published baseline."""

import keras

# (filters, strides) of the encoder; the decoder mirrors it.
_ENCODER = ((96, (1, 2, 2)), (128, 2), (256, 2), (256, 2))
_DECODER = ((256, 2), (128, 2), (96, 2))


def _block(x, layer, name):
    x = layer(x)
    # PyTorch's BatchNorm defaults: momentum 0.1 (Keras 0.9), eps 1e-5.
    # On TensorFlow the batch statistics are synchronised across replicas,
    # so training under tf.distribute matches one device with the same
    # global batch.
    options = {}
    if keras.backend.backend() == "tensorflow":
        options["synchronized"] = True
    x = keras.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, name=f"{name}_bn", **options
    )(x)
    return x


def conv3d_autoencoder(
    input_shape=(16, 256, 256, 1),
    width=1.0,
    constriction=None,
    name="conv3d_autoencoder",
):
    """The baseline 3D-conv autoencoder, optionally constricted.

    Four Conv3D + BatchNorm + LeakyReLU(0.2) encoder blocks (96, 128, 256,
    256 filters, kernel 3, strides (1, 2, 2) then 2), the last one's output
    being the latent layer named `"latent"`, and a mirrored decoder of
    Conv3DTranspose blocks ending in one tanh channel. At width 1 and input
    `(16, 256, 256, 1)` it has 5,983,233 parameters, with a
    `(2, 16, 16, 256)` latent. Inputs are clips scaled to [-1, 1].

    Args:
        input_shape: `(frames, height, width, channels)`; frames a multiple
            of 8, height and width multiples of 16. Defaults to
            `(16, 256, 256, 1)`.
        width: float > 0, multiplier of every layer's filter count (for
            CPU-sized models). Defaults to 1.0.
        constriction: a `SphereConstriction` or `SurfaceConstriction` layer
            applied to the latent, or None for the plain baseline. Defaults
            to None.
        name: model name. Defaults to "conv3d_autoencoder".

    Returns:
        An uncompiled functional `keras.Model`; under a mixed-precision
        policy its output is float32.

    Example:

    >>> model = keras_constrict.models.conv3d_autoencoder(
    ...     input_shape=(16, 64, 64, 1),
    ...     width=0.25,
    ...     constriction=keras_constrict.SurfaceConstriction(radius=4.0),
    ... )
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    """
    input_shape = tuple(input_shape)
    valid = (
        len(input_shape) == 4
        and all(isinstance(d, int) and d > 0 for d in input_shape)
        and input_shape[0] % 8 == 0
        and input_shape[1] % 16 == 0
        and input_shape[2] % 16 == 0
    )
    if not valid:
        raise ValueError(
            "Argument `input_shape` must be (frames, height, width, "
            "channels) with frames a multiple of 8 and height and width "
            "multiples of 16, so that the decoder mirrors the encoder. "
            f"Received: input_shape={input_shape}. The published setting is "
            "(16, 256, 256, 1)."
        )
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        width = None
    if width is None or not width > 0:
        raise ValueError(
            "Argument `width` must be a number > 0 multiplying every "
            f"layer's filter count. Received: width={width!r}"
        )
    if constriction is not None and not isinstance(
        constriction, keras.layers.Layer
    ):
        raise ValueError(
            "Argument `constriction` must be a constriction layer such as "
            "keras_constrict.SphereConstriction(radius=...) or None. "
            f"Received: constriction={constriction!r}"
        )

    def filters(count):
        return max(1, int(round(count * width)))

    inputs = keras.Input(input_shape, name="clip")
    x = inputs
    for index, (count, strides) in enumerate(_ENCODER, start=1):
        x = _block(
            x,
            keras.layers.Conv3D(
                filters(count),
                3,
                strides=strides,
                padding="same",
                name=f"encoder{index}_conv",
            ),
            f"encoder{index}",
        )
        last = index == len(_ENCODER)
        x = keras.layers.LeakyReLU(
            0.2, name="latent" if last else f"encoder{index}_act"
        )(x)
    if constriction is not None:
        x = constriction(x)
    for index, (count, strides) in enumerate(_DECODER, start=1):
        x = _block(
            x,
            keras.layers.Conv3DTranspose(
                filters(count),
                3,
                strides=strides,
                padding="same",
                name=f"decoder{index}_conv",
            ),
            f"decoder{index}",
        )
        x = keras.layers.LeakyReLU(0.2, name=f"decoder{index}_act")(x)
    x = keras.layers.Conv3DTranspose(
        input_shape[-1],
        3,
        strides=(1, 2, 2),
        padding="same",
        name="decoder4_conv",
    )(x)
    outputs = keras.layers.Activation(
        "tanh", dtype="float32", name="reconstruction"
    )(x)
    return keras.Model(inputs, outputs, name=name)
