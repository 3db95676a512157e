"""ei_zoo's speed against the reference, Keras's ConvLSTM2D, on this machine.

Runs every part in its own process (so one part's memory and threads do not
affect the next), prints what it measures, and prints as its LAST line one
JSON object: the three headline ratios, the raw figures (images/s, seconds,
peak RSS) and the machine. The results are also written to `--out`.

    python benchmarks/run.py            # the full run, about 3-4 min on 2 cores
    python benchmarks/run.py --quick    # a first look, under 3 minutes
    python benchmarks/run.py --tiny     # tiny networks: only checks that it runs

Targets (`TARGETS`): training >= 1.5x ConvLSTM2D's images/s in float32 and
mixed_bfloat16 and >= 2x in the faster of the two; `train_utilization` >= 0.55
(see train_speed.py); mixed_bfloat16 >= 1.3x float32's images/s; analyze <=
1.5x the time of `serve` on the same images; input pipeline >= 5x the training
rate. Run it on an otherwise idle machine: `machine.load_average` records how
busy it was at the start.
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import common

PARTS = ("train", "analysis", "pipeline", "ratio")
TRAINING_PRECISION = "mixed_bfloat16"  # the zoo's; the pipeline is compared with it
TARGETS = {  # headline key: (comparison, bound)
    "train_ratio_vs_convlstm2d": (">=", 1.5),  # the lower of the two precisions
    "train_ratio_vs_convlstm2d_fastest": (">=", 2.0),  # in the precision that trains fastest
    "train_utilization": (">=", 0.55),  # in the precision that trains fastest
    "bf16_speedup": (">=", 1.3),  # mixed_bfloat16 / float32 images/s of `standard`
    "analysis_ratio_vs_forward": ("<=", 1.5),
    "pipeline_ratio_vs_train": (">=", 5.0),
}


def default_out(mode: str) -> Path | None:
    """Where results go unless `--out` says: a quick run never overwrites a full run's
    file, and a tiny run (meaningless figures) writes nothing."""
    return {"full": common.RESULTS / "latest.json",
            "quick": common.RESULTS / "latest-quick.json", "tiny": None}[mode]


def headlines(parts: dict) -> dict:
    """The headline figures of the issues, from the parts' results."""
    values = {}
    if "train" in parts:
        precisions = parts["train"]["precisions"]
        values["train_ratio_vs_convlstm2d"] = min(p["ratio"] for p in precisions.values())
        fastest = max(precisions.values(), key=lambda p: p["standard_images_per_second"])
        values["train_ratio_vs_convlstm2d_fastest"] = fastest["ratio"]
        values["train_utilization"] = fastest["utilization"]
        if {"float32", "mixed_bfloat16"} <= precisions.keys():
            values["bf16_speedup"] = round(
                precisions["mixed_bfloat16"]["standard_images_per_second"]
                / precisions["float32"]["standard_images_per_second"], 3)
    if "analysis" in parts:
        values["analysis_ratio_vs_forward"] = parts["analysis"]["ratio_analyze_vs_serve"]
    if "pipeline" in parts and "ratio_vs_train" in parts["pipeline"]:
        values["pipeline_ratio_vs_train"] = parts["pipeline"]["ratio_vs_train"]
    return values


def verdicts(values: dict) -> dict:
    checks = {}
    for key, value in values.items():
        comparison, bound = TARGETS[key]
        met = value >= bound if comparison == ">=" else value <= bound
        checks[key] = {"measured": value, "target": f"{comparison} {bound}", "met": met}
    return checks


