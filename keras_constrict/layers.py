"""Pass-through layers that constrict the latent space of any encoder."""

import threading

import keras
from keras import ops

from keras_constrict import penalty as penalty_lib


class _Constriction(keras.layers.Layer):
    """Base of the constriction layers; `kind` is set by each subclass."""

    kind = None

    def __init__(
        self,
        radius,
        weight=1.0,
        feature_axes=None,
        squared=False,
        epsilon=1e-6,
        **kwargs,
    ):
        # A pass-through layer keeps its input's dtype, also under mixed
        # precision; the penalty casts to float32 on its own.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        penalty_lib.set_penalty_options(
            self, radius, feature_axes, squared, epsilon
        )
        self.weight = penalty_lib.validate_weight(weight)
        self.supports_masking = True

    def build(self, input_shape):
        # Raises now, while the model is being built, on a bad rank or axes.
        penalty_lib.resolve_feature_axes(self.feature_axes, len(input_shape))
        self.built = True

    def call(self, inputs):
        # The penalty is added on every call, so `loss` and `val_loss` mean
        # the same thing. `predict` returns only the model outputs and its
        # compiled graph prunes this unused branch: no inference cost
        # (benchmarks/inference_overhead.py measures it).
        if self.weight > 0:
            value = penalty_lib.owner_penalty(self, inputs)
            self.add_loss(self.weight * ops.mean(value))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    # Under tf.distribute.MirroredStrategy each replica calls this same layer
    # object in its own thread, and Keras 3.15 keeps `add_loss` values in
    # one list per layer: when the replicas meet at a synchronisation point
    # (synchronised BatchNorm, for one) each replica's total loss held both
    # replicas' penalties, doubling it. The three overrides below keep each
    # value with the thread that made it. They use private Keras methods;
    # tests/test_distributed.py fails if that ever stops working.
    def add_loss(self, loss):
        super().add_loss(loss)
        owners = self.__dict__.setdefault("_loss_owners", {})
        owners[id(loss)] = threading.get_ident()

    def _get_own_losses(self):
        owners = self.__dict__.get("_loss_owners", {})
        me = threading.get_ident()
        return [
            loss
            for loss in super()._get_own_losses()
            if owners.get(id(loss), me) == me
        ]

    def _clear_losses(self):
        owners = self.__dict__.get("_loss_owners", {})
        me = threading.get_ident()
        others = [
            loss for loss in self._losses if owners.get(id(loss), me) != me
        ]
        super()._clear_losses()
        self._losses.extend(others)
        self.__dict__["_loss_owners"] = {
            id(loss): owners[id(loss)] for loss in others
        }

    def get_config(self):
        config = super().get_config()
        config.update(penalty_lib.penalty_options(self), weight=self.weight)
        return config


@keras.saving.register_keras_serializable(package="keras_constrict")
class SphereConstriction(_Constriction):
    """Keeps latent vectors inside a sphere of radius `radius`.

    Returns its input unchanged and adds, through `add_loss`,

        weight * mean_f max(0, n(f) - radius)

    where `f` runs over the latent vectors of the batch and
    `n(f) = sqrt(sum(f**2) + epsilon)` (squared terms if `squared=True`).
    The penalty is computed in float32 under mixed precision. It appears in
    `loss` and `val_loss`; `predict` does not compute it.

    Args:
        radius: float > 0, the sphere's radius. Choose it by hand or with
            `keras_constrict.calibrate_radius`.
        weight: float >= 0, factor of the penalty in the total loss.
            Defaults to 1.0.
        feature_axes: axes that form one latent vector. Defaults to None:
            time and channels at each location for a `(B, T, H, W, C)`
            latent, channels for `(B, H, W, C)`, the row for `(B, D)`.
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.
        **kwargs: base layer arguments such as `name`.

    Call arguments:
        inputs: the latent tensor, batch axis first, rank >= 2.

    Returns:
        `inputs`, unchanged.

    Example:

    >>> inputs = keras.Input((32,))
    >>> latent = keras.layers.Dense(8)(inputs)
    >>> latent = keras_constrict.SphereConstriction(radius=2.0)(latent)
    >>> outputs = keras.layers.Dense(32)(latent)
    >>> model = keras.Model(inputs, outputs)

    Reference: Astrid, Zaheer, Lee, "Constricting Normal Latent Space for
    Anomaly Detection with Normal-only Training Data", 2024.
    """

    kind = "sphere"


@keras.saving.register_keras_serializable(package="keras_constrict")
class SurfaceConstriction(_Constriction):
    """Keeps latent vectors on the surface of a sphere of radius `radius`.

    Returns its input unchanged and adds, through `add_loss`,

        weight * mean_f |n(f) - radius|

    where `f` runs over the latent vectors of the batch and
    `n(f) = sqrt(sum(f**2) + epsilon)` (squared terms if `squared=True`).
    The penalty is computed in float32 under mixed precision. It appears in
    `loss` and `val_loss`; `predict` does not compute it.

    Args:
        radius: float > 0, the sphere's radius. Choose it by hand or with
            `keras_constrict.calibrate_radius`.
        weight: float >= 0, factor of the penalty in the total loss.
            Defaults to 1.0.
        feature_axes: axes that form one latent vector. Defaults to None:
            time and channels at each location for a `(B, T, H, W, C)`
            latent, channels for `(B, H, W, C)`, the row for `(B, D)`.
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.
        **kwargs: base layer arguments such as `name`.

    Call arguments:
        inputs: the latent tensor, batch axis first, rank >= 2.

    Returns:
        `inputs`, unchanged.

    Example:

    >>> encoder_output = keras.Input((2, 16, 16, 256))
    >>> latent = keras_constrict.SurfaceConstriction(
    ...     radius=10.0, weight=0.1
    ... )(encoder_output)

    Reference: Astrid, Zaheer, Lee, "Constricting Normal Latent Space for
    Anomaly Detection with Normal-only Training Data", 2024.
    """

    kind = "surface"


CONSTRICTION_LAYERS = {
    "sphere": SphereConstriction,
    "surface": SurfaceConstriction,
}


def make_constriction(kind, radius, weight=1.0, **options):
    """Build the constriction layer of `kind` ("sphere" or "surface")."""
    return CONSTRICTION_LAYERS[penalty_lib.validate_kind(kind)](
        radius, weight=weight, **options
    )
