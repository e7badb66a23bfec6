"""Scoring throughput: `frame_scores` against `model.predict`, same windows.

`keras_constrict.scoring.frame_scores` scores one video: it cuts every
16-frame window (stride 1), reconstructs them in batches and keeps one
PSNR per window. `model.predict` gets the same windows already cut (its
time excludes cutting them) and only reconstructs. Both run in
interleaved rounds, the order alternating inside a round. The figure of
merit is the median over rounds of predict time / scoring time, the
throughput of scoring relative to predict. Goal: >= 0.9.

    python benchmarks/scoring_throughput.py            # CPU-sized model
    python benchmarks/scoring_throughput.py --paper    # 16x256x256, width 1
"""

import argparse
import json
import statistics
import sys
import time

from keras_constrict.runtime import configure_environment

configure_environment()

import numpy as np  # noqa: E402

from keras_constrict import scoring  # noqa: E402
from keras_constrict.models import conv3d_autoencoder  # noqa: E402


def time_call(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument(
        "--frames", type=int, default=75, help="frames of the video"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--paper", action="store_true", help="16x256x256 frames, width 1"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.paper:
        args.size, args.width = 256, 1.0

    shape = (args.clip_length, args.size, args.size, 1)
    model = conv3d_autoencoder(shape, width=args.width)
    rng = np.random.default_rng(0)
    frames = rng.uniform(-1, 1, (args.frames, *shape[1:])).astype("float32")
    num_windows = args.frames - args.clip_length + 1
    windows = np.stack(
        [frames[i : i + args.clip_length] for i in range(num_windows)]
    )

    def predict():
        return model.predict(windows, batch_size=args.batch_size, verbose=0)

    def score():
        return scoring.frame_scores(
            model, frames, args.clip_length, batch_size=args.batch_size
        )

    # Warm up both (tracing), and check that they agree.
    reconstructions = predict()
    scores = score()
    index = scoring.target_index(args.clip_length)
    error = reconstructions[:, index] - windows[:, index]
    psnr = 10 * np.log10(1 / np.mean(error.astype("float64") ** 2, (1, 2, 3)))
    np.testing.assert_allclose(
        scores[index : index + num_windows],
        scoring.anomaly_scores_from_psnr(psnr),
        atol=1e-4,
    )

    predict_times, score_times, ratios = [], [], []
    for round_index in range(args.rounds):
        pair = [(predict, predict_times), (score, score_times)]
        if round_index % 2:
            pair.reverse()
        for function, times in pair:
            times.append(time_call(function))
        ratios.append(predict_times[-1] / score_times[-1])

    results = {
        "window_shape": shape,
        "width": args.width,
        "windows": num_windows,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "predict_median_s": statistics.median(predict_times),
        "frame_scores_median_s": statistics.median(score_times),
        "median_throughput_ratio": statistics.median(ratios),
    }
    print(
        f"{num_windows} windows of {shape}, width {args.width}, batch "
        f"{args.batch_size}, {args.rounds} interleaved rounds"
    )
    print(
        f"{'model.predict s':>16} {'frame_scores s':>15} "
        f"{'throughput ratio':>17}  goal >= 0.9"
    )
    print(
        f"{results['predict_median_s']:16.4f} "
        f"{results['frame_scores_median_s']:15.4f} "
        f"{results['median_throughput_ratio']:17.4f}"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0 if results["median_throughput_ratio"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
