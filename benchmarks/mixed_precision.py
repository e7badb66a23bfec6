"""Training speed of mixed precision against float32, side by side.

The reference autoencoder is built once per policy (float32,
mixed_float16, mixed_bfloat16) with the same weights and a surface
constriction; the policies then take turns, several rounds, each timing
`--steps` training steps on the same batch. The figure is float32 step
time divided by each mixed policy's step time (higher = faster).

    python benchmarks/mixed_precision.py               # full size, for a GPU
    python benchmarks/mixed_precision.py --size 32 --width 0.125 --steps 2

On a CPU mixed precision is 30-100x slower than float32 (PLATFORM.md), so
run the full-size figure on a GPU.
"""

import argparse
import statistics
import sys
import time

from keras_constrict.runtime import configure_environment

configure_environment()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_constrict  # noqa: E402
from keras_constrict.models import conv3d_autoencoder  # noqa: E402

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def build(policy, shape, width, weights):
    keras.config.set_dtype_policy(policy)
    try:
        model = conv3d_autoencoder(
            shape,
            width=width,
            constriction=keras_constrict.SurfaceConstriction(8.0, weight=0.1),
        )
    finally:
        keras.config.set_dtype_policy("float32")
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    shape = (16, args.size, args.size, 1)
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, (args.batch_size, *shape)).astype("float32")

    models, weights = {}, None
    for policy in POLICIES:
        models[policy] = build(policy, shape, args.width, weights)
        weights = weights or models[policy].get_weights()
        models[policy].train_on_batch(batch, batch)  # trace and warm up

    times = {policy: [] for policy in POLICIES}
    losses = {}
    for _ in range(args.rounds):
        for policy in POLICIES:
            model = models[policy]
            start = time.perf_counter()
            for _ in range(args.steps):
                losses[policy] = float(model.train_on_batch(batch, batch))
            times[policy].append((time.perf_counter() - start) / args.steps)

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"{device}: clips {shape}, width {args.width}, batch "
        f"{args.batch_size}, {args.steps} steps x {args.rounds} rounds"
    )
    base = statistics.median(times["float32"])
    print(f"{'policy':<16} {'ms/step':>9} {'speed-up':>9} {'loss':>9}")
    for policy in POLICIES:
        step = statistics.median(times[policy])
        print(
            f"{policy:<16} {1000 * step:9.1f} {base / step:9.2f} "
            f"{losses[policy]:9.5f}"
        )
    finite = all(np.isfinite(value) for value in losses.values())
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
