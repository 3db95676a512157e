"""Train the 17 networks the paper's figures need, skipping those already exported.

The 9 ratio variants at seed 0 (`ratio_1_4-s0` is `standard-s0`, trained
once) and `standard`, `inh_pn`, `no_dale` at seeds 0, 1, 2, all to one budget
of `ZOO_EPOCHS` epochs. Each network is one `train_and_export` run, so a
killed sweep resumes where it stopped; an export of other settings or of an
older recipe (`ei_zoo.training.settings.RECIPE_VERSION`) is trained again and replaced
with `--overwrite`, and refused, before any training, without it.

    python recipes/paper_zoo.py --dry-run      # the plan and its cost
    python recipes/paper_zoo.py                # the whole sweep, 30 epochs each
    python recipes/paper_zoo.py --shard 0/4    # a quarter of it (split across machines)
    python recipes/paper_zoo.py --shard auto   # the quarter of a SLURM job array's task
    python recipes/paper_zoo.py --collect shard0 shard1 shard2 shard3   # one zoo, verified
    python recipes/paper_zoo.py --table        # docs/zoo.md's zoo table, from the exports
    python recipes/paper_zoo.py --verify       # each export's accuracy, from its SavedModel
    python recipes/paper_zoo.py --only standard-s1 inh_pn-s1
    python recipes/paper_zoo.py --study --dry-run   # the design-sensitivity study instead

`--study` trains the networks of `ei_zoo.paper.study` instead: `standard`, `inh_pn` and
`no_dale` at seed 0, each with one change from this recipe at a time, ids like
`standard.gate_open-s0`: every change at seed 0, then the further seeds of the changes
replicated over seeds (`ei_zoo.paper.study.DesignChange.seeds`).

Shards are balanced by estimated cost (`ei_zoo.shards`): longest network first, each to
the shard with the least estimated work so far, the same in every shard's process.
`--shard auto` takes a SLURM job array's task (`SLURM_ARRAY_TASK_ID`,
`SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`; `recipes/paper_zoo.sbatch`).
`--collect DIR ...` merges the shards' `--out` folders into `--out`: it refuses, before
copying anything, a network twice, one not in the plan, one trained with other settings
than these arguments give (pass the shards' training options), or one that `--out`
holds with other settings; then it rebuilds `--out/index.json` and re-measures every
collected network from its SavedModel, as `--verify` does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ei_zoo import data
from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub import files
from ei_zoo.hub.bundle import export_folders, is_export, model_id, read_metadata
from ei_zoo.hub.index import write_index
from ei_zoo.hub.zoo import load
from ei_zoo.network.config import AREAS, CELL_TYPES
from ei_zoo.network.models import multiply_accumulates, resolve_config
from ei_zoo.paper.plan import paper_zoo
from ei_zoo.paper.study import (
    CHANGES,
    RATIO_BASES,
    STUDY_BASES,
    design_change_metadata,
    parse_study_variant,
    study_network,
)
from ei_zoo.paper.study import training_changes as study_training_changes
from ei_zoo.progress import PROGRESS_MODES, keras_verbose
from ei_zoo.shards import parse_shard, shard_of
from ei_zoo.training.recipe import check_replaceable, finished_export, train_and_export
from ei_zoo.training.settings import (
    ZOO_EPOCHS,
    TrainingConfig,
    add_arguments,
    config_from_arguments,
)

# Seconds per epoch of `standard` (batch 128, mixed_bfloat16) on the 2-core
# machine this project is developed on; other variants scale by their MACs.
# Used only where benchmarks/ratio_cost.py has measured nothing.
STANDARD_EPOCH_SECONDS = 80.0
# Seconds per epoch measured from timed training steps by `python benchmarks/run.py`
# (benchmarks/ratio_cost.py); the ratio variants' cost does not follow their MACs alone.
MEASURED_EPOCH_SECONDS = (Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                          / "epoch_seconds.json")


# Every network of the zoo reaches this test accuracy (a 30-epoch `standard` reached 78.9%).
ZOO_MIN_ACCURACY = 0.77
# How far the SavedModel's accuracy may be from training's own evaluation of the
# same network: bfloat16 rounds differently on other CPUs, so a few of the
# 10,000 test predictions may flip; more than this is a broken export.
ACCURACY_TOLERANCE = 0.002


def design_study() -> list[tuple[str, object, int]]:
    """(model id, NetworkConfig, seed) of the study's networks, a change's three at a time:
    every change at seed 0, then each further seed of the changes that have one, then the
    ratio sweep (seed 0) of the changes that have a ratio hypothesis."""
    seeds = sorted({seed for change in CHANGES for seed in change.seeds})
    runs = [(change, seed, STUDY_BASES) for seed in seeds for change in CHANGES
            if seed in change.seeds]
    runs += [(change, 0, RATIO_BASES) for change in CHANGES if change.ratio_hypothesis]
    return [(model_id(network.variant, seed), network, seed)
            for change, seed, bases in runs for base in bases
            for network in [study_network(base, change)]]


def training_changes(network) -> dict:
    """The TrainingConfig fields a study network changes from this recipe ({} for the zoo's)."""
    return study_training_changes(resolve_config(network).variant)


def measured_epoch_seconds(path=MEASURED_EPOCH_SECONDS) -> dict:
    """The benchmark's file: {"epoch_seconds": {variant: s}, "machine", "measured_at", ...}.

    Empty when the file is absent or unreadable, so estimates fall back to MACs.
    """
    try:
        measured = json.loads(Path(path).read_text())
        measured["epoch_seconds"] = {str(variant): float(seconds) for variant, seconds
                                     in measured["epoch_seconds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return measured


def epoch_estimate(variant: str, measured: dict | None = None) -> tuple[float, str]:
    """Seconds per epoch of `variant` and where the figure came from.

    Measured (`benchmarks/results/epoch_seconds.json`) where the benchmark timed
    the variant (`standard` is `ratio_1_4`); otherwise standard's time scaled by
    the variant's MACs (so `inh_pn` and `no_dale` cost what `standard` costs),
    from the measured standard when there is one, else from
    STANDARD_EPOCH_SECONDS.
    """
    seconds = (measured_epoch_seconds() if measured is None else measured).get(
        "epoch_seconds", {})
    key = "ratio_1_4" if variant == "standard" else variant
    if key in seconds:
        return seconds[key], "measured"
    scale = multiply_accumulates(variant) / multiply_accumulates("standard")
    if "ratio_1_4" in seconds:
        return seconds["ratio_1_4"] * scale, "measured standard x MACs"
    return STANDARD_EPOCH_SECONDS * scale, f"{STANDARD_EPOCH_SECONDS:.0f} s x MACs"


def estimate_epoch_seconds(variant: str, measured: dict | None = None) -> float:
    return epoch_estimate(variant, measured)[0]


def _estimate_source(measured: dict, path) -> str:
    if not measured:
        return (f"no {path} (run `python benchmarks/run.py`): standard's "
                f"{STANDARD_EPOCH_SECONDS:.0f} s per epoch on a 2-core CPU, scaled by MACs")
    machine = measured.get("machine", {})
    return (f"measured {measured.get('measured_at', '?')} ({measured.get('mode', '?')} run) on "
            f"{machine.get('cpu_model', '?')} with {machine.get('usable_cpus', '?')} CPUs, "
            f"from {path}")


def zoo_table(exported: Path, plan=None) -> str:
    """The zoo table of docs/zoo.md (Markdown): one row per network of `plan` (default: the
    paper's zoo), exported or not."""
    rows = ["| model | test accuracy | epochs | recipe | training time | size | "
            "silent area 3 (PN/IG/OG) | silent area 4 (PN/IG/OG) |",
            "|---|---|---|---|---|---|---|---|"]
    for identifier, _, _ in plan or paper_zoo():
        folder = exported / identifier
        if not is_export(folder):
            rows.append(f"| `{identifier}` | not trained yet | | | | | | |")
            continue
        metadata = read_metadata(folder)
        size = sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())
        silent = metadata.get("silent_units", {})
        counts = ["/".join(str(silent[area][cell_type]) for cell_type in CELL_TYPES)
                  if area in silent else "not recorded" for area in AREAS]
        rows.append(
            f"| `{identifier}` | {100 * metadata['test_accuracy']:.1f}% | {metadata['epochs']} | "
            f"{metadata.get('recipe_version', 1)} | {metadata['training_seconds'] / 60:.0f} min "
            f"| {size / 1e6:.1f} MB | {counts[0]} | {counts[1]} |")
    return "\n".join(rows)


def verify_zoo(exported: Path, plan, batches, whole_test_set: bool = True) -> list[str]:
    """Re-measure each network's test accuracy from its SavedModel; print a table, return failures.

    A network fails when it is not exported, is below ZOO_MIN_ACCURACY, or
    (on the whole test set) differs from its metadata's accuracy by more than
    ACCURACY_TOLERANCE.
    """
    print("| model | SavedModel accuracy | images | metadata | verdict |\n|---|---|---|---|---|",
          flush=True)
    failures = []
    for identifier, _, _ in plan:
        folder = exported / identifier
        if not is_export(folder):
            failures.append(f"{identifier} is not exported")
            print(f"| `{identifier}` | not exported | | | fails |", flush=True)
            continue
        accuracy, images = load(folder, format="saved_model").accuracy(batches)
        recorded = read_metadata(folder)["test_accuracy"]
        problems = []
        if accuracy < ZOO_MIN_ACCURACY:
            problems.append(f"below {ZOO_MIN_ACCURACY:.0%}")
        if whole_test_set and abs(accuracy - recorded) > ACCURACY_TOLERANCE:
            problems.append(f"{100 * (accuracy - recorded):+.2f} points from its metadata")
        failures += [f"{identifier}: {problem}" for problem in problems]
        print(f"| `{identifier}` | {100 * accuracy:.2f}% | {images:,} | {100 * recorded:.2f}% | "
              f"{'; '.join(problems) or 'ok'} |", flush=True)
    return failures


def main(argv=None) -> int:
    try:
        return run(argv)
    except USER_ERRORS as error:
        print(f"paper_zoo.py: error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, TrainingConfig(epochs=ZOO_EPOCHS), seed=False)  # the plan sets seeds
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("exported"))
    parser.add_argument("--work-dir", type=Path, default=Path("runs"))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace exports of other settings or recipes in --out")
    # Not multiworker: each machine would plan from its own exports; use --shard instead.
    parser.add_argument("--strategy", default="default", choices=("default", "mirrored"))
    parser.add_argument("--study", action="store_true",
                        help="the design-sensitivity study's networks (ei_zoo.paper.study) instead "
                             "of the paper's zoo")
    parser.add_argument("--only", nargs="+", metavar="ID", help="train only these model ids")
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="i/n|auto",
                        help="train shard i of n, shards balanced by estimated cost (auto: a "
                             "SLURM job array's task)")
    parser.add_argument("--collect", nargs="+", type=Path, metavar="DIR",
                        help="merge these shards' --out folders into --out, rebuild its "
                             "index.json and verify the collected networks")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="as `ei-zoo train`'s: Keras's bar, one plain line per epoch, or "
                             "(auto) the bar on a terminal and plain lines off one (a log)")
    parser.add_argument("--table", action="store_true",
                        help="print the zoo table of the exports in --out and stop")
    parser.add_argument("--epoch-seconds", type=Path, default=MEASURED_EPOCH_SECONDS,
                        metavar="JSON", help="measured seconds per epoch (benchmarks/run.py)")
    parser.add_argument("--verify", action="store_true",
                        help="re-measure each export's test accuracy from its SavedModel "
                             f"(--limit: the first N test images); fail below "
                             f"{100 * ZOO_MIN_ACCURACY:.0f}%% or off its metadata")
    return parser


