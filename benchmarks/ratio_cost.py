"""Seconds per training epoch of each of the 9 ratio variants, from timed steps.

The ratio sweep is most of the paper zoo's cost and its variants' cost does
not scale with their multiply-accumulates alone (small convolutions are
overhead-bound), so `recipes/paper_zoo.py --dry-run` plans with these
measured figures when `benchmarks/results/epoch_seconds.json` exists.

    python benchmarks/ratio_cost.py [--quick] [--write benchmarks/results/epoch_seconds.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common

DEFAULT_FILE = common.RESULTS / "epoch_seconds.json"
PRECISION = "mixed_bfloat16"  # the zoo's training precision (TrainingConfig's default)


def step_seconds(variant: str, mode: str) -> float:
    """Median seconds of one training step of `variant` (batch and sizes of `mode`)."""
    import keras

    from ei_zoo.network.models import resolve_config
    from ei_zoo.training.fit import prepare_model
    from ei_zoo.training.settings import TrainingConfig

    sizes = common.SIZES[mode]
    keras.backend.clear_session()  # one variant's graphs and weights at a time
    network = resolve_config(variant, **common.network_overrides(mode))
    model = prepare_model(network, TrainingConfig(batch_size=sizes["batch"], precision=PRECISION))
    step = common.train_step(model, *common.synthetic_batch(sizes["batch"], network.image_size,
                                                            network.num_classes))
    common.seconds_of(step, sizes["ratio_warmup"])
    seconds = [common.seconds_of(step, sizes["ratio_steps"]) for _ in range(sizes["ratio_repeats"])]
    return common.median(seconds) / sizes["ratio_steps"]


def write_estimates(path: Path, result: dict) -> str:
    """Write the estimates for `paper_zoo.py`, unless that would replace better ones.

    A `quick` run never replaces a `full` run's file, and a `tiny` run (tiny
    networks, meaningless figures) writes nowhere. Returns what was done.
    """
    if result["mode"] == "tiny":
        return f"tiny networks: not written to {path}"
    if result["mode"] == "quick" and path.is_file():
        try:
            if json.loads(path.read_text()).get("mode") == "full":
                return f"kept the full run's {path}"
        except ValueError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return f"wrote {path}"


def main(argv=None) -> int:
    from ei_zoo.network.registry import RATIOS, ratio_name
    from ei_zoo.training.settings import TRAIN_IMAGES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--write", type=Path, default=None, metavar="JSON",
                        help=f"write the estimates there (paper_zoo.py reads {DEFAULT_FILE})")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only these variants (default: all 9 ratio variants)")
    args = parser.parse_args(argv)
    mode = common.mode_of(args)
    sizes = common.SIZES[mode]
    variants = args.variants or sizes["ratio_variants"] or [ratio_name(r) for r in RATIOS]
    steps_per_epoch = TRAIN_IMAGES // sizes["batch"]
    epoch_seconds, per_step = {}, {}
    for variant in variants:
        per_step[variant] = step_seconds(variant, mode)
        epoch_seconds[variant] = round(per_step[variant] * steps_per_epoch, 1)
        common.say(f"ratio cost {variant:11s}: {per_step[variant] * 1000:7.1f} ms/step, "
                   f"~{epoch_seconds[variant]:6.1f} s/epoch")
    result = {
        "epoch_seconds": epoch_seconds,
        "step_seconds": {k: round(v, 4) for k, v in per_step.items()},
        "steps_per_epoch": steps_per_epoch,
        "batch_size": sizes["batch"],
        "precision": PRECISION,
        "mode": mode,
        "peak_rss_mib": common.peak_rss_mib(),
        "machine": common.machine(),
        "measured_at": common.now(),
        "source": "benchmarks/ratio_cost.py: timed training steps on a fixed batch "
                  "(input pipeline excluded)",
    }
    if args.write is not None:
        common.say(f"ratio cost: {write_estimates(args.write, result)}")
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
