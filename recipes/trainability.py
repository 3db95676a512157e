"""Measure how fast each sign rule learns: the foundation issue's trainability check.

Trains `standard`, `inh_pn` and `no_dale` with the same recipe for the same
number of epochs and prints (and writes as JSON) their test accuracies and the
gaps to `no_dale`.

    python recipes/trainability.py --epochs 3 --out runs/trainability.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ei_zoo.training import TrainingConfig
from ei_zoo.training.fit import train


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

    results = {}
    for variant in args.variants:
        config = TrainingConfig(epochs=args.epochs, limit=args.limit,
                                precision=args.precision, seed=args.seed)
        start = time.perf_counter()
        _, history, metrics = train(variant, config, data_dir=args.data_dir, verbose=2)
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({variant: (result["test_accuracy"], result.get("gap_to_no_dale"))
                      for variant, result in results.items()}))


if __name__ == "__main__":
    main()
