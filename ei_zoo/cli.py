"""The `ei-zoo` command line.

    ei-zoo variants                       the registered networks and their sizes
    ei-zoo train --variant standard ...   train one network on CIFAR-10

User errors end in one line on stderr naming the problem and the fix, and exit
code 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _command_variants(args):
    import pandas as pd

    import ei_zoo

    rows = []
    for name in ei_zoo.list_variants():
        config = ei_zoo.get_config(name)
        rows.append({
            "variant": name, "dale": config.dale, "PN": config.principal,
            "IG": config.input_gating, "OG": config.output_gating,
            "parameters": ei_zoo.build_model(config).count_params(),
        })
    print(pd.DataFrame(rows).to_string(index=False))


def _command_train(args):
    import pandas as pd

    from ei_zoo.models import resolve_config
    from ei_zoo.training import TrainingConfig, train, write_json

    network = resolve_config(args.variant)
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                            precision=args.precision, limit=args.limit)
    run_dir = args.out / f"{network.variant}-s{config.seed}"
    start = time.perf_counter()
    _, history, metrics = train(network, config, data_dir=args.data_dir)
    seconds = time.perf_counter() - start
    run_dir.mkdir(parents=True, exist_ok=True)
    network.to_json(run_dir / "config.json")
    write_json(run_dir / "training.json", {
        "training": config.to_dict(), "test": metrics, "seconds": round(seconds, 1)})
    pd.DataFrame(history.history).rename_axis("epoch").to_csv(run_dir / "history.csv")
    print(f"{network.variant}-s{config.seed}: test accuracy {metrics['accuracy']:.4f} "
          f"after {config.epochs} epoch(s), {seconds:.0f} s; run written to {run_dir}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ei-zoo", description="Convolutional recurrent networks with E and I cell types.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    variants = commands.add_parser("variants", help="list the registered network variants")
    variants.set_defaults(run=_command_variants)

    train = commands.add_parser("train", help="train one network on CIFAR-10")
    train.add_argument("--variant", default="standard", help="registered variant name")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--limit", type=_positive_int, default=None,
                       help="train on the first N training images only")
    train.add_argument("--precision", default="mixed_bfloat16",
                       choices=("float32", "mixed_bfloat16", "mixed_float16"))
    train.add_argument("--data-dir", default=None,
                       help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")
    train.add_argument("--out", type=Path, default=Path("runs"),
                       help="folder for the run's config, history and results")
    train.set_defaults(run=_command_train)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"ei-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
