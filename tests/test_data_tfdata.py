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


def test_videos_side_by_side_keeps_order_and_bounds_the_buffer():
    import time

    produced = {index: 0 for index in range(3)}

    def generate(index):
        for step in range(50):
            produced[int(index)] += 1
            yield np.int64(100 * index + step)

    def dataset_of(index):
        return tf.data.Dataset.from_generator(
            generate,
            args=(index,),
            output_signature=tf.TensorSpec((), tf.int64),
        )

    indices = tf.data.Dataset.range(3)
    merged = tfdata.videos_side_by_side(indices, dataset_of, 2, buffer=4)
    iterator = iter(merged)
    assert int(next(iterator)) == 0
    # The second dataset decodes ahead while the first is read ...
    deadline = time.monotonic() + 5
    while produced[1] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert produced[1] >= 1
    time.sleep(0.5)
    # ... but only into its bounded buffer (plus the element in flight).
    assert produced[1] <= 4 + 2
    rest = [int(value) for value in iterator]
    expected = [100 * index + step for index in range(3) for step in range(50)]
    assert [0, *rest] == expected


def test_videos_side_by_side_falls_back_to_flat_map(monkeypatch):
    from tensorflow.python.data.ops import interleave_op

    monkeypatch.delattr(interleave_op, "_ParallelInterleaveDataset")
    merged = tfdata.videos_side_by_side(
        tf.data.Dataset.range(3),
        lambda index: tf.data.Dataset.range(index * 10, index * 10 + 4),
        2,
        buffer=4,
    )
    expected = [index * 10 + step for index in range(3) for step in range(4)]
    assert [int(value) for value in merged] == expected
