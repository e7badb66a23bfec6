"""The latent constriction penalty, written once for layers, losses and
regularizers.

A latent tensor is split into latent feature vectors `f` (see
`default_feature_axes`). With `n(f) = sqrt(sum(f**2) + epsilon)` and a
radius `alpha`:

- `"sphere"` (inside the sphere): `mean over f of max(0, n(f) - alpha)`
- `"surface"` (on its surface): `mean over f of |n(f) - alpha|`

`squared=True` squares each term before the mean. The mean runs over the
batch and every vector, so the value does not change with batch size. The
penalty is always computed in float32, whatever the compute dtype of the
model (mixed precision).
"""

import math
import numbers

from keras import ops

KINDS = ("sphere", "surface")


def _finite_float(value, above_zero):
    """`(value as a float, whether it is valid)` for the numeric options.

    Valid: a real number (not a bool), finite, and > 0 if `above_zero` or
    >= 0 otherwise. The value is returned converted where it is a real
    number, so that messages show what was checked.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value, False
    value = float(value)
    positive = value > 0 if above_zero else value >= 0
    return value, math.isfinite(value) and positive


def validate_radius(radius):
    """Return `radius` as a float, or raise a `ValueError` saying why not."""
    radius, valid = _finite_float(radius, above_zero=True)
    if not valid:
        raise ValueError(
            "Argument `radius` must be a finite number greater than 0 (the "
            "norm latent vectors are constricted to). Received: "
            f"radius={radius!r}. Pass a float such as 1.0, or choose one "
            "from data with keras_constrict.calibrate_radius()."
        )
    return radius


def validate_weight(weight):
    """Return `weight` as a float, or raise a `ValueError` saying why not."""
    weight, valid = _finite_float(weight, above_zero=False)
    if not valid:
        raise ValueError(
            "Argument `weight` must be a finite number >= 0 (the factor of "
            f"the penalty in the total loss). Received: weight={weight!r}. "
            "Typical values for the reference autoencoder lie in 0.01..1."
        )
    return weight


def validate_kind(kind):
    """Return `kind`, or raise a `ValueError` listing the known kinds."""
    if kind not in KINDS:
        raise ValueError(
            "Argument `kind` must be 'sphere' (keep latent vectors inside "
            "the sphere) or 'surface' (keep them on its surface). "
            f"Received: kind={kind!r}"
        )
    return kind


def validate_epsilon(epsilon):
    """Return `epsilon` as a float, or raise a `ValueError`."""
    epsilon, valid = _finite_float(epsilon, above_zero=True)
    if not valid:
        raise ValueError(
            "Argument `epsilon` must be a small finite number > 0 (it keeps "
            "the norm differentiable at zero). "
            f"Received: epsilon={epsilon!r}. The default is 1e-6."
        )
    return epsilon


def validate_feature_axes(feature_axes):
    """Normalise `feature_axes` to a tuple of ints or None.

    Only what can be checked without the latent's rank is checked here:
    axis 0 is the batch axis and never part of a feature vector. Negative
    axes and axes beyond the rank are checked by `resolve_feature_axes`.
    """
    if feature_axes is None:
        return None
    if isinstance(feature_axes, numbers.Integral) and not isinstance(
        feature_axes, bool
    ):
        feature_axes = (int(feature_axes),)
    try:
        axes = tuple(feature_axes)
    except TypeError:
        axes = None
    if (
        not axes
        or any(
            isinstance(a, bool) or not isinstance(a, numbers.Integral)
            for a in axes
        )
        or len(set(axes)) != len(axes)
    ):
        raise ValueError(
            "Argument `feature_axes` must be None (the default for the "
            "latent's rank) or a non-empty list of distinct integer axes "
            f"that form one latent vector. Received: "
            f"feature_axes={feature_axes!r}"
        )
    axes = tuple(int(a) for a in axes)
    if 0 in axes:
        raise ValueError(
            "Argument `feature_axes` must not include the batch axis 0: "
            "each sample's latent vectors are penalised separately. "
            f"Received: feature_axes={list(axes)}. For a (batch, time, "
            "height, width, channels) latent use [1, 4]."
        )
    return axes


def set_penalty_options(owner, radius, feature_axes, squared, epsilon):
    """Validate the penalty's options and store them on `owner`.

    The layers, losses and regularizers share these attributes: `radius`,
    `feature_axes` (a tuple or None), `squared` and `epsilon`.
    """
    owner.radius = validate_radius(radius)
    owner.feature_axes = validate_feature_axes(feature_axes)
    owner.squared = bool(squared)
    owner.epsilon = validate_epsilon(epsilon)


def penalty_options(owner):
    """The options `set_penalty_options` stored, as a config dict."""
    axes = owner.feature_axes
    return {
        "radius": owner.radius,
        "feature_axes": None if axes is None else list(axes),
        "squared": owner.squared,
        "epsilon": owner.epsilon,
    }


def default_feature_axes(rank):
    """The axes that form one latent vector, by latent rank (channels-last).

    - rank 5 `(B, T, H, W, C)`: `(1, 4)`, all `T*C` values at a location.
    - rank 4 `(B, H, W, C)`: `(3,)`, the channels at a location.
    - rank 2 `(B, D)`: `(1,)`, the whole row.
    - any other rank >= 2: the last axis.

    Args:
        rank: int, rank of the latent tensor including the batch axis.

    Returns:
        tuple of ints.
    """
    if rank == 5:
        return (1, 4)
    return (rank - 1,)


def resolve_feature_axes(feature_axes, rank):
    """Feature axes for a latent of `rank`, validated, non-negative, sorted.

    Raises:
        ValueError: rank below 2, an axis outside the rank, or one that
            resolves to the batch axis.
    """
    if rank is None or rank < 2:
        raise ValueError(
            "A constricted latent must have a batch axis and at least one "
            f"feature axis (rank >= 2). Received: a latent of rank {rank}. "
            "Constrict the output of an encoder layer, not a scalar."
        )
    if feature_axes is None:
        return default_feature_axes(rank)
    resolved = []
    for axis in feature_axes:
        if not -rank <= axis < rank:
            raise ValueError(
                f"Argument `feature_axes` has axis {axis}, outside a latent "
                f"of rank {rank} (valid axes: 1..{rank - 1} or "
                f"-{rank - 1}..-1). Received: feature_axes="
                f"{list(feature_axes)}"
            )
        axis = axis % rank
        if axis == 0:
            raise ValueError(
                "Argument `feature_axes` resolves to the batch axis 0 for a "
                f"latent of rank {rank}. Received: feature_axes="
                f"{list(feature_axes)}. Use axes 1..{rank - 1}."
            )
        resolved.append(axis)
    return tuple(sorted(resolved))


def latent_vector_norms(latent, feature_axes=None, epsilon=1e-6):
    """Norms of the latent feature vectors, one per vector, in float32.

    `n(f) = sqrt(sum(f**2) + epsilon)` for each vector `f`.

    Args:
        latent: tensor of rank >= 2 with the batch axis first.
        feature_axes: axes forming one vector. Defaults to None, which
            means `default_feature_axes(rank)`.
        epsilon: small constant inside the square root. Defaults to 1e-6.

    Returns:
        float32 tensor of shape `(batch, vectors_per_sample)`.
    """
    latent = ops.convert_to_tensor(latent)
    rank = len(latent.shape)
    axes = resolve_feature_axes(validate_feature_axes(feature_axes), rank)
    other = [axis for axis in range(1, rank) if axis not in axes]
    latent = ops.cast(latent, "float32")
    # Vectors first within each sample, then their features, flattened.
    latent = ops.transpose(latent, (0, *other, *axes))
    shape = ops.shape(latent)
    vectors = math.prod(shape[1 : len(other) + 1])
    latent = ops.reshape(latent, (shape[0], vectors, -1))
    return ops.sqrt(ops.sum(ops.square(latent), axis=-1) + epsilon)


def per_sample_penalty(
    latent,
    radius,
    kind="sphere",
    feature_axes=None,
    squared=False,
    epsilon=1e-6,
):
    """The constriction penalty of each sample: its mean over vectors.

    Args: as for `constriction_penalty`.

    Returns:
        float32 tensor of shape `(batch,)`.
    """
    norms = latent_vector_norms(latent, feature_axes, epsilon)
    return ops.mean(penalty_terms(norms, radius, kind, squared), axis=-1)


def penalty_terms(norms, radius, kind="sphere", squared=False):
    """The penalty term of each latent vector, from its norm `n(f)`.

    `max(0, n - radius)` for the sphere, `|n - radius|` for the surface,
    squared if `squared`.

    Args:
        norms: float tensor of latent vector norms, any shape.
        radius: float > 0.
        kind: `"sphere"` or `"surface"`. Defaults to `"sphere"`.
        squared: bool. Defaults to False.

    Returns:
        tensor of the shape of `norms`.
    """
    distance = norms - radius
    if kind == "sphere":
        term = ops.relu(distance)
    else:
        term = ops.abs(distance)
    if squared:
        term = ops.square(term)
    return term


def owner_penalty(owner, latent):
    """`per_sample_penalty` with the options stored on a layer, loss or
    regularizer by `set_penalty_options` (and its `kind`)."""
    return per_sample_penalty(
        latent,
        owner.radius,
        owner.kind,
        owner.feature_axes,
        owner.squared,
        owner.epsilon,
    )


def constriction_penalty(
    latent,
    radius,
    kind="sphere",
    feature_axes=None,
    squared=False,
    epsilon=1e-6,
):
    """Constriction penalty of a batch of latents, a float32 scalar.

    With `n(f) = sqrt(sum(f**2) + epsilon)` for each latent vector `f`:

    - `kind="sphere"`: `mean_f max(0, n(f) - radius)` (inside the sphere)
    - `kind="surface"`: `mean_f |n(f) - radius|` (on the surface)

    `squared=True` squares each term before the mean. The mean runs over the
    batch and all vectors, so repeating samples does not change the value.

    Args:
        latent: tensor of rank >= 2, batch axis first, any float dtype.
        radius: float > 0, the sphere's radius.
        kind: `"sphere"` or `"surface"`. Defaults to `"sphere"`.
        feature_axes: axes that form one latent vector. Defaults to None:
            time and channels at each location for rank 5
            `(B, T, H, W, C)`, channels for rank 4, the whole row for
            rank 2, the last axis otherwise.
        squared: bool, square each term. Defaults to False.
        epsilon: float > 0 inside the square root, keeping the value and
            gradient finite at a zero latent. Defaults to 1e-6.

    Returns:
        float32 scalar tensor.

    Raises:
        ValueError: on an invalid radius, kind, feature axes or rank.

    Example:

    >>> latent = keras.random.normal((4, 2, 16, 16, 256))
    >>> penalty = constriction_penalty(latent, radius=10.0, kind="surface")
    """
    radius = validate_radius(radius)
    kind = validate_kind(kind)
    epsilon = validate_epsilon(epsilon)
    return ops.mean(
        per_sample_penalty(latent, radius, kind, feature_axes, squared, epsilon)
    )
