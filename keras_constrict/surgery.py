"""Insert constriction into an existing model, and measure its latent.

`constrict` rebuilds a Sequential or functional model (nested sub-models
included) with a constriction layer right after a named layer.
`latent_norms` and `calibrate_radius` read the norms of the latent vectors
that the named layer produces for some data.
"""

import keras
import numpy as np

from keras_constrict import layers as layers_lib
from keras_constrict import penalty as penalty_lib


def _is_rebuildable(model):
    return isinstance(model, keras.Sequential) or (
        isinstance(model, keras.Model) and type(model).__name__ == "Functional"
    )


def _sub_layers(model):
    if isinstance(model, keras.Model):
        return list(model.layers)
    return []


def _layer_names(model, prefix=""):
    names = []
    for layer in _sub_layers(model):
        names.append(prefix + layer.name)
        names.extend(_layer_names(layer, prefix + layer.name + "/"))
    return names


def _find_paths(model, name):
    """Every path of nested layers from `model` to a layer named `name`."""
    paths = []
    for layer in _sub_layers(model):
        if layer.name == name:
            paths.append([layer])
        for path in _find_paths(layer, name):
            paths.append([layer, *path])
    return paths


def find_layer_path(model, layer):
    """The chain of nested layers from `model` down to `layer`.

    Args:
        model: a Keras model.
        layer: the name of a layer anywhere inside `model` (nested
            sub-models included), or "outer/inner" to pick one of several
            with the same name, or the layer object itself.

    Returns:
        list of layers, the last one the target.

    Raises:
        ValueError: no such layer (the message lists the names that exist)
            or several layers with that name.
    """
    if isinstance(layer, keras.layers.Layer):
        name = layer.name
        paths = [p for p in _find_paths(model, name) if p[-1] is layer]
    elif isinstance(layer, str):
        *outer, name = layer.split("/")
        paths = [
            p
            for p in _find_paths(model, name)
            if not outer
            or [step.name for step in p[:-1]][-len(outer) :] == outer
        ]
    else:
        raise ValueError(
            "Argument `layer` must be a layer name (str) or a layer of the "
            f"model. Received: layer={layer!r} of type {type(layer).__name__}"
        )
    if not paths:
        raise ValueError(
            f"Model '{model.name}' has no layer named {name!r}. Layers "
            f"that exist: {', '.join(_layer_names(model)) or 'none'}. Pass "
            "one of these names (use 'outer/inner' for a nested layer)."
        )
    if len(paths) > 1:
        found = ["/".join(step.name for step in p) for p in paths]
        raise ValueError(
            f"Model '{model.name}' has {len(paths)} layers named {name!r}: "
            f"{', '.join(found)}. Pass the full path of the one you mean."
        )
    return paths[0]


def _copy_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def _input_layer(model):
    inputs = getattr(model, "_inputs", None) or []
    try:
        inputs = model.inputs or inputs
    except (AttributeError, ValueError):
        pass
    if len(inputs) != 1:
        return None
    return keras.Input(
        batch_shape=inputs[0].shape,
        dtype=inputs[0].dtype,
        name=getattr(inputs[0], "name", None),
    )


def _rebuild(model, path, after_target, share_layers):
    """A copy of `model` where `after_target` is called on path[-1]'s output.

    `path[0]` is a direct layer of `model`. With `share_layers` the new
    model calls the original layers (weights shared); otherwise it calls
    fresh copies built from their configs (weights copied afterwards).
    """
    if not _is_rebuildable(model):
        raise ValueError(
            f"constrict() can rebuild Sequential and functional models, but "
            f"'{model.name}' is a subclassed model "
            f"({type(model).__name__}). Add a SphereConstriction or "
            "SurfaceConstriction layer to its call() instead, or pass the "
            "name of a layer outside it."
        )
    target, rest = path[0], path[1:]

    def copy(layer):
        if layer is target and rest:
            return _rebuild(layer, rest, after_target, share_layers)
        return layer if share_layers else _copy_layer(layer)

    if isinstance(model, keras.Sequential):
        new_layers = []
        input_layer = _input_layer(model)
        if input_layer is not None:
            new_layers.append(input_layer)
        for layer in model.layers:
            new_layers.append(copy(layer))
            if layer is target and not rest:
                new_layers.append(after_target)
        return keras.Sequential(new_layers, name=model.name)

    copies = {}

    def clone_function(layer):
        new = copy(layer)
        copies[id(new)] = layer
        return new

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if copies.get(id(layer)) is target and not rest:
            outputs = after_target(outputs)
        return outputs

    return keras.models.clone_model(
        model, clone_function=clone_function, call_function=call_function
    )