def network_epoch_estimate(network, measured: dict) -> tuple[float, str]:
    """`epoch_estimate` of one network of the plan (a study network costs its base's)."""
    parsed = parse_study_variant(resolve_config(network).variant)
    return epoch_estimate(network if parsed is None else parsed[0], measured)


def _selected(plan, configs, args, parser):
    """The plan's entries that --only and --shard leave (shards balanced by estimated cost)."""
    known = {identifier for identifier, _, _ in plan}
    if args.only:
        unknown = sorted(set(args.only) - known)
        if unknown:
            plan_name = "study" if args.study else "paper's zoo"
            parser.error(f"--only: {unknown} not in the {plan_name}; choose from {sorted(known)}")
        plan = [entry for entry in plan if entry[0] in args.only]
    measured = measured_epoch_seconds(args.epoch_seconds)
    mine = shard_of(
        {identifier: network_epoch_estimate(network, measured)[0] * configs[identifier].epochs
         for identifier, network, _ in plan}, *args.shard)
    return [entry for entry in plan if entry[0] in mine]


def collect(folders, out: Path, plan, configs, overwrite: bool = False) -> list[str]:
    """Copy the exports of the shards' `folders` into `out` and rebuild its index; the
    ids collected. Everything is checked before anything is copied (ValueError)."""
    networks = {identifier: network for identifier, network, _ in plan}
    found = {}
    for folder in folders:
        if not Path(folder).is_dir():
            raise ValueError(f"--collect {folder}: no such folder; pass the shards' --out "
                             "folders.")
        for export in export_folders(folder):
            identifier = export.name
            if identifier in found:
                raise ValueError(f"--collect: {identifier} is in both {found[identifier].parent} "
                                 f"and {folder}; keep one.")
            if identifier not in networks:
                raise ValueError(f"--collect: {export} is not a network of this plan.")
            network = resolve_config(networks[identifier])
            if finished_export(export, network, configs[identifier]) is None:
                raise ValueError(
                    f"--collect: {export} was trained with other settings than these arguments "
                    "give (or is damaged); pass the shards' own training options.")
            check_replaceable(out / identifier, network, configs[identifier], overwrite)
            found[identifier] = export
    if not found:
        raise ValueError(f"--collect: no exports in {', '.join(map(str, folders))}.")
    files.check_writable_folder(out)
    for identifier, export in found.items():
        with files.staging(out / identifier, "collect") as staging:
            shutil.copytree(export, staging / identifier)
            files.replace_folder(staging / identifier, out / identifier, staging)
    write_index(out)
    return sorted(found)


