"""ei_zoo.shards: `--shard i/n|auto` and shards balanced by estimated cost."""

import argparse

import pytest

from ei_zoo import shards


def test_shard_auto_reads_a_slurm_array_task(monkeypatch):
    environ = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4",
               "SLURM_ARRAY_TASK_COUNT": "4"}
    assert shards.slurm_shard(environ) == (1, 4)
    with pytest.raises(argparse.ArgumentTypeError, match="not a SLURM job array's task"):
        shards.slurm_shard({})
    with pytest.raises(argparse.ArgumentTypeError, match="not among the array's 4"):
        shards.slurm_shard({**environ, "SLURM_ARRAY_TASK_ID": "9"})
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert shards.parse_shard("auto") == (1, 4)


@pytest.mark.parametrize("text, message", [
    ("1-4", "use i/n"), ("a/4", "use i/n"), ("4/4", "need 0 <= i < n"), ("-1/4", "need 0 <= i"),
    ("0/0", "need 0 <= i < n")])
def test_a_bad_shard_is_refused(text, message):
    assert shards.parse_shard("2/4") == (2, 4)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        shards.parse_shard(text)


def test_shards_take_every_job_once_and_end_together():
    costs = {"a": 1.0, "b": 9.0, "c": 4.0, "d": 4.0, "e": 1.0, "f": 1.0}
    parts = [shards.shard_of(costs, index, 3) for index in range(3)]
    assert sorted(sum(parts, [])) == sorted(costs)
    # The costliest alone; the rest split evenly, each shard in the order of `costs`.
    assert parts == [["b"], ["a", "c", "f"], ["d", "e"]]
    assert shards.shard_of(costs, 0, 1) == list(costs)
    assert shards.shard_of({"a": 1.0}, 1, 2) == []  # more shards than jobs: some have none
