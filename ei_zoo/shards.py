"""Shards of a list of jobs, balanced by estimated cost: one per task of a SLURM job array,
or `i/n` by hand.

Every shard's process computes the same split from the same costs, so the shards
together do each job exactly once, with no coordination between them.

    index, count = parse_shard("auto")           # this SLURM array task's shard
    mine = shard_of({"a": 3.0, "b": 1.0, "c": 1.0}, index, count)
"""

from __future__ import annotations

import argparse
import os


def parse_shard(text: str) -> tuple[int, int]:
    """(i, n) of a `--shard` option's `i/n` (0 <= i < n), or of `auto`: this SLURM job
    array's task (`slurm_shard`); an argparse type.

    Raises:
        argparse.ArgumentTypeError: another form, i out of range, or `auto` outside
            a job array.
    """
    if text == "auto":
        return slurm_shard(os.environ)
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: use i/n, e.g. 0/4") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= i < n")
    return index, count


def slurm_shard(environ) -> tuple[int, int]:
    """(i, n) of a SLURM job array's task: its index from the array's first
    (`SLURM_ARRAY_TASK_ID` - `SLURM_ARRAY_TASK_MIN`), of `SLURM_ARRAY_TASK_COUNT`.

    Raises:
        argparse.ArgumentTypeError: the variables are unset, or the task is not
            among the array's.
    """
    try:
        task, count = int(environ["SLURM_ARRAY_TASK_ID"]), int(environ["SLURM_ARRAY_TASK_COUNT"])
        first = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(
            "--shard auto: not a SLURM job array's task (SLURM_ARRAY_TASK_ID and "
            "SLURM_ARRAY_TASK_COUNT unset); submit with `sbatch --array=0-3` (e.g. "
            "recipes/paper_zoo.sbatch or recipes/perturb_zoo.sbatch), or pass i/n") from None
    if not 0 <= task - first < count:
        raise argparse.ArgumentTypeError(
            f"--shard auto: task {task} is not among the array's {count} from {first}")
    return task - first, count


def balanced_shards(costs: dict, count: int) -> dict:
    """Job -> shard (0..count-1) for `costs` ({job: estimated cost}): the costliest
    first, each to the shard with the least estimated work so far (ties: the lower
    shard, then the order of `costs`), so that the shards end together."""
    loads, owner = [0.0] * count, {}
    for job in sorted(costs, key=lambda key: -costs[key]):  # stable: the order of costs
        shard = min(range(count), key=lambda index: (loads[index], index))
        loads[shard] += costs[job]
        owner[job] = shard
    return owner


def shard_of(costs: dict, index: int, count: int) -> list:
    """The jobs of shard `index` of `count` (`balanced_shards`), in the order of `costs`."""
    owner = balanced_shards(costs, count)
    return [job for job in costs if owner[job] == index]