def markdown(result: dict) -> str:
    """The performance table of docs/performance.md, from a result of `main`."""
    machine = result["machine"]
    lines = [
        f"Measured {result['measured_at'][:10]} by `python benchmarks/run.py` ({result['mode']} "
        f"run) on {machine['cpu_model']}, {machine['usable_cpus']} CPUs, "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}:",
        "",
        "| measurement | ei_zoo | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for precision, figures in result.get("train", {}).get("precisions", {}).items():
        lines.append(
            f"| training `standard`, {precision}, batch {figures['batch_size']} | "
            f"{figures['standard_images_per_second']:,.0f} img/s | ConvLSTM2D "
            f"{figures['convlstm2d_images_per_second']:,.0f} img/s | "
            f"{figures['ratio']:.2f}x | >= 1.5x |")
        lines.append(
            f"| useful FLOP/s of that step, {precision} | "
            f"{figures['standard_useful_gflops']:,.0f} GFLOP/s | area 3's recurrent "
            f"convolution alone {figures['recurrent_convolution_gflops']:,.0f} GFLOP/s | "
            f"{figures['utilization']:.2f} | >= 0.55 in the faster precision |")
    if "bf16_speedup" in result:
        lines.append(f"| mixed_bfloat16 / float32 training images/s | | | "
                     f"{result['bf16_speedup']:.2f}x | >= 1.3x |")
    analysis = result.get("analysis")
    if analysis:
        largest = str(max(analysis["images"]))
        rss = ", ".join(f"{mib:,.0f} MiB (N={int(n):,})" for n, mib in sorted(
            analysis["peak_rss_mib"]["analyze"].items(), key=lambda item: int(item[0])))
        lines.append(
            f"| `analyze`, {int(largest):,} test images | "
            f"{analysis['analyze_images_per_second']:,.0f} img/s | `serve` "
            f"{analysis['serve_images_per_second']:,.0f} img/s, `activations` "
            f"{analysis['activations_images_per_second']:,.0f} img/s | "
            f"{analysis['ratio_analyze_vs_serve']:.2f}x the time | <= 1.5x |")
        lines.append(f"| peak RSS of `analyze` | {rss} | | | flat in N |")
    pipeline = result.get("pipeline")
    if pipeline and "ratio_vs_train" in pipeline:
        lines.append(
            f"| input pipeline alone, batch {pipeline['batch_size']} | "
            f"{pipeline['images_per_second']:,.0f} img/s | training (mixed_bfloat16) | "
            f"{pipeline['ratio_vs_train']:.1f}x | >= 5x |")
    sweep = result.get("ratio_sweep")
    if sweep:
        by_ratio = sorted(sweep["epoch_seconds"].items(),
                          key=lambda item: Fraction(*map(int, item[0].split("_")[1:])))
        cost = ", ".join(f"{variant.removeprefix('ratio_').replace('_', ':')} {seconds:.0f}"
                         for variant, seconds in by_ratio)
        lines += ["", f"Seconds per epoch ({sweep['steps_per_epoch']} steps, "
                  f"{sweep['precision']}, timed steps) of the ratio variants: {cost}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default benchmarks/results/latest.json; "
                             "latest-quick.json with --quick; none with --tiny)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="run only these parts")
    args = parser.parse_args(argv)
    mode = common.mode_of(args)
    flags = common.mode_flags(mode)
    out = args.out or default_out(mode)
    machine = common.machine()
    start = time.perf_counter()
    common.say(f"ei_zoo benchmarks, {mode} run, on {machine['cpu_model']} "
               f"({machine['usable_cpus']} CPUs), TensorFlow {machine['tensorflow']}, "
               f"Keras {machine['keras']}; load average {machine['load_average']}")

    parts = {}
    if "train" in args.parts:
        parts["train"] = common.run_script("train_speed.py", flags, prefix="  ")
    if "analysis" in args.parts:
        parts["analysis"] = common.run_script("analysis_speed.py", flags, prefix="  ")
    if "pipeline" in args.parts:
        pipeline_args = list(flags)
        if "train" in parts:
            rate = parts["train"]["precisions"][TRAINING_PRECISION]["standard_images_per_second"]
            pipeline_args += ["--train-images-per-second", rate]
        parts["pipeline"] = common.run_script("pipeline_speed.py", pipeline_args, prefix="  ")
    if "ratio" in args.parts:
        ratio_args = list(flags)
        if out is not None:
            ratio_args += ["--write", out.parent / "epoch_seconds.json"]
        parts["ratio_sweep"] = common.run_script("ratio_cost.py", ratio_args, prefix="  ")

    values = headlines(parts)
    checks = verdicts(values)
    if "train" in parts:
        machine["devices"] = parts["train"]["devices"]
    result = {
        **values,
        "targets": checks,
        **parts,
        "peak_rss_mib": {name: part["peak_rss_mib"] for name, part in parts.items()
                         if "peak_rss_mib" in part},
        "machine": machine,
        "mode": mode,
        "measured_at": common.now(),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    for key, check in checks.items():
        common.say(f"{key:34s} {check['measured']:7.2f}  target {check['target']:8s} "
                   f"{'met' if check['met'] else 'MISSED'}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        out.with_suffix(".md").write_text(markdown(result))
        common.say(f"wrote {out} and {out.with_suffix('.md').name} "
                   f"({result['wall_seconds']:.0f} s)")
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
