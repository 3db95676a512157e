"""ei_zoo.training.run_folder and the recipe's resumable run: kills at three points,
divergence, the atomically committed checkpoint, the trimmed history, determinism."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import ei_zoo
import ei_zoo.hub.export
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import files
from ei_zoo.hub.bundle import read_metadata, verify_export
from ei_zoo.training.fit import first_images, prepare_model, training_batches
from ei_zoo.training.run_folder import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    RunCheckpoint,
    read_checkpoint,
    trim_history,
)
from ei_zoo.training.settings import TrainingConfig

from conftest import REPO, entries, hashes

EPOCHS, IMAGES, BATCH = 2, 2048, 64


def _env(cifar_dir):
    env = dict(os.environ, TFDS_DATA_DIR=cifar_dir, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _seconds_since_checkpoint(run_dir):
    record = run_dir / BACKUP_DIR / CHECKPOINT_FILE
    try:
        return time.time() - record.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _checkpoint_epoch(run_dir):
    """The epoch the run's checkpoint record commits (read directly: a running
    writer may delete the weights it named a moment ago)."""
    record = run_dir / BACKUP_DIR / CHECKPOINT_FILE
    return json.loads(record.read_text())["epoch"] if record.is_file() else 0


# When to kill: a test of the run folder and the export folder.
KILL_POINTS = {
    # Inside the last epoch, half a second in (its 32 steps and its test-curve pass take
    # seconds): the checkpoint holds epoch 1 only.
    "mid_epoch": lambda run, out: (
        _checkpoint_epoch(run) == EPOCHS - 1 and _seconds_since_checkpoint(run) >= 0.5),
    # As soon as epoch 1's history row is written: the checkpoint that commits
    # it is being written or has just been (a row without a checkpoint, or not).
    "at_checkpoint": lambda run, out: (
        (run / "history.csv").is_file()
        and (run / "history.csv").read_text().count("\n") >= 2),
    # While the export is being written (after the final evaluation).
    "during_export": lambda run, out: any(out.glob(".standard-s0.tmp-*")),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_run_finishes_with_every_epoch_once_and_one_export(point, cifar_dir, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "exported"
    run_dir = runs / "standard-s0"
    command = [sys.executable, "-m", "ei_zoo.cli", "train", "--variant", "standard",
               "--precision", "float32",
               "--epochs", str(EPOCHS), "--limit", str(IMAGES), "--test-limit", "256",
               "--batch-size", str(BATCH),
               "--work-dir", str(runs), "--out", str(out)]
    first = subprocess.Popen(command, env=_env(cifar_dir), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while first.poll() is None and time.monotonic() < deadline:
        if KILL_POINTS[point](run_dir, out):
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    first.wait()
    assert first.returncode == -signal.SIGKILL, f"the run ended before the kill at {point}"
    committed = _checkpoint_epoch(run_dir)
    if point == "mid_epoch":
        assert committed == EPOCHS - 1
    if point == "during_export":
        assert committed == EPOCHS and any(out.glob(".standard-s0.tmp-*"))
    assert not (out / "standard-s0").exists()

    second = subprocess.run(command, env=_env(cifar_dir), capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    # It resumed at the epoch it lost, and only there.
    # (Keras's progress is on stderr.)
    trained = [int(n) for n in re.findall(rf"Epoch (\d+)/{EPOCHS}", second.stderr)]
    assert trained == list(range(committed + 1, EPOCHS + 1))

    assert entries(out) == ["index.json", "standard-s0"]  # no staging folder left behind
    assert [model["id"] for model in json.loads((out / "index.json").read_text())["models"]] == [
        "standard-s0"]
    folder = out / "standard-s0"
    verify_export(folder)
    assert read_metadata(folder)["epochs"] == EPOCHS
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == list(range(EPOCHS))
    # The run's own history has one row per epoch too, not just after de-duplication.
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == list(range(EPOCHS))
    # The last epoch's checkpoint stays, so `ei-zoo export` can export the run again.
    assert read_checkpoint(run_dir / BACKUP_DIR)[0] == EPOCHS

    if point == "during_export":
        # Once exported, the same command returns the export and trains nothing.
        before = hashes(folder)
        third = subprocess.run(command, env=_env(cifar_dir), capture_output=True, text=True,
                               timeout=600)
        assert third.returncode == 0, third.stderr[-3000:]
        assert "already trained and exported" in third.stderr and "Epoch" not in third.stderr
        assert hashes(folder) == before


def test_diverging_run_names_the_epoch_and_exports_nothing(cifar_dir, tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "exported"
    code = cli_main(["train", "--epochs", str(EPOCHS), "--limit", str(IMAGES),
                     "--test-limit", "256", "--batch-size", str(BATCH), "--learning-rate", "1e3",
                     "--work-dir", str(runs), "--out", str(out), "--data-dir", cifar_dir])
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after Keras's per-epoch lines
    assert code == 2 and "Traceback" not in err
    assert re.fullmatch(
        r"ei-zoo train: error: Training diverged in epoch 1 \(mean loss [0-9.e+]+, chance is "
        r"2\.30\); nothing was exported\. Lower the learning rate and train again, .*", err), err
    assert entries(out) == []
    # Stopped inside its first epoch, instead of training on at chance.
    assert pd.read_csv(runs / "standard-s0" / "history.csv")["epoch"].tolist() == [0]
    assert not (runs / "standard-s0" / BACKUP_DIR).exists()


def test_checkpoint_is_committed_by_its_record_and_resumes(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    backup = tmp_path / "backup"

    def fit(epochs):
        model = ei_zoo.build_model("standard", principal=8, input_gating=2, output_gating=2,
                                   area1_channels=4, area2_channels=8, timesteps=2)
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
                         callbacks=[RunCheckpoint(backup)])

    fit(2)
    assert entries(backup) == ["epoch-2.weights.h5", "training_metadata.json"]
    assert read_checkpoint(backup) == (2, backup / "epoch-2.weights.h5")
    # A kill after epoch 3's weights were written, before the record named them.
    shutil.copy(backup / "epoch-2.weights.h5", backup / "epoch-3.weights.h5")
    (backup / "partial-epoch-4.weights.h5").write_bytes(b"torn")
    assert read_checkpoint(backup) == (2, backup / "epoch-2.weights.h5")
    history = fit(3)
    assert history.epoch == [2]  # resumed at the epoch the record holds
    assert entries(backup) == ["epoch-3.weights.h5", "training_metadata.json"]

    # A run checkpointed by keras's own BackupAndRestore still resumes.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "latest.weights.h5").write_bytes(b"")
    (legacy / "training_metadata.json").write_text('{"epoch": 4, "batch": 0}')
    assert read_checkpoint(legacy) == (4, legacy / "latest.weights.h5")
    # An unreadable record names the fix instead of failing every later start.
    (legacy / "training_metadata.json").write_text("")
    with pytest.raises(ValueError, match=r"training_metadata.json is damaged; delete .*legacy"):
        read_checkpoint(legacy)
    files.write_json(legacy / "training_metadata.json", {"epoch": 1, "weights": "gone.h5"})
    with pytest.raises(ValueError, match="names gone.h5, which is missing"):
        read_checkpoint(legacy)
    assert entries(legacy) == ["latest.weights.h5", "training_metadata.json"]  # no .partial


def test_history_keeps_only_the_epochs_the_checkpoint_holds(tmp_path):
    header = "epoch,accuracy,epoch_seconds,loss,val_accuracy,val_epoch_seconds,val_loss\n"
    rows = ["0,0.125,7.25,2.30,NA,NA,NA\n", "1,0.25,5.5,2.10,NA,NA,NA\n"]
    history = tmp_path / "history.csv"
    history.write_text(header + "".join(rows))
    trim_history(tmp_path, 2)
    assert history.read_text() == header + "".join(rows)
    # Epoch 1's row was written, its checkpoint never committed: the row goes, and
    # the file keeps CSVLogger's columns, since CSVLogger appends to it next.
    trim_history(tmp_path, 1)
    assert history.read_text() == header + rows[0]
    trim_history(tmp_path, 0)
    assert not history.exists()
    history.write_text("")  # killed in the first epoch: CSVLogger had only opened it
    trim_history(tmp_path, 0)
    assert not history.exists()


def test_same_seed_gives_the_same_weights_after_an_epoch(cifar_dir):
    config = TrainingConfig(epochs=1, limit=256, batch_size=64, precision="float32")

    def one_epoch():
        batches = training_batches(config, cifar_dir)
        model = prepare_model("standard", config, first_images(batches, 128))
        initial = model.get_weights()
        model.fit(batches, epochs=1, shuffle=False, verbose=0)
        return initial, model.get_weights()

    initial, first = one_epoch()
    # What ran before in the process must not matter (it did, through tf.data's seeds).
    keras.utils.set_random_seed(12345)
    tf.random.uniform(())
    _, second = one_epoch()
    assert len(first) == len(second)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert sum(not np.array_equal(a, b) for a, b in zip(initial, first)) > 10  # it trained
