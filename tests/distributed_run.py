"""Runs one training under tf.distribute for tests/test_distributed.py.

    python tests/distributed_run.py mirrored DATA OUT
    python tests/distributed_run.py multiworker DATA OUT   (TF_CONFIG set)

Prints one JSON line with the per-epoch losses.
"""

import json
import sys

from keras_constrict.runtime import configure_environment

configure_environment()

import tensorflow as tf  # noqa: E402
from test_training import tiny_config  # noqa: E402

from keras_constrict.training import train  # noqa: E402


def config(data, out, distribute):
    # 34 clips in batches of 2: every batch splits evenly over two
    # replicas, as one device sees it.
    return tiny_config(
        data,
        out,
        distribute=distribute,
        radius=1.0,
        warmup_epochs=0,
        batch_size=2,
    )


def main(mode, data, out):
    if mode == "mirrored":
        # Two logical CPU devices; must happen before any other op.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        losses = {}
        for distribute in ("none", "mirrored"):
            results = train(
                config(data, f"{out}/{distribute}", distribute),
                verbose=0,
            )
            losses[distribute] = results["history"]["loss"]
        print(json.dumps(losses))
    else:
        results = train(config(data, out, "multiworker"), verbose=0)
        print(json.dumps({"multiworker": results["history"].get("loss")}))


if __name__ == "__main__":
    main(*sys.argv[1:])