def constrict(model, layer, kind="sphere", radius=None, weight=1.0, **options):
    """A new model whose named layer's output is constricted.

    The returned model is the same network with a `SphereConstriction` or
    `SurfaceConstriction` layer right after `layer`, at any depth of nested
    Sequential or functional sub-models (an encoder inside an autoencoder).
    Its weights are copies of the original's: training it leaves the
    original model, its layers and its weights untouched. The new model is
    not compiled.

    Args:
        model: a Sequential or functional Keras model, built.
        layer: name of the layer whose output is the latent (searched in
            nested sub-models too; "outer/inner" picks among equal names),
            or the layer itself.
        kind: "sphere" or "surface". Defaults to "sphere".
        radius: float > 0, the sphere's radius; see `calibrate_radius`.
        weight: float >= 0, factor of the penalty. Defaults to 1.0.
        **options: `feature_axes`, `squared`, `epsilon` or `name` of the
            constriction layer.

    Returns:
        A new, uncompiled `keras.Model` of the same class.

    Raises:
        ValueError: an unknown layer name (the message lists the names that
            exist), a subclassed model, or an invalid constriction argument.

    Example:

    >>> constricted = keras_constrict.constrict(
    ...     autoencoder, "latent", kind="sphere", radius=8.0, weight=0.1
    ... )
    >>> constricted.compile(optimizer="adam", loss="mse")
    >>> constricted.fit(clips, clips, epochs=10)
    """
    path = find_layer_path(model, layer)
    if "name" not in options:
        options["name"] = f"{path[-1].name}_{kind}_constriction"
    constriction = layers_lib.make_constriction(
        kind, radius, weight=weight, **options
    )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built, so its weights cannot be "
            "copied. Call it on data or build it with an input shape "
            "before constrict()."
        )
    new_model = _rebuild(model, path, constriction, share_layers=False)
    _copy_weights(model, new_model)
    return new_model


def _copy_weights(source, target):
    source_weights = source.get_weights()
    target_shapes = [tuple(w.shape) for w in target.weights]
    source_shapes = [tuple(w.shape) for w in source_weights]
    if source_shapes != target_shapes:
        # Should not happen: the constriction layer has no weights.
        raise RuntimeError(
            "The rebuilt model's weights do not line up with the original's "
            f"({len(target_shapes)} vs {len(source_shapes)} arrays); please "
            "report this with the model's summary()."
        )
    target.set_weights(source_weights)


class _NormCollector(keras.layers.Layer):
    """Pass-through layer that records latent vector norms when eager."""

    def __init__(self, feature_axes, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.feature_axes = feature_axes
        self.collected = []

    def call(self, inputs):
        norms = penalty_lib.latent_vector_norms(inputs, self.feature_axes)
        self.collected.append(keras.ops.convert_to_numpy(norms).reshape(-1))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _batches(data, batch_size, steps):
    """Yield model inputs from an array, a dataset or an iterable."""
    if isinstance(data, np.ndarray) or (
        hasattr(data, "shape") and hasattr(data, "dtype")
    ):
        data = np.asarray(data)
        batches = (
            data[start : start + batch_size]
            for start in range(0, len(data), batch_size)
        )
    else:
        batches = iter(data)
    for step, batch in enumerate(batches):
        if steps is not None and step >= steps:
            return
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        yield batch


def latent_norms(
    model, layer, data, feature_axes=None, batch_size=32, steps=None
):
    """Norms of every latent vector the named layer produces for `data`.

    The model runs in inference mode (`training=False`) through a copy that
    shares its layers and weights, so it always sees the current weights.
    Works for Sequential and functional models, nested sub-models
    included.

    Args:
        model: a Sequential or functional Keras model.
        layer: name of the latent layer (see `constrict`), or the layer.
        data: a NumPy array of inputs, or an iterable of batches such as a
            `tf.data.Dataset` (of `x` or `(x, y, ...)`).
        feature_axes: axes forming one vector. Defaults to None (the
            default for the latent's rank, as in the penalty).
        batch_size: batch size for array `data`. Defaults to 32.
        steps: number of batches to read at most. Defaults to None (all).

    Returns:
        1-D float32 NumPy array, one norm per latent vector.
    """
    feature_axes = penalty_lib.validate_feature_axes(feature_axes)
    path = find_layer_path(model, layer)
    collector = _NormCollector(feature_axes, name=f"{path[-1].name}_norms")
    probe = _rebuild(model, path, collector, share_layers=True)
    for batch in _batches(data, batch_size, steps):
        probe(batch, training=False)
    if not collector.collected:
        raise ValueError(
            "Argument `data` yielded no batches, so there are no latent "
            f"norms to measure. Received: data={type(data).__name__}"
        )
    return np.concatenate(collector.collected).astype("float32")


def calibrate_radius(
    model,
    layer,
    data,
    quantile=0.5,
    feature_axes=None,
    batch_size=32,
    steps=None,
):
    """A radius from data: a quantile of the latent vector norms.

    Choosing the radius by hand is the method's weak point. Pass normal
    training clips, ideally after a short warm-up of the plain model, and
    use the result as `radius` of a constriction.

    Args:
        model: a Sequential or functional Keras model.
        layer: name of the latent layer, or the layer.
        data: normal data: an array or an iterable of batches.
        quantile: float in (0, 1]. Defaults to 0.5 (the median norm).
        feature_axes: axes forming one vector. Defaults to None.
        batch_size: batch size for array `data`. Defaults to 32.
        steps: number of batches to read at most. Defaults to None.

    Returns:
        float, the radius.

    Example:

    >>> radius = keras_constrict.calibrate_radius(
    ...     autoencoder, "latent", normal_clips, quantile=0.5
    ... )
    >>> constricted = keras_constrict.constrict(
    ...     autoencoder, "latent", radius=radius, weight=0.1
    ... )
    """
    if (
        isinstance(quantile, bool)
        or not isinstance(quantile, (int, float))
        or not 0 < quantile <= 1
    ):
        raise ValueError(
            "Argument `quantile` must be a number in (0, 1], the fraction "
            "of latent norms the radius should cover. "
            f"Received: quantile={quantile!r}"
        )
    norms = latent_norms(model, layer, data, feature_axes, batch_size, steps)
    radius = float(np.quantile(norms, quantile))
    return penalty_lib.validate_radius(radius)