def _print_plan(plan, todo, configs, args) -> None:
    """One line per network (to train or done) with its estimated time, and the total."""
    measured = measured_epoch_seconds(args.epoch_seconds)
    total = 0.0
    for identifier, network, _seed in plan:
        epoch_seconds, source = network_epoch_estimate(network, measured)
        epochs = configs[identifier].epochs
        pending = any(identifier == entry[0] for entry in todo)
        total += epoch_seconds * epochs if pending else 0.0
        print(f"{identifier:31s} {'train' if pending else 'done (exported)':16s} "
              f"~{epoch_seconds * epochs / 60:6.1f} min "
              f"({epochs} epochs x {epoch_seconds:.0f} s, {source})")
    print(f"{len(todo)} of {len(plan)} networks to train, ~{total / 3600:.1f} h")
    print(f"epoch times: {_estimate_source(measured, args.epoch_seconds)}")


def _verified(plan, out: Path, batches, whole_test_set: bool) -> int:
    failures = verify_zoo(out, plan, batches, whole_test_set=whole_test_set)
    if failures:
        print(f"{len(failures)} failure(s): {'; '.join(failures)}", file=sys.stderr)
        return 1
    print(f"all {len(plan)} networks verified")
    return 0


def run(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    plan = design_study() if args.study else paper_zoo()
    if args.table:
        print(zoo_table(args.out, plan))
        return 0
    configs = {identifier: config_from_arguments(args, seed=seed, **training_changes(network))
               for identifier, network, seed in plan}
    if args.collect:
        collected = collect(args.collect, args.out, plan, configs, args.overwrite)
        print(f"collected {len(collected)} networks into {args.out}; verifying them")
        test_limit = configs[collected[0]].test_limit
        batches = data.test_dataset(500, data_dir=args.data_dir, limit=test_limit)
        return _verified([entry for entry in plan if entry[0] in collected], args.out, batches,
                         test_limit is None)
    plan = _selected(plan, configs, args, parser)
    if args.verify:
        batches = data.test_dataset(500, data_dir=args.data_dir, limit=args.limit)
        return _verified(plan, args.out, batches, args.limit is None)
    todo = [(identifier, network) for identifier, network, _ in plan
            if finished_export(args.out / identifier, resolve_config(network),
                               configs[identifier]) is None]
    _print_plan(plan, todo, configs, args)
    if args.dry_run:
        return 0
    for identifier, network in todo:  # all of them before the first network trains
        check_replaceable(args.out / identifier, resolve_config(network), configs[identifier],
                          args.overwrite)
    for identifier, network in todo:
        print(f"== {identifier}", flush=True)
        train_and_export(network, configs[identifier], out=args.out, work_dir=args.work_dir,
                         data_dir=args.data_dir, strategy=args.strategy,
                         verbose=keras_verbose(args.progress), overwrite=args.overwrite,
                         metadata=design_change_metadata(resolve_config(network).variant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
