"""The training recipe: resume after a kill, export from a checkpoint, strategies, the sweep."""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import ei_zoo
from ei_zoo import data
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import read_metadata, verify_export
from ei_zoo.paper import study
from ei_zoo.shards import balanced_shards
from ei_zoo.training.recipe import check_replaceable, export_run, train_and_export
from ei_zoo.training.settings import RECIPE_VERSION, TrainingConfig

from conftest import REPO

sys.path.insert(0, str(REPO / "recipes"))
import paper_zoo  # noqa: E402
import silent_units  # noqa: E402
import trainability  # noqa: E402


def _env(cifar_dir):
    env = dict(os.environ, TFDS_DATA_DIR=cifar_dir, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("recipe, argv, named", [
    (trainability, ["--variants", "standard", "nope"], "'nope'"),
    (trainability, ["--out", "/proc/no/trainability.json"], "/proc/no/trainability.json"),
    (trainability, ["--out", "."], "--out . is a folder"),
    (silent_units, ["--probe", "baseline", "--probe", "learning_rte=1e-3"], "learning_rte"),
    (silent_units, ["--probe", "learning_rate=fast"], "learning_rate=fast"),
])
def test_recipes_refuse_a_mistake_in_one_line_before_training(recipe, argv, named, tmp_path,
                                                              monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_data"))  # a read would fail too
    assert recipe.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith(f"{Path(recipe.__file__).name}: error:") and named in message
    assert "\n" not in message and not any(tmp_path.iterdir())


def test_killed_run_resumes_at_the_epoch_it_lost(cifar_dir, tmp_path):
    command = [sys.executable, "-m", "ei_zoo.cli", "train", "--variant", "standard",
               "--precision", "float32",
               "--epochs", "3", "--limit", "1024", "--test-limit", "256", "--batch-size", "64",
               "--work-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "exported")]
    checkpoint = tmp_path / "runs" / "standard-s0" / "backup" / "training_metadata.json"
    first = subprocess.Popen(command, env=_env(cifar_dir), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text() or "{}").get("epoch") == 1:
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    first.wait()
    assert first.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "exported" / "standard-s0").exists()

    # Exporting an unfinished run says how to finish it.
    assert cli_main(["export", str(tmp_path / "runs" / "standard-s0"),
                     "--out", str(tmp_path / "exported")]) == 2

    second = subprocess.run(command, env=_env(cifar_dir), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Epoch 2/3" in second.stderr and "Epoch 1/3" not in second.stderr  # progress: stderr
    folder = tmp_path / "exported" / "standard-s0"
    verify_export(folder)
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    assert history["silent_area4_OG"].between(0, 1).all()  # SilentUnits, every epoch
    assert read_metadata(folder)["epochs"] == 3


def test_export_from_checkpoint_after_a_failed_export(cifar_dir, tmp_path, monkeypatch):
    config = TrainingConfig(epochs=1, limit=128, batch_size=64, test_limit=512)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ei_zoo.hub.export.export_model", crash)
    with pytest.raises(OSError):
        train_and_export("inh_pn", config, out=tmp_path / "exported",
                         work_dir=tmp_path / "runs", data_dir=cifar_dir, verbose=0)
    monkeypatch.undo()
    assert not (tmp_path / "exported").exists() or not any((tmp_path / "exported").iterdir())
    run_dir = tmp_path / "runs" / "inh_pn-s0"
    folder = export_run(run_dir, out=tmp_path / "exported", data_dir=cifar_dir,
                        verbose=0)
    metadata = read_metadata(folder)
    assert metadata["id"] == "inh_pn-s0" and metadata["variant"] == "inh_pn"
    assert metadata["splits"] == {"train": "train[:128]", "test": "test[:512]"}
    assert 0 <= metadata["test_accuracy"] <= 1 and metadata["training_seconds"] > 0
    assert metadata["config"] == ei_zoo.get_config("inh_pn").to_dict()
    assert metadata["recipe_version"] == RECIPE_VERSION
    silent = metadata["silent_units"]
    assert {area: set(types) for area, types in silent.items()} == {
        "area3": {"PN", "IG", "OG"}, "area4": {"PN", "IG", "OG"}}
    assert all(0 <= silent[area][cell_type] <= metadata["cell_types"][area][cell_type]["channels"]
               for area in silent for cell_type in silent[area])
    # The exported weights are the checkpoint's, signs intact.
    model = ei_zoo.load(folder)
    assert float(ei_zoo.effective_weights(model)["readout"].max()) <= 0
    # The test accuracy is the test curve's last point, not a second evaluation: the same
    # weights, the same figure.
    history = pd.read_csv(folder / "history.csv")
    assert metadata["test_accuracy"] == round(float(history["test_accuracy"].iloc[-1]), 4)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    again = model.evaluate(data.test_dataset(data_dir=cifar_dir, limit=512), return_dict=True,
                           verbose=0)
    assert round(again["accuracy"], 4) == metadata["test_accuracy"]


def test_only_this_runs_export_is_replaced_without_overwrite(tiny_export, tmp_path):
    """Nothing, an empty folder: written. An export of another run, a folder of the
    user's, a file: refused in one line unless overwrite (issue 34, #1)."""
    network, config = ei_zoo.get_config("standard"), TrainingConfig()
    (tmp_path / "empty").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        check_replaceable(folder, network, config, overwrite=False)
    for folder, held in ((tiny_export, "holds an export of another run"),
                         (tmp_path / "mine", "is a folder that holds no export"),
                         (tmp_path / "file", "is a file")):
        with pytest.raises(ValueError, match=rf"{folder} {held}.*; choose another --out, or "
                                             r"pass --overwrite \(overwrite=True\)"):
            check_replaceable(folder, network, config, overwrite=False)
        check_replaceable(folder, network, config, overwrite=True)


def test_changed_arguments_do_not_resume_a_different_run(cifar_dir, tmp_path):
    run_dir = tmp_path / "runs" / "standard-s0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"network": {}, "training": {}}))
    with pytest.raises(ValueError, match="other settings"):
        train_and_export("standard",
                         TrainingConfig(epochs=1, limit=64, batch_size=32),
                         work_dir=tmp_path / "runs", out=tmp_path / "exported",
                         data_dir=cifar_dir)


MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
from ei_zoo.training.settings import TrainingConfig
from ei_zoo.training.fit import get_strategy
from ei_zoo.training.recipe import train_and_export

assert get_strategy("mirrored").num_replicas_in_sync == 2
config = TrainingConfig(epochs=1, limit=64, batch_size=32, precision="float32",
                                 test_limit=256)
folder = train_and_export("standard", config, out=OUT, work_dir=RUNS,
                          strategy="mirrored", verbose=0)
print("EXPORTED", folder)
"""


def test_mirrored_strategy_trains_on_two_logical_cpus(cifar_dir, tmp_path):
    code = MIRRORED.replace("OUT", repr(str(tmp_path / "exported"))).replace(
        "RUNS", repr(str(tmp_path / "runs")))
    result = subprocess.run([sys.executable, "-c", code], env=_env(cifar_dir),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    metadata = read_metadata(tmp_path / "exported" / "standard-s0")
    assert metadata["hardware"]["strategy"] == "mirrored"
    assert np.isfinite(metadata["test_loss"])


def test_paper_zoo_plan(tiny_export, tmp_path, capsys):
    plan = [identifier for identifier, _, _ in paper_zoo.paper_zoo()]
    assert len(plan) == len(set(plan)) == 17
    assert "ratio_1_4-s0" not in plan and "standard-s0" in plan and "no_dale-s2" in plan
    # Four shards balanced by estimated cost: each network in one shard, the longest
    # shard shorter than dealing them round-robin would make it.
    measured = paper_zoo.measured_epoch_seconds()
    costs = {identifier: paper_zoo.network_epoch_estimate(variant, measured)[0]
             for identifier, variant, _ in paper_zoo.paper_zoo()}
    owner = balanced_shards(costs, 4)
    shards = [[identifier for identifier in plan if owner[identifier] == i] for i in range(4)]
    assert sorted(sum(shards, [])) == sorted(plan)
    longest = max(sum(costs[identifier] for identifier in shard) for shard in shards)
    dealt = max(sum(costs[identifier] for identifier in plan[i::4]) for i in range(4))
    assert longest < dealt and longest <= 1.1 * sum(costs.values()) / 4

    # An export of the zoo's settings counts as done; one of another budget does not.
    # An export made before a training field existed (here test_limit, the shipped
    # networks' case) has that field's default, so it counts as done too.
    done = TrainingConfig(epochs=paper_zoo.ZOO_EPOCHS)
    for identifier, epochs in (("standard-s0", paper_zoo.ZOO_EPOCHS), ("inh_pn-s0", 15)):
        folder = tmp_path / identifier
        shutil.copytree(tiny_export, folder)
        metadata = read_metadata(folder)
        settings = dataclasses.replace(done, epochs=epochs).to_dict()
        del settings["test_limit"]
        metadata.update(config=ei_zoo.get_config(identifier.split("-")[0]).to_dict(),
                        training=settings, recipe_version=RECIPE_VERSION,
                        epochs=epochs, training_seconds=60.0)
        (folder / "metadata.json").write_text(json.dumps(metadata))
    assert paper_zoo.main(["--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "16 of 17 networks to train" in out
    assert re.search(r"standard-s0 +done", out) and re.search(r"inh_pn-s0 +train", out)
    table = paper_zoo.zoo_table(tmp_path).splitlines()
    assert len(table) == 2 + 17
    assert table[2].startswith("| `standard-s0` | 12.5% | 30 | 2 |")
    assert "| `ratio_1_64-s0` | not trained yet |" in "\n".join(table)
    assert paper_zoo.main(["--dry-run", "--out", str(tmp_path), "--shard", "1/4"]) == 0
    out = capsys.readouterr().out
    assert f"{len(shards[1])} of {len(shards[1])} networks" in out
    # --out keeps the plan independent of what this checkout's exported/ holds.
    assert paper_zoo.main(["--dry-run", "--out", str(tmp_path),
                           "--only", "inh_pn-s1", "ratio_4_1-s0"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 networks to train" in out and "standard-s0" not in out
    # Without a benchmark file, estimates scale standard's time by the work per image.
    assert paper_zoo.estimate_epoch_seconds("ratio_4_1", measured={}) > 2 * (
        paper_zoo.estimate_epoch_seconds("standard", measured={}))
    assert paper_zoo.estimate_epoch_seconds("inh_pn", measured={}) == (
        paper_zoo.estimate_epoch_seconds("standard", measured={}))


def test_paper_zoo_verify_remeasures_each_savedmodel(tiny_export, cifar_dir, tmp_path, capsys,
                                                    monkeypatch):
    folder = tmp_path / "standard-s0"
    shutil.copytree(tiny_export, folder)
    args = ["--verify", "--out", str(tmp_path), "--data-dir", cifar_dir, "--limit", "300"]
    # The tiny network is near chance: below the zoo's floor, and inh_pn-s0 is missing.
    assert paper_zoo.main(args + ["--only", "standard-s0", "inh_pn-s0"]) == 1
    captured = capsys.readouterr()
    assert "| `inh_pn-s0` | not exported |" in captured.out
    row = next(line for line in captured.out.splitlines() if "`standard-s0`" in line)
    accuracy = float(row.split("|")[2].strip().rstrip("%")) / 100
    assert "| 300 |" in row and "below 77%" in row
    assert "standard-s0: below 77%" in captured.err and "inh_pn-s0 is not exported" in captured.err
    # Served by hand, the same 300 images give the same accuracy.
    served = ei_zoo.load(folder, format="saved_model")
    images, labels = (np.concatenate(parts) for parts in zip(*[
        (np.asarray(x), np.asarray(y)) for x, y in data.test_dataset(
            100, data_dir=cifar_dir, limit=300)]))
    assert accuracy == pytest.approx((np.asarray(served.serve(images)).argmax(-1) == labels).mean(),
                                     abs=5e-5)
    # No data: one line and exit status 2, before any model is loaded.
    assert paper_zoo.main(["--verify", "--out", str(tmp_path),
                           "--data-dir", str(tmp_path / "no_data")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("paper_zoo.py: error: CIFAR-10 is not prepared")
    assert "Traceback" not in error
    # With the floor met, the whole test set compares against the metadata's figure.
    monkeypatch.setattr(paper_zoo, "ZOO_MIN_ACCURACY", 0.0)
    first_300 = data.test_dataset(100, data_dir=cifar_dir, limit=300)
    monkeypatch.setattr(paper_zoo.data, "test_dataset", lambda *args, **kwargs: first_300)
    metadata = read_metadata(folder)
    for recorded, verdict, code in ((accuracy, "| ok |", 0), (accuracy + 0.05, "-5.00 points", 1)):
        metadata["test_accuracy"] = recorded
        (folder / "metadata.json").write_text(json.dumps(metadata))
        assert paper_zoo.main(["--verify", "--out", str(tmp_path), "--only", "standard-s0"]) == code
        assert verdict in capsys.readouterr().out


def test_cli_zoo_commands(tiny_export, tmp_path, capsys, monkeypatch):
    exported = tiny_export.parent
    monkeypatch.setenv("EI_ZOO_EXPORTED", str(exported))  # the zoo that downloads must match
    mirror = tmp_path / "mirror"
    assert cli_main(["pack", "--exported", str(exported), "--out", str(mirror)]) == 0
    assert cli_main(["index", "--exported", str(exported)]) == 0
    assert cli_main(["list", "--exported", str(exported)]) == 0
    assert "standard-s0" in capsys.readouterr().out
    assert cli_main(["info", str(tiny_export)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["id"] == "standard-s0" and "files" not in info
    cache = tmp_path / "cache"
    assert cli_main(["download", "standard-s0", "--mirror", str(mirror),
                     "--cache-dir", str(cache)]) == 0
    assert Path(capsys.readouterr().out.strip()) == cache / "standard-s0"
    verify_export(cache / "standard-s0")
    assert cli_main(["download", "standard-s9", "--mirror", str(mirror),
                     "--cache-dir", str(cache)]) == 2
    assert "standard-s0" in capsys.readouterr().err


def test_design_study_plan(tmp_path, capsys):
    """Every change x three variants at seed 0, then seeds 1 and 2 of the replicated
    changes, then the ratio sweep of the changes with a ratio hypothesis; ids that say
    what changed, each change's training fields applied, and every study network kept out
    of the paper's variants."""
    plan = paper_zoo.design_study()
    ids = [identifier for identifier, _, _ in plan]
    first = 3 * len(study.CHANGES)
    replicated = [change.name for change in study.CHANGES if 1 in change.seeds]
    assert replicated == ["gate_open", "gate_closed", "signed_output"]
    swept = [change.name for change in study.CHANGES if change.ratio_hypothesis]
    assert swept == ["signed_output"]
    assert len(ids) == len(set(ids)) == first + 3 * 2 * len(replicated) + 8 * len(swept)
    assert ids[:3] == ["standard.gate_open-s0", "inh_pn.gate_open-s0", "no_dale.gate_open-s0"]
    assert all(identifier.endswith("-s0") for identifier in ids[:first])
    assert ids[first - 1] == "no_dale.signed_output-s0"
    assert ids[first:first + 3] == ["standard.gate_open-s1", "inh_pn.gate_open-s1",
                                    "no_dale.gate_open-s1"]
    assert ids[-9] == "no_dale.signed_output-s2"
    assert ids[-8:] == [f"{ratio}.signed_output-s0" for ratio in (
        "ratio_1_64", "ratio_1_32", "ratio_1_16", "ratio_1_8", "ratio_1_2", "ratio_1_1",
        "ratio_2_1", "ratio_4_1")]
    sweep = dict((identifier, net) for identifier, net, _ in plan)["ratio_2_1.signed_output-s0"]
    assert sweep == ei_zoo.get_config("ratio_2_1").replace(
        variant="ratio_2_1.signed_output", signed_principal_output=True)
    assert study.parse_study_variant("ratio_1_8.signed_output")[0] == "ratio_1_8"
    assert {seed for _, _, seed in plan} == {0, 1, 2}
    network = dict((identifier, net) for identifier, net, _ in plan)["inh_pn.gate_closed-s0"]
    assert network == ei_zoo.get_config("inh_pn").replace(variant="inh_pn.gate_closed",
                                                          gate_drive=-2.0)
    assert paper_zoo.training_changes(network) == {}
    assert paper_zoo.training_changes(study.study_network("no_dale", study.CHANGES_BY_NAME[
        "weight_decay_0"])) == {"weight_decay": 0.0}
    assert paper_zoo.training_changes("standard") == {}
    assert study.parse_study_variant("standard.epochs_60")[1].training == {"epochs": 60}
    for variant in ("standard", "ratio_1_4", "standard.unknown", "nonsense.gate_open",
                    "ratio_1_8.gate_open", "ratio_1_4.signed_output"):
        assert study.parse_study_variant(variant) is None
    for change in study.CHANGES:
        assert change.hypothesis and change.description and (change.network or change.training)
        assert set(change.training) <= set(TrainingConfig().to_dict())
        study.study_network("standard", change)  # a valid NetworkConfig
    assert paper_zoo.main(["--study", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(ids)} of {len(ids)} networks to train" in out
    assert re.search(r"standard\.epochs_60-s0 +train +~ *[\d.]+ min \(60 epochs", out)


def test_two_shards_in_two_processes_collect_into_one_verified_zoo(cifar_dir, tmp_path,
                                                                   monkeypatch, capsys):
    tiny = ["--epochs", "1", "--limit", "256", "--test-limit", "256", "--batch-size", "128",
            "--only", "standard-s0", "inh_pn-s0", "--data-dir", str(cifar_dir)]
    shards = [subprocess.Popen(
        [sys.executable, str(REPO / "recipes" / "paper_zoo.py"), *tiny, "--shard", f"{index}/2",
         "--out", str(tmp_path / f"shard{index}"), "--work-dir", str(tmp_path / f"runs{index}"),
         "--progress", "epochs"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for index in range(2)]
    for shard in shards:
        output = shard.communicate(timeout=600)[0]
        assert shard.returncode == 0, output[-2000:]
    trained = [sorted(path.name for path in (tmp_path / f"shard{index}").iterdir()
                      if path.name != "index.json") for index in range(2)]
    assert sorted(sum(trained, [])) == ["inh_pn-s0", "standard-s0"] and all(trained)

    monkeypatch.setattr(paper_zoo, "ZOO_MIN_ACCURACY", 0.0)  # 1 epoch: near chance
    zoo = tmp_path / "zoo"
    collect = [*tiny, "--out", str(zoo), "--collect", str(tmp_path / "shard0"),
               str(tmp_path / "shard1")]
    assert paper_zoo.main(collect) == 0
    out = capsys.readouterr().out
    assert "collected 2 networks" in out and "all 2 networks verified" in out
    assert [entry["id"] for entry in json.loads((zoo / "index.json").read_text())["models"]] \
        == ["inh_pn-s0", "standard-s0"]
    # Refused before copying: a network twice, or trained with other settings.
    shutil.copytree(tmp_path / "shard0", tmp_path / "again")
    assert paper_zoo.main([*collect, str(tmp_path / "again")]) == 2
    assert "is in both" in capsys.readouterr().err
    other = [*collect[:1], "2", *collect[2:]]  # --epochs 2
    assert paper_zoo.main(other) == 2
    assert "trained with other settings" in capsys.readouterr().err


def test_design_study_shards_collect_into_one_verified_zoo(cifar_dir, tmp_path, monkeypatch,
                                                         capsys):
    """`--study --collect`: the study's plan and settings, each network's own change
    included (no weight decay for `weight_decay_0`), decide what the shards' exports must
    match; the paper's zoo refuses them."""
    tiny = ["--study", "--epochs", "1", "--limit", "256", "--test-limit", "256",
            "--batch-size", "128", "--only", "standard.weight_decay_0-s0", "inh_pn.gate_open-s0",
            "--data-dir", str(cifar_dir), "--progress", "epochs"]
    shards = [tmp_path / f"shard{index}" for index in range(2)]
    for index, shard in enumerate(shards):
        assert paper_zoo.main([*tiny, "--shard", f"{index}/2", "--out", str(shard),
                               "--work-dir", str(tmp_path / f"runs{index}")]) == 0
    assert all(len([path for path in shard.iterdir() if path.is_dir()]) == 1
               for shard in shards)
    capsys.readouterr()

    monkeypatch.setattr(paper_zoo, "ZOO_MIN_ACCURACY", 0.0)  # 1 epoch: near chance
    zoo = tmp_path / "zoo"
    collect = [*tiny, "--out", str(zoo), "--collect", *map(str, shards)]
    assert paper_zoo.main(collect[1:]) == 2  # without --study: the paper's zoo has neither
    assert "is not a network of this plan" in capsys.readouterr().err
    assert not zoo.exists()
    assert paper_zoo.main(collect) == 0
    out = capsys.readouterr().out
    assert "collected 2 networks" in out and "all 2 networks verified" in out
    models = {entry["id"]: entry for entry in json.loads((zoo / "index.json").read_text())[
        "models"]}
    assert {identifier: entry["design_change"] for identifier, entry in models.items()} == {
        "inh_pn.gate_open-s0": "gate_open", "standard.weight_decay_0-s0": "weight_decay_0"}
    for identifier in models:
        verify_export(zoo / identifier)
    assert read_metadata(zoo / "standard.weight_decay_0-s0")["training"]["weight_decay"] == 0.0


def test_the_sbatch_script_runs_one_balanced_shard(tmp_path):
    environ = {**os.environ, "PYTHONPATH": str(REPO), "SLURM_SUBMIT_DIR": str(REPO),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4",
               "SHARDS": str(tmp_path / "shards")}
    result = subprocess.run(["bash", str(REPO / "recipes" / "paper_zoo.sbatch"), "--dry-run"],
                            env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = paper_zoo.measured_epoch_seconds()
    owner = balanced_shards(
        {identifier: paper_zoo.network_epoch_estimate(variant, measured)[0]
         for identifier, variant, _ in paper_zoo.paper_zoo()}, 4)
    mine = sorted(identifier for identifier, shard in owner.items() if shard == 1)
    assert f"{len(mine)} of {len(mine)} networks to train" in result.stdout
    assert all(identifier in result.stdout for identifier in mine)
    assert [path.name for path in tmp_path.iterdir()] == ["shards"]
