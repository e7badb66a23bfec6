"""tf.data maps whose functions run their ops in the calling thread.

By default a tf.data map hands every op of its function to TensorFlow's
inter-op thread pool. For the small functions of a video pipeline (cut
one clip, decode one file) the hand-overs cost more than the ops: on 2
cores, slicing a clip out of a chunk takes 0.30 ms of CPU per element
that way and 0.07 ms run in the calling thread. `Dataset.map` has no
public switch for it; the map datasets behind it take
`use_inter_op_parallelism`, so `inline_map` builds those directly and
falls back to `Dataset.map` where a TensorFlow version lacks them.
"""

import logging

logger = logging.getLogger(__name__)


def _private_maps():
    """TensorFlow's map dataset classes, or None if they moved."""
    try:
        from tensorflow.python.data.ops import map_op
    except ImportError:
        return None
    serial = getattr(map_op, "_MapDataset", None)
    parallel = getattr(map_op, "_ParallelMapDataset", None)
    if serial is None or parallel is None:
        return None
    return serial, parallel


def inline_map(dataset, function, num_parallel_calls=None):
    """`dataset.map(function)` with the function's ops run inline.

    Parallel maps keep their parallelism across elements (one call per
    thread of tf.data's pool) and their order (deterministic).

    Args:
        dataset: a `tf.data.Dataset`.
        function: the function of one element, as for `Dataset.map`.
        num_parallel_calls: None for a serial map, otherwise as for
            `Dataset.map`.

    Returns:
        tf.data.Dataset: the mapped dataset.
    """
    maps = _private_maps()
    if maps is not None:
        serial, parallel = maps
        try:
            if num_parallel_calls is None:
                return serial(
                    dataset,
                    function,
                    use_inter_op_parallelism=False,
                    preserve_cardinality=True,
                )
            return parallel(
                dataset,
                function,
                num_parallel_calls=num_parallel_calls,
                deterministic=True,
                use_inter_op_parallelism=False,
                preserve_cardinality=True,
            )
        except TypeError as error:
            # Another signature: TensorFlow changed its internals.
            logger.debug("inline_map falls back to Dataset.map: %s", error)
    if num_parallel_calls is None:
        return dataset.map(function)
    return dataset.map(
        function, num_parallel_calls=num_parallel_calls, deterministic=True
    )


def videos_side_by_side(indices, dataset_of, parallel, buffer):
    """The datasets of `indices`, one after another, produced in parallel.

    `Dataset.interleave` with `deterministic=True` and a block length
    longer than any video gives the order wanted (all of one dataset,
    then the next), but buffers twice the block length for every dataset
    waiting its turn. TensorFlow's parallel interleave dataset takes that
    buffer as an argument; `videos_side_by_side` builds it directly with
    `buffer` elements, so memory stays bounded whatever a video's length.
    Where a TensorFlow version lacks it, the datasets are simply
    concatenated (`flat_map`).

    Args:
        indices: a dataset of the indices (int64 scalars) to map.
        dataset_of: the function of one index returning its dataset.
        parallel: datasets produced at the same time.
        buffer: elements each dataset waiting its turn may hold.

    Returns:
        tf.data.Dataset: the elements of every dataset, in index order.
    """
    try:
        from tensorflow.python.data.ops import interleave_op

        interleave = interleave_op._ParallelInterleaveDataset
        return interleave(
            indices,
            dataset_of,
            cycle_length=parallel,
            block_length=_WHOLE,
            num_parallel_calls=parallel,
            buffer_output_elements=buffer,
            prefetch_input_elements=0,
            deterministic=True,
        )
    except (ImportError, AttributeError, TypeError) as error:
        logger.debug("videos_side_by_side falls back to flat_map: %s", error)
        return indices.flat_map(dataset_of)


# A block length no video reaches.
_WHOLE = 2**40
