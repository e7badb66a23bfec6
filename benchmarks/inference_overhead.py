"""Inference cost of constriction: predict time, constricted / plain.

The reference 3D-conv autoencoder and a copy made by
`keras_constrict.constrict` (same weights, a constriction layer on the
latent) predict the same clips in interleaved rounds; the order inside a
round alternates so that neither model profits from a warm cache. The
figure of merit is the median over rounds of the per-round time ratio.
Goal: <= 1.01.

    python benchmarks/inference_overhead.py            # CPU-sized model
    python benchmarks/inference_overhead.py --paper    # 16x256x256, width 1
"""

import argparse
import json
import statistics
import sys
import time

from keras_constrict.runtime import configure_environment

configure_environment()

import numpy as np  # noqa: E402

import keras_constrict  # noqa: E402
from keras_constrict.models import conv3d_autoencoder  # noqa: E402


def time_predict(model, clips, batch_size):
    start = time.perf_counter()
    model.predict(clips, batch_size=batch_size, verbose=0)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--paper", action="store_true", help="16x256x256 clips, width 1"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.paper:
        args.size, args.width = 256, 1.0

    shape = (args.frames, args.size, args.size, 1)
    plain = conv3d_autoencoder(shape, width=args.width)
    rng = np.random.default_rng(0)
    clips = rng.uniform(-1, 1, (args.clips, *shape)).astype("float32")
    radius = keras_constrict.calibrate_radius(
        plain, "latent", clips[:4], batch_size=4
    )
    results = {"shape": shape, "width": args.width, "rounds": args.rounds}
    for kind in ("sphere", "surface"):
        constricted = keras_constrict.constrict(
            plain, "latent", kind=kind, radius=radius, weight=0.1
        )
        np.testing.assert_allclose(
            constricted.predict(clips, batch_size=args.batch_size, verbose=0),
            plain.predict(clips, batch_size=args.batch_size, verbose=0),
            atol=1e-5,
        )
        ratios, plain_times, constricted_times = [], [], []
        for round_index in range(args.rounds):
            pair = [(plain, plain_times), (constricted, constricted_times)]
            if round_index % 2:
                pair.reverse()
            for model, times in pair:
                times.append(time_predict(model, clips, args.batch_size))
            ratios.append(constricted_times[-1] / plain_times[-1])
        results[kind] = {
            "plain_median_s": statistics.median(plain_times),
            "constricted_median_s": statistics.median(constricted_times),
            "median_ratio": statistics.median(ratios),
            "ratio_of_medians": statistics.median(constricted_times)
            / statistics.median(plain_times),
        }

    print(
        f"predict {args.clips} clips of {shape}, width {args.width}, "
        f"batch {args.batch_size}, {args.rounds} interleaved rounds"
    )
    print(
        f"{'constriction':<12} {'plain s':>9} {'constr. s':>10} "
        f"{'ratio':>7}  goal <= 1.01"
    )
    worst = 0.0
    for kind in ("sphere", "surface"):
        row = results[kind]
        worst = max(worst, row["median_ratio"])
        print(
            f"{kind:<12} {row['plain_median_s']:9.4f} "
            f"{row['constricted_median_s']:10.4f} {row['median_ratio']:7.4f}"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0 if worst <= 1.01 else 1


if __name__ == "__main__":
    sys.exit(main())
