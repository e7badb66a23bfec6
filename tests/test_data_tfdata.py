"""inline_map: Dataset.map's results, with the function's ops run inline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_constrict.data import tfdata


def map_nodes(dataset):
    """The map nodes of a dataset's graph, by op name."""
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(dataset._as_serialized_graph().numpy())
    return [node for node in graph.node if "MapDataset" in node.op]


def slice_of(frames):
    return lambda start: frames[start : start + 3] * 2.0


@pytest.mark.parametrize("parallel", [None, 2])
def test_inline_map_gives_map_results_inline(parallel):
    frames = tf.random.uniform((10, 4, 5))
    starts = tf.data.Dataset.range(8)
    inline = tfdata.inline_map(starts, slice_of(frames), parallel)
    expected = np.stack([frames[i : i + 3] * 2.0 for i in range(8)])
    # In order, also when parallel.
    np.testing.assert_array_equal(np.stack(list(inline)), expected)
    assert inline.cardinality() == 8
    (node,) = map_nodes(inline)
    assert node.op == (
        "MapDataset" if parallel is None else "ParallelMapDatasetV2"
    )
    assert node.attr["use_inter_op_parallelism"].b is False
    # Dataset.map, for comparison, hands the ops to the inter-op pool.
    (public,) = map_nodes(starts.map(slice_of(frames)))
    assert public.attr["use_inter_op_parallelism"].b is True


def test_inline_map_falls_back_to_dataset_map(monkeypatch):
    monkeypatch.setattr(tfdata, "_private_maps", lambda: None)
    frames = tf.random.uniform((10, 4, 5))
    starts = tf.data.Dataset.range(8)
    for parallel in (None, 2):
        mapped = tfdata.inline_map(starts, slice_of(frames), parallel)
        expected = np.stack([frames[i : i + 3] * 2.0 for i in range(8)])
        np.testing.assert_array_equal(np.stack(list(mapped)), expected)
        (node,) = map_nodes(mapped)
        assert node.attr["use_inter_op_parallelism"].b is True
