"""Constriction penalties as Keras regularizers.

Use them as `activity_regularizer=` of the encoder's last layer: Keras adds
the regularizer's value of that layer's output to the model's losses.
"""

import keras
from keras import ops

from keras_constrict import penalty as penalty_lib

# Keras 3.14 started dividing activity regularization by the batch size
# (keras-team/keras#22021). Return what that division turns into the mean.
_KERAS_DIVIDES_BY_BATCH = tuple(
    int(part) for part in keras.__version__.split(".")[:2]
) >= (3, 14)


class _ConstrictionRegularizer(keras.regularizers.Regularizer):
    kind = None

    def __init__(
        self, radius, weight=1.0, feature_axes=None, squared=False, epsilon=1e-6
    ):
        penalty_lib.set_penalty_options(
            self, radius, feature_axes, squared, epsilon
        )
        self.weight = penalty_lib.validate_weight(weight)

    def __call__(self, x):
        per_sample = penalty_lib.owner_penalty(self, x)
        if _KERAS_DIVIDES_BY_BATCH:
            return self.weight * ops.sum(per_sample)
        return self.weight * ops.mean(per_sample)

    def get_config(self):
        return {**penalty_lib.penalty_options(self), "weight": self.weight}


@keras.saving.register_keras_serializable(package="keras_constrict")
class SphereConstrictionRegularizer(_ConstrictionRegularizer):
    """Activity regularizer keeping latent vectors inside a sphere.

    Value: `weight * mean_f max(0, n(f) - radius)` over every latent vector
    `f` of the batch, `n(f) = sqrt(sum(f**2) + epsilon)`, squared terms if
    `squared=True`, computed in float32, is what the layer adds to the
    model's losses. Keras (3.14 and later) divides an activity
    regularizer's value by the batch size, so calling the regularizer
    directly returns the sum over samples there, the mean on older Keras.

    Args:
        radius: float > 0, the sphere's radius.
        weight: float >= 0, factor in the total loss. Defaults to 1.0.
        feature_axes: axes that form one latent vector. Defaults to None
            (time and channels for rank 5, channels for rank 4, the row for
            rank 2).
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.

    Example:

    >>> latent = keras.layers.Dense(
    ...     16,
    ...     activity_regularizer=SphereConstrictionRegularizer(radius=2.0),
    ... )(inputs)
    """

    kind = "sphere"


@keras.saving.register_keras_serializable(package="keras_constrict")
class SurfaceConstrictionRegularizer(_ConstrictionRegularizer):
    """Activity regularizer keeping latent vectors on a sphere's surface.

    Value: `weight * mean_f |n(f) - radius|` over every latent vector `f` of
    the batch, `n(f) = sqrt(sum(f**2) + epsilon)`, squared terms if
    `squared=True`, computed in float32, is what the layer adds to the
    model's losses. Keras (3.14 and later) divides an activity
    regularizer's value by the batch size, so calling the regularizer
    directly returns the sum over samples there, the mean on older Keras.

    Args:
        radius: float > 0, the sphere's radius.
        weight: float >= 0, factor in the total loss. Defaults to 1.0.
        feature_axes: axes that form one latent vector. Defaults to None
            (time and channels for rank 5, channels for rank 4, the row for
            rank 2).
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root. Defaults to 1e-6.

    Example:

    >>> latent = keras.layers.Dense(
    ...     16,
    ...     activity_regularizer=SurfaceConstrictionRegularizer(radius=2.0),
    ... )(inputs)
    """

    kind = "surface"
