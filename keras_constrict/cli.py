"""The `keras-constrict` command line: demo, train, evaluate.

keras-constrict demo
keras-constrict train --data DIR --constriction sphere --out RUN_DIR
keras-constrict evaluate --model RUN_DIR --data DIR
"""

import argparse
import dataclasses
import json
import logging
import pathlib
import sys
import time

import numpy as np

from keras_constrict import training
from keras_constrict.runtime import configure_environment
from keras_constrict.training import TrainConfig
from keras_constrict.training import evaluate_run
from keras_constrict.training import train

logger = logging.getLogger("keras_constrict")


def _radius(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number > 0 or 'auto', got {text!r}"
        ) from None


def _train_arguments(parser, defaults):
    add = parser.add_argument
    add(
        "--constriction",
        choices=training.CONSTRICTIONS,
        default=defaults.constriction,
    )
    add(
        "--radius",
        type=_radius,
        default=defaults.radius,
        help="sphere radius, or 'auto' (a quantile of latent norms after "
        "--warmup-epochs epochs). Default: %(default)s",
    )
    add(
        "--weight",
        type=float,
        default=defaults.weight,
        help="factor of the penalty. Default: %(default)s",
    )
    add("--quantile", type=float, default=defaults.quantile)
    add("--warmup-epochs", type=int, default=defaults.warmup_epochs)
    add("--epochs", type=int, default=defaults.epochs)
    add(
        "--size",
        type=int,
        default=defaults.size,
        help="frames are resized to SIZE x SIZE. Default: %(default)s",
    )
    add(
        "--width",
        type=float,
        default=defaults.width,
        help="filter multiplier of the model. Default: %(default)s",
    )
    add("--clip-length", type=int, default=defaults.clip_length)
    add("--stride", type=int, default=defaults.stride)
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--learning-rate", type=float, default=defaults.learning_rate)
    add(
        "--precision",
        choices=training.PRECISIONS,
        default=defaults.precision,
    )
    add(
        "--distribute",
        choices=training.DISTRIBUTIONS,
        default=defaults.distribute,
    )
    add(
        "--cache",
        choices=training.CACHES,
        default=defaults.cache,
        help="keep decoded, resized frames in memory, in RUN_DIR/cache, or "
        "decode every epoch. Default: %(default)s",
    )
    add("--seed", type=int, default=defaults.seed)
    add("--val-freq", type=int, default=defaults.val_freq)
    add("--steps-per-epoch", type=int, default=None)
    add("--checkpoint-seconds", type=float, default=defaults.checkpoint_seconds)
    add(
        "--overwrite",
        action="store_true",
        help="move an existing run in --out to --out/previous/ and start again",
    )


def _config_from(args):
    names = [field.name for field in dataclasses.fields(TrainConfig)]
    return TrainConfig(**{name: getattr(args, name) for name in names})


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-constrict",
        description="Anomaly detection autoencoders with a constricted "
        "latent space (Astrid, Zaheer, Lee, 2024).",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="baseline vs sphere vs surface on a generated synthetic set",
    )
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--epochs", type=int, default=8)
    demo.add_argument("--size", type=int, default=64)
    demo.add_argument("--width", type=float, default=0.25)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--overwrite",
        action="store_true",
        help="train again even where an earlier demo finished",
    )

    train_command = commands.add_parser("train", help="train one model")
    train_command.add_argument("--data", required=True, help="dataset root")
    train_command.add_argument("--out", required=True, help="run folder")
    _train_arguments(train_command, TrainConfig(data="", out=""))

    evaluate = commands.add_parser(
        "evaluate", help="score a trained run with the published protocol"
    )
    evaluate.add_argument("--model", required=True, help="run folder")
    evaluate.add_argument("--data", required=True, help="dataset root")
    evaluate.add_argument(
        "--checkpoint", choices=("best", "last", "state"), default="best"
    )
    evaluate.add_argument("--out", default=None)
    return parser


def _auc_text(value):
    return "  n/a " if value != value else f"{value:.4f}"


def _print_evaluation(evaluation):
    print(f"{'video':<8} {'AUC':>7}  frames  anomalous")
    for name, auc in evaluation.video_auc.items():
        labels = evaluation.labels.get(name)
        count = (
            ""
            if labels is None
            else f"{len(labels):6d}  {np.count_nonzero(labels):9d}"
        )
        print(f"{name:<8} {_auc_text(auc):>7}  {count}")
    print(
        f"micro AUC {_auc_text(evaluation.micro_auc)}  "
        f"macro AUC {_auc_text(evaluation.macro_auc)}  "
        "(frame level, published protocol)"
    )


def run_demo(args):
    from keras_constrict.data import make_synthetic_dataset

    out = pathlib.Path(args.out)
    data = make_synthetic_dataset(out / "data", seed=args.seed)
    print(f"Synthetic dataset: {data}")
    rows = []
    for constriction in ("none", "sphere", "surface"):
        name = "baseline" if constriction == "none" else constriction
        config = TrainConfig(
            data=str(data),
            out=str(out / name),
            constriction=constriction,
            radius="auto",
            weight=0.1,
            warmup_epochs=1,
            epochs=args.epochs,
            size=args.size,
            width=args.width,
            batch_size=8,
            learning_rate=1e-3,
            seed=args.seed,
        )
        results_file = pathlib.Path(config.out) / "results.json"
        if results_file.exists() and not args.overwrite:
            results = json.loads(results_file.read_text())
            if results.get("config") == config.to_json():
                print(f"{name}: finished earlier, reusing {results_file}")
                rows.append((name, results, True))
                continue
        print(f"\nTraining {name} ({args.epochs} epochs) -> {config.out}")
        started = time.monotonic()
        results = train(config, overwrite=args.overwrite, verbose=2)
        results["seconds"] = time.monotonic() - started
        rows.append((name, results, False))

    print("\nFrame-level AUC on the synthetic test videos (published protocol)")
    print(f"{'model':<10} {'micro AUC':>9} {'macro AUC':>9} {'radius':>8}")
    for name, results, _ in rows:
        radius = results.get("radius")
        radius = "-" if radius is None else f"{radius:.3f}"
        print(
            f"{name:<10} {_auc_text(results['micro_auc']):>9} "
            f"{_auc_text(results['macro_auc']):>9} {radius:>8}"
        )
    print(f"\nTensorBoard logs: tensorboard --logdir {out}")
    print(f"Score curves: {out}/<model>/score_curves.png")
    return 0


def run_train(args):
    results = train(_config_from(args), overwrite=args.overwrite)
    print(
        f"micro AUC {_auc_text(results['micro_auc'])}  macro AUC "
        f"{_auc_text(results['macro_auc'])}  ->  {args.out}/results.json"
    )
    return 0


def run_evaluate(args):
    evaluation, folder = evaluate_run(
        args.model, args.data, checkpoint=args.checkpoint, out=args.out
    )
    _print_evaluation(evaluation)
    print(f"Written: {folder}/evaluation.json, {folder}/score_curves.png")
    return 0


def main(argv=None):
    """Entry point of `keras-constrict`; returns the exit status."""
    configure_environment()
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "demo":
        # The demo's own progress is what users want to see.
        logging.getLogger("keras_constrict").setLevel(logging.INFO)
    handlers = {"demo": run_demo, "train": run_train, "evaluate": run_evaluate}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(
            f"keras-constrict {args.command}: error: {error}", file=sys.stderr
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
