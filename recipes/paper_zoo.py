"""Train the 17 networks the paper's figures need, skipping those already exported.

The 9 ratio variants at seed 0 (`ratio_1_4-s0` is `standard-s0`, trained
once) and `standard`, `inh_pn`, `no_dale` at seeds 0, 1, 2. Each network is
one `train_and_export` run, so a killed sweep resumes where it stopped.

    python recipes/paper_zoo.py --dry-run                 # the plan and its cost
    python recipes/paper_zoo.py --shard 0/4 --epochs 15   # a quarter of the sweep
    python recipes/paper_zoo.py --only standard-s1 inh_pn-s1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ei_zoo.cli import training_config_from_args
from ei_zoo.models import multiply_accumulates
from ei_zoo.training import model_id, train_and_export
from ei_zoo.variants import RATIOS, ratio_name

# Seconds per epoch of `standard` (batch 128, mixed_bfloat16) on the 2-core
# machine this project is developed on; other variants scale by their MACs.
STANDARD_EPOCH_SECONDS = 80.0


def paper_zoo() -> list[tuple[str, str, int]]:
    """(model id, variant, seed) of every network the paper needs, in training order."""
    plan = [("standard", 0), ("inh_pn", 0), ("no_dale", 0)]
    plan += [(ratio_name(r), 0) for r in RATIOS if ratio_name(r) != "ratio_1_4"]
    plan += [(variant, seed) for seed in (1, 2) for variant in ("standard", "inh_pn", "no_dale")]
    return [(model_id(variant, seed), variant, seed) for variant, seed in plan]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: use i/n, e.g. 0/4") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= i < n")
    return index, count


def estimate_epoch_seconds(variant: str) -> float:
    scale = multiply_accumulates(variant) / multiply_accumulates("standard")
    return STANDARD_EPOCH_SECONDS * scale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("exported"))
    parser.add_argument("--work-dir", type=Path, default=Path("runs"))
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--only", nargs="+", metavar="ID", help="train only these model ids")
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="i/n",
                        help="train every n-th network starting at i (split across machines)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = parser.parse_args(argv)

    plan = paper_zoo()
    known = {identifier for identifier, _, _ in plan}
    if args.only:
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"--only: {unknown} not in the paper's zoo; choose from {sorted(known)}")
        plan = [entry for entry in plan if entry[0] in args.only]
    index, count = args.shard
    plan = plan[index::count]
    todo = [entry for entry in plan if not (args.out / entry[0] / "metadata.json").exists()]

    total = 0.0
    for identifier, variant, _seed in plan:
        epoch_seconds = estimate_epoch_seconds(variant)
        pending = any(identifier == entry[0] for entry in todo)
        total += epoch_seconds * args.epochs if pending else 0.0
        print(f"{identifier:16s} {'train' if pending else 'done (exported)':16s} "
              f"~{epoch_seconds * args.epochs / 60:6.1f} min "
              f"({args.epochs} epochs x {epoch_seconds:.0f} s)")
    print(f"{len(todo)} of {len(plan)} networks to train, ~{total / 3600:.1f} h on a 2-core CPU")
    if args.dry_run:
        return 0
    for identifier, variant, seed in todo:
        args.seed = seed
        print(f"== {identifier}", flush=True)
        train_and_export(variant, training_config_from_args(args), out=args.out,
                         work_dir=args.work_dir, data_dir=args.data_dir, strategy=args.strategy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
