"""Constriction penalties as Keras loss classes.

For models that output their latent (for example a two-output autoencoder
`[reconstruction, latent]`): give the latent output one of these losses
and the reconstruction output a reconstruction loss. `y_true` is ignored;
pass anything of the right batch size, such as the latent's zeros.
"""

import keras

from keras_constrict import penalty as penalty_lib


class _ConstrictionLoss(keras.losses.Loss):
    kind = None

    def __init__(
        self,
        radius,
        feature_axes=None,
        squared=False,
        epsilon=1e-6,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(
            name=name or f"{self.kind}_constriction",
            reduction=reduction,
            dtype=dtype,
        )
        penalty_lib.set_penalty_options(
            self, radius, feature_axes, squared, epsilon
        )

    def call(self, y_true, y_pred):
        # One value per sample, so `sample_weight` and the reduction work
        # as for any Keras loss; "sum_over_batch_size" gives the mean over
        # the batch and every latent vector.
        return penalty_lib.owner_penalty(self, y_pred)

    def get_config(self):
        config = super().get_config()
        config.update(penalty_lib.penalty_options(self))
        return config


@keras.saving.register_keras_serializable(package="keras_constrict")
class SphereConstrictionLoss(_ConstrictionLoss):
    """Penalty for latent vectors outside a sphere; `y_true` is ignored.

    Per sample: `mean_f max(0, n(f) - radius)` over its latent vectors `f`,
    `n(f) = sqrt(sum(f**2) + epsilon)`, squared terms if `squared=True`;
    then the loss's reduction (default: mean over the batch). Computed in
    float32.

    Args:
        radius: float > 0, the sphere's radius.
        feature_axes: axes that form one latent vector. Defaults to None
            (time and channels for rank 5, channels for rank 4, the row for
            rank 2).
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.
        name: loss name. Defaults to "sphere_constriction".
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        dtype: dtype of the loss computation. Defaults to None (float32).

    Example:

    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=["mse", SphereConstrictionLoss(radius=4.0)],
    ...     loss_weights=[1.0, 0.1],
    ... )
    """

    kind = "sphere"


@keras.saving.register_keras_serializable(package="keras_constrict")
class SurfaceConstrictionLoss(_ConstrictionLoss):
    """Penalty for latent vectors off a sphere's surface; `y_true` ignored.

    Per sample: `mean_f |n(f) - radius|` over its latent vectors `f`,
    `n(f) = sqrt(sum(f**2) + epsilon)`, squared terms if `squared=True`;
    then the loss's reduction (default: mean over the batch). Computed in
    float32.

    Args:
        radius: float > 0, the sphere's radius.
        feature_axes: axes that form one latent vector. Defaults to None
            (time and channels for rank 5, channels for rank 4, the row for
            rank 2).
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.
        name: loss name. Defaults to "surface_constriction".
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        dtype: dtype of the loss computation. Defaults to None (float32).

    Example:

    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=["mse", SurfaceConstrictionLoss(radius=4.0)],
    ...     loss_weights=[1.0, 0.1],
    ... )
    """

    kind = "surface"
