"""The penalty against a NumPy implementation of METHOD.md section 2."""

import numpy as np
import pytest
from keras import ops

import keras_constrict
from keras_constrict.penalty import constriction_penalty
from keras_constrict.penalty import latent_vector_norms


def numpy_penalty(latent, radius, kind, feature_axes, squared, eps=1e-6):
    latent = np.asarray(latent, dtype=np.float64)
    rank = latent.ndim
    if feature_axes is None:
        feature_axes = {5: (1, 4), 4: (3,), 2: (1,)}[rank]
    feature_axes = [a % rank for a in feature_axes]
    vector_axes = [a for a in range(rank) if a not in feature_axes]
    moved = np.transpose(latent, vector_axes + feature_axes)
    count = int(np.prod([latent.shape[a] for a in vector_axes]))
    vectors = moved.reshape(count, -1)
    norms = np.sqrt((vectors**2).sum(axis=1) + eps)
    if kind == "sphere":
        terms = np.maximum(0.0, norms - radius)
    else:
        terms = np.abs(norms - radius)
    if squared:
        terms = terms**2
    return terms.mean()


SHAPES = {2: (6, 12), 4: (3, 5, 4, 7), 5: (2, 3, 4, 5, 6)}


@pytest.mark.parametrize("kind", ["sphere", "surface"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("rank", [2, 4, 5])
def test_penalty_matches_numpy(kind, squared, rank):
    rng = np.random.default_rng(rank)
    latent = rng.normal(size=SHAPES[rank]).astype("float32")
    norms = np.sqrt((latent**2).sum(axis=-1))
    radius = float(np.median(norms))  # some vectors inside, some outside
    value = constriction_penalty(latent, radius, kind, squared=squared)
    expected = numpy_penalty(latent, radius, kind, None, squared)
    assert ops.convert_to_numpy(value).dtype == np.float32
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "feature_axes", [(2, 3), (-1,), (1, 2, 3, 4), (3,), [-4, 4]]
)
@pytest.mark.parametrize("kind", ["sphere", "surface"])
def test_custom_feature_axes_match_numpy(feature_axes, kind):
    latent = np.random.default_rng(1).normal(size=(2, 3, 4, 5, 6))
    latent = latent.astype("float32")
    value = constriction_penalty(latent, 2.5, kind, feature_axes=feature_axes)
    expected = numpy_penalty(latent, 2.5, kind, feature_axes, False)
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_default_vector_for_rank5_is_time_and_channels():
    # One vector per (h, w) location: T * C = 3 * 6 values.
    latent = np.zeros((2, 3, 4, 5, 6), "float32")
    latent[1, :, 2, 3, :] = 1.0
    norms = ops.convert_to_numpy(latent_vector_norms(latent))
    assert norms.shape == (2, 20)
    assert np.sum(norms > 1) == 1
    np.testing.assert_allclose(norms.max(), np.sqrt(18 + 1e-6), rtol=1e-6)


def test_invariant_to_batch_size_for_repeated_samples():
    latent = np.random.default_rng(2).normal(size=(3, 4, 4, 8))
    latent = latent.astype("float32")
    repeated = np.concatenate([latent] * 5)
    for kind in ("sphere", "surface"):
        one = float(constriction_penalty(latent, 1.5, kind))
        many = float(constriction_penalty(repeated, 1.5, kind))
        np.testing.assert_allclose(one, many, rtol=1e-6)


def _gradient(latent, radius, kind):
    import tensorflow as tf

    latent = tf.Variable(latent)
    with tf.GradientTape() as tape:
        value = constriction_penalty(latent, radius, kind)
    return value.numpy(), tape.gradient(value, latent).numpy()


def test_finite_value_and_gradient_at_zero_latent():
    for kind in ("sphere", "surface"):
        value, grad = _gradient(np.zeros((2, 8), "float32"), 1.0, kind)
        assert np.isfinite(value)
        assert np.all(np.isfinite(grad))
        assert np.all(grad == 0)


def test_sphere_gradient_is_zero_strictly_inside():
    # Row 0 has norm 0.5 (inside radius 1), row 1 norm 2 (outside).
    latent = np.array([[0.3, 0.4, 0.0], [0.0, 2.0, 0.0]], "float32")
    _, grad = _gradient(latent, 1.0, "sphere")
    np.testing.assert_array_equal(grad[0], 0.0)
    # Outside: the gradient points outward, so descent pulls the vector in.
    assert np.dot(grad[1], latent[1]) > 0


def test_surface_gradient_points_toward_the_surface_from_both_sides():
    latent = np.array([[0.3, 0.4, 0.0], [0.0, 2.0, 0.0]], "float32")
    _, grad = _gradient(latent, 1.0, "surface")
    # Inside: descent (-grad) points outward, toward the surface.
    assert np.dot(-grad[0], latent[0]) > 0
    # Outside: descent points inward, toward the surface.
    assert np.dot(-grad[1], latent[1]) < 0
    # Unit gradients along the vector: d|n - r|/df = +-f/n.
    np.testing.assert_allclose(
        np.abs(grad) * 2,
        np.abs(latent / np.linalg.norm(latent, axis=1, keepdims=True)),
        rtol=1e-4,
    )


def test_float16_latent_gives_float32_penalty():
    latent = np.random.default_rng(3).normal(size=(4, 6)).astype("float16")
    value = constriction_penalty(latent, 1.0, "surface")
    assert ops.convert_to_numpy(value).dtype == np.float32
    expected = numpy_penalty(
        latent.astype("float32"), 1.0, "surface", None, False
    )
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_public_name():
    assert keras_constrict.constriction_penalty is constriction_penalty


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"radius": -1.0},
            "Argument `radius` must be a finite number greater than 0 (the "
            "norm latent vectors are constricted to). Received: "
            "radius=-1.0. Pass a float such as 1.0, or choose one from data "
            "with keras_constrict.calibrate_radius().",
        ),
        ({"radius": 0}, "Received: radius=0.0."),
        ({"radius": float("nan")}, "Received: radius=nan."),
        ({"radius": float("inf")}, "Received: radius=inf."),
        ({"radius": "big"}, "Received: radius='big'."),
        ({"radius": True}, "Received: radius=True."),
        (
            {"kind": "ball"},
            "Argument `kind` must be 'sphere' (keep latent vectors inside "
            "the sphere) or 'surface' (keep them on its surface). "
            "Received: kind='ball'",
        ),
        (
            {"feature_axes": (0, 1)},
            "Argument `feature_axes` must not include the batch axis 0",
        ),
        (
            {"feature_axes": (5,)},
            "Argument `feature_axes` has axis 5, outside a latent of rank 2 "
            "(valid axes: 1..1 or -1..-1). Received: feature_axes=[5]",
        ),
        (
            {"feature_axes": (-2,)},
            "Argument `feature_axes` resolves to the batch axis 0 for a "
            "latent of rank 2. Received: feature_axes=[-2]. Use axes 1..1.",
        ),
        ({"feature_axes": ()}, "a non-empty list of distinct integer axes"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    arguments = {"radius": 1.0, "kind": "sphere", **kwargs}
    with pytest.raises(ValueError) as error:
        constriction_penalty(np.ones((2, 3), "float32"), **arguments)
    assert message in str(error.value)


def test_rank_below_two_is_rejected():
    with pytest.raises(ValueError, match="rank >= 2"):
        constriction_penalty(np.ones((3,), "float32"), 1.0)
