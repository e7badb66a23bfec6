"""Baseline, sphere and surface constriction on UCSD Ped2, one run each.

Trains the reference 3D-conv autoencoder three times on the same data, in
the same order, from the same initial weights: plain, with a sphere
constriction and with a surface constriction, then scores the test videos
with the published protocol (middle frame of every 16-frame window,
per-video normalised PSNR, frame-level micro AUC over all videos).

    python benchmarks/reproduce_ped2.py --scale cpu     # ~30 min, 2 cores
    python benchmarks/reproduce_ped2.py --scale paper   # GPU

Scales:

- `cpu`: frames 64 x 64, width 0.25, training windows every 2nd frame,
  batch 8, Adam 5e-4, 12 epochs (2 of them warm-up for the constricted
  runs' 'auto' radius). Chosen to fit three runs in about half an hour on
  two cores with oneDNN on.
- `paper`: the published setting: 256 x 256, width 1, every window
  (stride 1), batch 4, Adam 1e-4, mixed_float16; `--epochs` (default 10)
  sized for about 8 minutes a run on an H200.

Results go to `--out` (default `runs/ped2-<scale>`): one run folder per
model (TensorBoard logs, checkpoints, score curves), `summary.json` and
`summary.md` (the table for the README). The test AUC swings by one to two
points from epoch to epoch at the cpu scale, so the table also gives the
mean over the last four epochs next to the last epoch's figure.
`--summarize` rebuilds the table from finished run folders without
training.
"""

import argparse
import csv
import json
import pathlib
import sys
import time

from keras_constrict.runtime import configure_environment

configure_environment()

from keras_constrict.training import TrainConfig  # noqa: E402
from keras_constrict.training import train  # noqa: E402

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared/data/ped2"
SCALES = {
    "cpu": dict(
        size=64,
        width=0.25,
        stride=2,
        batch_size=8,
        learning_rate=5e-4,
        epochs=12,
        warmup_epochs=2,
        precision="float32",
        cache="memory",
    ),
    "paper": dict(
        size=256,
        width=1.0,
        stride=1,
        batch_size=4,
        learning_rate=1e-4,
        epochs=10,
        warmup_epochs=2,
        precision="mixed_float16",
        cache="memory",
    ),
}
MEMAE_PED2 = 94.1
BASELINE_PUBLISHED = 92.49


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--quantile", type=float, default=0.5)
    parser.add_argument(
        "--models",
        default="baseline,sphere,surface",
        help="comma-separated subset of baseline,sphere,surface",
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="rebuild summary.md from finished run folders, no training",
    )
    args = parser.parse_args(argv)

    settings = dict(SCALES[args.scale])
    if args.epochs:
        settings["epochs"] = args.epochs
    out = pathlib.Path(args.out or f"runs/ped2-{args.scale}")
    rows = []
    earlier = {}
    if args.summarize and (out / "summary.json").exists():
        earlier = {
            row["model"]: row
            for row in json.loads((out / "summary.json").read_text())["rows"]
        }
    for name in args.models.split(","):
        constriction = "none" if name == "baseline" else name
        config = TrainConfig(
            data=args.data,
            out=str(out / name),
            constriction=constriction,
            radius="auto",
            weight=args.weight,
            quantile=args.quantile,
            clip_length=16,
            seed=0,
            **settings,
        )
        if args.summarize:
            results = json.loads((out / name / "results.json").read_text())
            minutes = earlier.get(name, {}).get(
                "minutes", results["train_seconds_this_start"] / 60
            )
        else:
            started = time.monotonic()
            results = train(config, overwrite=args.overwrite, verbose=2)
            minutes = (time.monotonic() - started) / 60
        rows.append(
            {
                "model": name,
                "micro_auc": results["micro_auc"],
                "last4_micro_auc": _mean_of_last(out / name, 4),
                "macro_auc": results["macro_auc"],
                "best_epoch_micro_auc": results["best_val_auc"],
                "radius": results["radius"],
                "minutes": round(minutes, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    summary = {"scale": args.scale, "settings": settings, "rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "| model | micro AUC % (last epoch) | mean of last 4 epochs % "
        "| best epoch % (picked on test labels) | macro AUC % | radius "
        "| minutes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        radius = "-" if row["radius"] is None else f"{row['radius']:.2f}"
        lines.append(
            f"| {row['model']} | {100 * row['micro_auc']:.2f} | "
            f"{100 * row['last4_micro_auc']:.2f} | "
            f"{100 * row['best_epoch_micro_auc']:.2f} | "
            f"{100 * row['macro_auc']:.2f} | {radius} | {row['minutes']} |"
        )
    table = "\n".join(lines)
    (out / "summary.md").write_text(table + "\n")
    print(table)
    print(
        f"published 3D-conv AE baseline {BASELINE_PUBLISHED}, MemAE "
        f"{MEMAE_PED2} (paper scale)"
    )
    return 0


def _mean_of_last(run, count):
    """Mean micro AUC of the last `count` epochs in a run's history.csv."""
    with open(run / "history.csv", newline="") as history:
        aucs = [float(row["val_auc"]) for row in csv.DictReader(history)]
    return sum(aucs[-count:]) / len(aucs[-count:])


if __name__ == "__main__":
    sys.exit(main())
