"""Measure how fast each sign rule learns: the foundation issue's trainability check.

Trains `standard`, `inh_pn` and `no_dale` with the same recipe for the same
number of epochs and prints (and writes as JSON) their test accuracies and the
gaps to `no_dale`.

    python recipes/trainability.py --epochs 3 --out runs/trainability.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub.files import check_writable_folder, write_text
from ei_zoo.network.models import resolve_config
from ei_zoo.training.fit import train
from ei_zoo.training.settings import TrainingConfig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["no_dale", "standard", "inh_pn"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/trainability.json"))
    args = parser.parse_args(argv)
    try:  # every variant and setting is checked before the first network trains
        networks = {variant: resolve_config(variant) for variant in args.variants}
        config = TrainingConfig(epochs=args.epochs, limit=args.limit,
                                precision=args.precision, seed=args.seed)
        if args.out.is_dir():
            raise ValueError(f"--out {args.out} is a folder; name the JSON file to write, "
                             f"e.g. {args.out / 'trainability.json'}.")
        check_writable_folder(args.out.parent, f"--out {args.out}: its folder")
        results = compare(networks, config, args.data_dir)
    except USER_ERRORS as error:
        print(f"trainability.py: error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(json.dumps({variant: (result["test_accuracy"], result.get("gap_to_no_dale"))
                      for variant, result in results.items()}))
    return 0


def compare(networks: dict, config: TrainingConfig, data_dir=None) -> dict:
    """Train each network with `config`; their test accuracies and gaps to `no_dale`."""
    results = {}
    for variant, network in networks.items():
        start = time.perf_counter()
        _, history, metrics = train(network, config, data_dir=data_dir, verbose=2)
        results[variant] = {
            "test_accuracy": round(float(metrics["accuracy"]), 4),
            "train_accuracy": [round(float(a), 4) for a in history.history["accuracy"]],
            "seconds": round(time.perf_counter() - start, 1),
            "training": config.to_dict(),
        }
        print(variant, results[variant], flush=True)
    if "no_dale" in results:
        for result in results.values():
            result["gap_to_no_dale"] = round(
                results["no_dale"]["test_accuracy"] - result["test_accuracy"], 4)
    return results


if __name__ == "__main__":
    sys.exit(main())
