"""A zoo that never loses a run, never leaves a half-written model, never unpacks a
hostile archive, and answers every mistake with one line that says what to do.

Kills of a real training run at three points, divergence, atomic exports,
broken and hostile downloads, a table of bad inputs to the API and the CLI,
and determinism of a short run.
"""

import collections
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import ei_zoo
import ei_zoo.hub.export
import ei_zoo.hub.zoo as zoo
from ei_zoo import analysis, data, training
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import files
from ei_zoo.hub.bundle import read_metadata, sha256_file, verify_export
from ei_zoo.hub.export import export_model
from ei_zoo.hub.files import staging_folder
from ei_zoo.network.config import NetworkConfig
from ei_zoo.network.models import check_images
from ei_zoo.training.fit import first_images, prepare_model, training_batches
from ei_zoo.training.recipe import export_run, train_and_export
from ei_zoo.training.run_folder import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    RunCheckpoint,
    read_checkpoint,
    trim_history,
)

from conftest import serve_folder

REPO = Path(__file__).resolve().parents[1]
EPOCHS, IMAGES, BATCH = 2, 2048, 64


def _env(cifar_dir):
    env = dict(os.environ, TFDS_DATA_DIR=cifar_dir, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _entries(folder):
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def _hashes(folder):
    return {path.relative_to(folder).as_posix(): sha256_file(path)
            for path in folder.rglob("*") if path.is_file()}


def _dead_pid():
    """The id of a process of this host that has ended (and been reaped)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


# --- 1. Interrupted training -------------------------------------------------------------

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

    assert _entries(out) == ["index.json", "standard-s0"]  # no staging folder left behind
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
        before = _hashes(folder)
        third = subprocess.run(command, env=_env(cifar_dir), capture_output=True, text=True,
                               timeout=600)
        assert third.returncode == 0, third.stderr[-3000:]
        assert "already trained and exported" in third.stderr and "Epoch" not in third.stderr
        assert _hashes(folder) == before


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
    assert _entries(out) == []
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
    assert _entries(backup) == ["epoch-2.weights.h5", "training_metadata.json"]
    assert read_checkpoint(backup) == (2, backup / "epoch-2.weights.h5")
    # A kill after epoch 3's weights were written, before the record named them.
    shutil.copy(backup / "epoch-2.weights.h5", backup / "epoch-3.weights.h5")
    (backup / "partial-epoch-4.weights.h5").write_bytes(b"torn")
    assert read_checkpoint(backup) == (2, backup / "epoch-2.weights.h5")
    history = fit(3)
    assert history.epoch == [2]  # resumed at the epoch the record holds
    assert _entries(backup) == ["epoch-3.weights.h5", "training_metadata.json"]

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
    assert _entries(legacy) == ["latest.weights.h5", "training_metadata.json"]  # no .partial


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


# --- 2. Atomic export -------------------------------------------------------------------

def _half_written_saved_model(model, folder):
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\0" * 1000)
    raise OSError("No space left on device")


def _interrupted(model):
    raise KeyboardInterrupt  # Ctrl-C after the SavedModel and model.keras are written


@pytest.mark.parametrize("failure", ["saved_model", "interrupted", "metadata"])
def test_export_failing_midway_leaves_no_trace(failure, trained_tiny, tiny_export, tmp_path,
                                               monkeypatch):
    model, _ = trained_tiny
    models = tmp_path / "models"
    target = models / "standard-s0"
    metadata = {"seed": 1}
    if failure == "saved_model":
        monkeypatch.setattr(ei_zoo.hub.export, "_write_saved_model", _half_written_saved_model)
    elif failure == "interrupted":
        monkeypatch.setattr(ei_zoo.hub.export, "effective_weights", _interrupted)
    else:
        metadata["git"] = object()  # not JSON: fails while metadata.json is written
    raised = (OSError, KeyboardInterrupt, TypeError)

    with pytest.raises(raised):  # the first export of this model
        export_model(model, target, metadata=metadata)
    assert _entries(models) == []

    shutil.copytree(tiny_export, target)  # a previous version
    before = _hashes(target)
    with pytest.raises(raised):
        export_model(model, target, metadata=metadata)
    assert _entries(models) == ["standard-s0"]
    assert _hashes(target) == before
    verify_export(target)


def test_export_cleans_up_after_a_killed_writer(trained_tiny, tiny_export, tmp_path):
    model, _ = trained_tiny
    models = tmp_path / "models"
    models.mkdir()
    host, dead = socket.gethostname(), _dead_pid()
    # Killed between moving the previous version aside and moving the new one in.
    shutil.copytree(tiny_export, models / f".standard-s0.tmp-{host}.{dead}.abcdefgh.old")
    (models / f".standard-s0.tmp-{host}.{dead}.abcdefgh").mkdir()
    (models / f".standard-s0.tmp-{host}.{dead}.ijklmnop").mkdir()  # killed while writing
    live = f".standard-s0.tmp-{host}.{os.getpid()}.qrstuvwx"  # a writer still at work
    elsewhere = f".standard-s0.tmp-node7.cluster.{dead}.yzyzyzyz"  # another machine's
    (models / live).mkdir()
    (models / elsewhere).mkdir()

    staging = staging_folder(models / "standard-s0")
    assert read_metadata(models / "standard-s0")["seed"] == 0  # the previous version is back
    verify_export(models / "standard-s0")
    assert _entries(models) == sorted([elsewhere, live, staging.name, "standard-s0"])
    staging.rmdir()

    export_model(model, models / "standard-s0", metadata={"seed": 5})
    assert read_metadata(models / "standard-s0")["seed"] == 5
    assert _entries(models) == sorted([elsewhere, live, "standard-s0"])


def test_an_interrupt_removes_unfinished_staging_folders_but_not_finished_ones(tmp_path):
    """What `ei-zoo`'s Ctrl-C handler deletes before it exits: staging folders still
    being written, never one that `replace_folder` has begun to move into place."""
    with files.staging(tmp_path / "a") as writing, files.staging(tmp_path / "b") as moving:
        (writing / "half.csv").write_text("x")
        (moving / "whole.csv").write_text("y")
        files.replace_folder(moving, tmp_path / "b")
        files.remove_unfinished()
        assert not writing.exists()
        assert (tmp_path / "b" / "whole.csv").read_text() == "y"
    assert _entries(tmp_path) == ["b"]


# --- 3. Hostile or broken downloads -----------------------------------------------------

@pytest.fixture
def served(tiny_export, tmp_path):
    """The tiny export packed into `<tmp>/mirror` and served on loopback: (folder, url, server)."""
    exported = tmp_path / "mirror_source"
    shutil.copytree(tiny_export, exported / tiny_export.name)
    folder = zoo.pack(exported, tmp_path / "mirror")
    with serve_folder(folder) as (url, server):
        yield folder, url, server


def _set_archive(folder, data):
    """Serve `data` as the archive, with an index that matches it (sha256 and size)."""
    (folder / "standard-s0.tar.gz").write_bytes(data)
    index = json.loads((folder / "index.json").read_text())
    index["models"][0].update(sha256=sha256_file(folder / "standard-s0.tar.gz"),
                              archive_bytes=len(data))
    (folder / "index.json").write_text(json.dumps(index))


def _error(code):
    return lambda handler: handler.send_error(code)


def _cut_short(handler):
    """Promise the whole archive, send half of it, hang up."""
    data = (Path(handler.directory) / "standard-s0.tar.gz").read_bytes()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[:len(data) // 2])
    handler.close_connection = True


def _hang_up(handler):
    handler.close_connection = True  # no answer at all


def _stall(handler):
    handler.server.release.wait(10)  # answers nothing until the test is over
    handler.close_connection = True


def _bomb(tiny_export):
    """A real model's metadata plus a member of 20 MB of zeros: 20 kB compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        metadata = (tiny_export / "metadata.json").read_bytes()
        info = tarfile.TarInfo("standard-s0/metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
        info = tarfile.TarInfo("standard-s0/model.keras")
        info.size = 20 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    return buffer.getvalue()


def _other_model(tiny_export, tmp_path):
    """An intact export under `standard-s0/` whose metadata says it is another model."""
    folder = tmp_path / "impostor" / "standard-s0"
    shutil.copytree(tiny_export, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["id"] = "inh_pn-s3"
    (folder / "metadata.json").write_text(json.dumps(metadata))  # not among its own hashes
    zoo._write_archive(folder, tmp_path / "impostor.tar.gz")
    return (tmp_path / "impostor.tar.gz").read_bytes()


DOWNLOAD_FAILURES = {
    "truncated_in_transit": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _cut_short}),
        r"Could not download standard-s0.tar.gz from http://\S+: retrieval incomplete: got "
        r"only \d+ out of \d+ bytes; check the mirror URL"),
    "truncated_on_the_mirror": (
        lambda folder, server, export, tmp: _set_archive(
            folder, (folder / "standard-s0.tar.gz").read_bytes()[:30_000]),
        r"standard-s0.tar.gz is not a readable model archive \(.*\); re-download it or "
        r"re-pack the mirror"),
    "member_far_larger_than_the_index_says": (
        lambda folder, server, export, tmp: _set_archive(folder, _bomb(export)),
        r"Refusing to unpack standard-s0.tar.gz: member 'standard-s0/model.keras' \(20971520 "
        r"bytes\) takes it past \d+ bytes, 100x the archive size the index gives"),
    "index_for_another_model": (
        lambda folder, server, export, tmp: _set_archive(folder, _other_model(export, tmp)),
        r"standard-s0.tar.gz holds model 'inh_pn-s3', not 'standard-s0'; re-pack the mirror"),
    "archive_http_500": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _error(500)}),
        r"Could not download standard-s0.tar.gz from http://\S+: HTTP 500; check the mirror"),
    "index_http_500": (
        lambda folder, server, export, tmp: server.behaviour.update({"/index.json": _error(500)}),
        r"Could not download index.json from http://\S+: HTTP 500; check the mirror URL"),
    "mirror_hangs_up": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _hang_up}),
        r"Could not download standard-s0.tar.gz from http://\S+: Remote end closed "
        r"connection without response; check the mirror URL"),
    "archive_slow_past_the_timeout": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _stall}),
        r"Could not download standard-s0.tar.gz from http://\S+: timed out; check the mirror"),
    "index_slow_past_the_timeout": (
        lambda folder, server, export, tmp: server.behaviour.update({"/index.json": _stall}),
        r"Could not download index.json from http://\S+: timed out; check the mirror URL"),
}


@pytest.mark.parametrize("failure", list(DOWNLOAD_FAILURES))
def test_broken_download_is_refused_and_leaves_nothing(failure, served, cache, tiny_export,
                                                       tmp_path):
    folder, url, server = served
    setup, message = DOWNLOAD_FAILURES[failure]
    setup(folder, server, tiny_export, tmp_path)

    def outside():
        return {path for path in tmp_path.rglob("*") if path.is_file()
                and folder not in path.parents and cache not in path.parents}

    before = outside()
    start = time.monotonic()
    with pytest.raises(ValueError, match=message) as refused:
        zoo.download("standard-s0", mirror=url, timeout=1)
    assert "\n" not in str(refused.value)
    assert time.monotonic() - start < 8  # a stalled mirror costs the timeout, not forever
    assert _entries(cache) == []
    assert outside() == before
    assert socket.getdefaulttimeout() is None  # the timeout was only set around the download


def test_download_clears_what_a_killed_download_left(served, cache):
    _, url, _ = served
    cache.mkdir(parents=True)
    left = cache / f".standard-s0.download-{socket.gethostname()}.{_dead_pid()}.abcdefgh"
    (left / "unpacked").mkdir(parents=True)
    assert zoo.download("standard-s0", mirror=url) == cache / "standard-s0"
    assert _entries(cache) == ["standard-s0"]


# --- 4. Bad inputs: one line that names the problem and the fix -------------------------

def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def workspace(tiny_export, tmp_path, monkeypatch):
    """Folders for the bad-input cases: an exported model, a damaged copy, a plain folder,
    two broken run folders. Only `exported/standard-s0` is known; no mirror is set."""
    shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    damaged = shutil.copytree(tiny_export, tmp_path / "damaged" / "standard-s0")
    weights = bytearray((damaged / "connectivity.npz").read_bytes())
    weights[-100] ^= 0xFF
    (damaged / "connectivity.npz").write_bytes(bytes(weights))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a model")
    for name, text in (("torn", ""), ("bad_field", '{"network": {"principal": "eight"}, '
                                                   '"training": {}}')):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "run.json").write_text(text)
    # Two runs that wrote one folder at once: two headers in one history.
    interleaved = tmp_path / "runs" / "interleaved"
    interleaved.mkdir()
    files.write_json(interleaved / "run.json", {
        "network": NetworkConfig().to_dict(),
        "training": training.TrainingConfig(epochs=1).to_dict()})
    (interleaved / "history.csv").write_text(
        "epoch,accuracy,loss\n0,0.1,2.3\nepoch,accuracy,loss\n0,0.1,2.3\n")
    monkeypatch.setenv("EI_ZOO_EXPORTED", str(tmp_path / "exported"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("EI_ZOO_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


Case = collections.namedtuple("Case", "name call error message")
IMAGES_OK = np.full((2, 32, 32, 3), 128, dtype="float32")


def _api(name, call, error, message):
    return Case(name, call, error, message)


def _cli(name, argv, message):
    return Case(name, argv, "cli", message)


BAD_INPUTS = [
    # The Python API: ValueError or FileNotFoundError.
    _api("unknown_variant", lambda w: ei_zoo.build_model("inh-pn"), ValueError,
         r"Unknown variant 'inh-pn'\. Did you mean inh_pn"),
    _api("unknown_model_id", lambda w: ei_zoo.load("standard-s1"), FileNotFoundError,
         r"No model 'standard-s1' in .* \(did you mean standard-s0\?\); pass mirror=URL"),
    _api("images_wrong_size", lambda w: check_images(IMAGES_OK[:, :16, :16], image_size=32),
         ValueError, r"shape \(2, 16, 16, 3\); this network takes \[N, 32, 32, 3\]"),
    _api("images_channels_first", lambda w: check_images(IMAGES_OK.transpose(0, 3, 1, 2)),
         ValueError, r"shape \(2, 3, 32, 32\); .*channels last"),
    _api("images_one_without_batch_axis", lambda w: check_images(IMAGES_OK[0]), ValueError,
         r"rank 3, .*add a batch axis: images\[None\]"),
    _api("images_wrong_dtype", lambda w: check_images(IMAGES_OK.astype("int32")), ValueError,
         r"dtype int32; pass float32 raw pixels 0-255 \(or uint8\)"),
    _api("images_out_of_range", lambda w: check_images(IMAGES_OK * 3),
         ValueError, r"values from 384 to 384; pass raw pixels in 0-255"),
    _api("images_negative", lambda w: check_images(IMAGES_OK - 200),
         ValueError, r"values from -72 to -72; pass raw pixels in 0-255"),
    _api("images_scaled_to_0_1", lambda w: check_images(IMAGES_OK / 255),
         ValueError, r"look scaled to 0-1; pass raw pixels 0-255 \(images \* 255\)"),
    _api("images_scaled_to_0_1_by_the_saved_model",
         lambda w: ei_zoo.load("standard-s0", format="saved_model").serve(IMAGES_OK / 255),
         ValueError, r"look scaled to 0-1"),
    _api("limit_smaller_than_batch", lambda w: training.TrainingConfig(limit=512, batch_size=600),
         ValueError, r"limit=512 is smaller than batch_size=600, so an epoch has no full batch"),
    _api("limit_above_the_training_set", lambda w: training.TrainingConfig(limit=60_000),
         ValueError, r"limit=60000 is more than the 50,000 CIFAR-10 training images"),
    _api("test_limit_above_the_test_set", lambda w: training.TrainingConfig(test_limit=10_001),
         ValueError, r"test_limit=10001 is more than the 10,000 CIFAR-10 test images"),
    _api("train_would_replace_a_shipped_network",
         lambda w: train_and_export("standard", training.TrainingConfig(epochs=1),
                                    out=w / "exported", work_dir=w / "runs"),
         ValueError, r"standard-s0 holds an export of another run \(test accuracy 12\.5%\); "
                     r"choose another --out, or pass --overwrite \(overwrite=True\)"),
    _api("compare_given_one_id_as_a_string", lambda w: analysis.compare("standard-s0"),
         ValueError, r"compare takes a non-empty list of model ids, .*got 'standard-s0'"),
    _api("load_given_none", lambda w: ei_zoo.load(None), ValueError,
         r"model must be a model id such as 'standard-s0' or an export folder, got None"),
    _api("activation_model_given_a_variant_name", lambda w: ei_zoo.activation_model("standard"),
         ValueError, r"expected an E/I network from ei_zoo.build_model or ei_zoo.load, got str"),
    _api("list_models_given_a_number", lambda w: ei_zoo.list_models(5), ValueError,
         r"exported must be a folder path, got 5"),
    _api("compare_given_an_empty_list", lambda w: analysis.compare([]),
         ValueError, r"compare takes a non-empty list of model ids"),
    _api("analyze_given_a_list", lambda w: analysis.analyze(["standard-s0"]),
         ValueError, r"model must be a model id such as 'standard-s0' or an export folder"),
    _api("analyze_with_an_unknown_reference",
         lambda w: analysis.analyze("standard-s0", reference="standard-s7"), FileNotFoundError,
         r"No model 'standard-s7' .*did you mean standard-s0\?"),
    _api("history_of_two_runs_at_once",
         lambda w: export_run(w / "runs" / "interleaved", out=w / "elsewhere"),
         ValueError, r"interleaved/history\.csv is damaged \(holds text in its numeric column "
                     r"'epoch'.*\); delete .*interleaved to train this run anew"),
    _api("images_nan", lambda w: check_images(np.where(IMAGES_OK > 0, np.nan, 0)), ValueError,
         r"contain 6144 NaN or infinite values; pass finite raw pixels"),
    _api("negative_epochs", lambda w: training.TrainingConfig(epochs=-3), ValueError,
         r"TrainingConfig\.epochs=-3 must be a positive integer"),
    _api("zero_batch_size", lambda w: training.TrainingConfig(batch_size=0), ValueError,
         r"TrainingConfig\.batch_size=0 must be a positive integer"),
    _api("zero_image_count", lambda w: training.TrainingConfig(limit=0), ValueError,
         r"TrainingConfig\.limit=0 must be a positive integer"),
    _api("nan_image_count", lambda w: data.train_dataset(limit=float("nan")), ValueError,
         r"limit=nan must be a positive integer"),
    _api("learning_rate_not_a_number", lambda w: training.TrainingConfig(learning_rate="fast"),
         ValueError, r"TrainingConfig\.learning_rate='fast' must be a finite number"),
    _api("negative_seed", lambda w: training.TrainingConfig(seed=-1), ValueError,
         r"TrainingConfig\.seed=-1 must be an integer from 0 to 2\*\*32 - 1"),
    _api("config_json_field_not_a_list", lambda w: NetworkConfig.from_json('{"pixel_mean": 5}'),
         ValueError, r"NetworkConfig\.pixel_mean=5 needs 3 numbers"),
    _api("config_json_field_not_a_number",
         lambda w: NetworkConfig.from_json('{"resting_drive": "high"}'), ValueError,
         r"NetworkConfig\.resting_drive='high' must be a finite number"),
    _api("config_json_field_not_a_bool",
         lambda w: NetworkConfig.from_json('{"signed_principal_output": "no"}'), ValueError,
         r"NetworkConfig\.signed_principal_output='no' must be true or false"),
    _api("config_json_missing_file", lambda w: NetworkConfig.from_json(w / "config.json"),
         FileNotFoundError, r"No config file at .*config\.json; pass a JSON string"),
    _api("variant_that_is_a_path", lambda w: ei_zoo.build_model("standard", variant="../evil"),
         ValueError, r"NetworkConfig\.variant='\.\./evil' must be a name usable as a folder"),
    _api("folder_not_an_export", lambda w: ei_zoo.load(w / "plain"), FileNotFoundError,
         r"plain is not an ei_zoo export .*; re-export it with export_model or re-download it"),
    _api("export_failing_its_sha256", lambda w: ei_zoo.load(w / "damaged" / "standard-s0"),
         ValueError, r"connectivity\.npz does not match its sha256 in metadata\.json; "
                     r"re-download or re-export it"),
    _api("folder_not_a_run", lambda w: export_run(w / "plain"), FileNotFoundError,
         r"plain is not a training run \(no run\.json\); pass the folder"),
    # The CLI: exit code 2 and one line on stderr.
    _cli("cli_unknown_subcommand", lambda w: ["frobnicate"],
         r"invalid choice: 'frobnicate' \(choose from .*'train'"),
    _cli("cli_unknown_option", lambda w: ["train", "--epochs", "1", "--frobnicate"],
         r"unrecognized arguments: --frobnicate"),
    _cli("cli_negative_epochs", lambda w: ["train", "--epochs", "-1"],
         r"argument --epochs: -1 must be at least 1"),
    _cli("cli_zero_batch_size", lambda w: ["train", "--batch-size", "0"],
         r"argument --batch-size: 0 must be at least 1"),
    _cli("cli_zero_image_count", lambda w: ["train", "--limit", "0"],
         r"argument --limit: 0 must be at least 1"),
    _cli("cli_learning_rate_nan", lambda w: ["train", "--learning-rate", "nan"],
         r"argument --learning-rate: nan must be positive"),
    _cli("cli_negative_seed", lambda w: ["train", "--seed", "-1", "--epochs", "1"],
         r"TrainingConfig\.seed=-1 must be an integer from 0 to 2\*\*32 - 1"),
    _cli("cli_batch_larger_than_the_images", lambda w: ["train", "--batch-size", "600",
                                                        "--limit", "512"],
         r"limit=512 is smaller than batch_size=600"),
    # From the repository's root, the default --out is the shipped zoo.
    _cli("cli_train_would_replace_a_shipped_network",
         lambda w: ["train", "--epochs", "1", "--limit", "512"],
         r"exported/standard-s0 holds an export of another run .*pass --overwrite"),
    _cli("cli_analyze_with_an_unknown_reference",
         lambda w: ["analyze", "standard-s0", "--reference", "standard-s7"],
         r"No model 'standard-s7' .*did you mean standard-s0\?"),
    _cli("cli_index_of_no_folder", lambda w: ["index", "--exported", str(w / "nowhere")],
         r"nowhere is not a folder of exports; run this beside exported/"),
    _cli("cli_download_into_an_unwritable_cache",
         lambda w: ["download", "standard-s0", "--mirror", str(w / "plain"), "--cache-dir",
                    str(w / "plain" / "notes.txt" / "ei_zoo")],
         r"The download cache .*notes\.txt is a file, not a folder"),
    _cli("cli_reproduce_checked_against_no_results",
         lambda w: ["reproduce", "--check", str(w / "plain"), "--out", str(w / "results")],
         r"--check .*plain: no table\.csv there; pass a folder that `ei-zoo reproduce` wrote"),
    _cli("cli_export_of_two_runs_at_once",
         lambda w: ["export", str(w / "runs" / "interleaved"), "--out", str(w / "elsewhere")],
         r"history\.csv is damaged \(holds text in its numeric column 'epoch'"),
    _cli("cli_unknown_model_id", lambda w: ["info", "standard-s1"],
         r"No model 'standard-s1' .*did you mean standard-s0\?"),
    _cli("cli_folder_not_an_export", lambda w: ["info", str(w / "plain")],
         r"plain is not an ei_zoo export"),
    _cli("cli_export_failing_its_sha256", lambda w: ["info", str(w / "damaged" / "standard-s0")],
         r"connectivity\.npz does not match its sha256 in metadata\.json; re-download"),
    _cli("cli_folder_not_a_run", lambda w: ["export", str(w / "plain")],
         r"plain is not a training run \(no run\.json\)"),
    _cli("cli_torn_run_json", lambda w: ["export", str(w / "runs" / "torn")],
         r"run\.json is not valid JSON \(.*\); delete .*torn to start the run anew"),
    _cli("cli_run_json_bad_field", lambda w: ["export", str(w / "runs" / "bad_field")],
         r"run\.json holds a bad setting \(NetworkConfig\.principal='eight' must be a positive "
         r"integer\); delete"),
    _cli("cli_no_mirror", lambda w: ["download", "standard-s0"],
         r"No mirror to download from; pass --mirror URL"),
    _cli("cli_unreachable_mirror",
         lambda w: ["download", "standard-s0", "--mirror", f"http://127.0.0.1:{_closed_port()}"],
         r"Could not download index\.json from http://127\.0\.0\.1:\d+/index\.json: .*refused; "
         r"check the mirror URL"),
    _cli("cli_model_id_that_is_a_path",
         lambda w: ["download", "../standard-s0", "--mirror", str(w / "plain")],
         r"'\.\./standard-s0' is not a model id; ids look like 'standard-s0'"),
]


def test_bad_input_table_is_large():
    assert len(BAD_INPUTS) >= 20
    assert len({case.name for case in BAD_INPUTS}) == len(BAD_INPUTS)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input_gets_one_line_naming_the_fix(case, workspace, capsys):
    if case.error != "cli":
        with pytest.raises(case.error) as raised:
            case.call(workspace)
        message = str(raised.value)
        assert "\n" not in message and re.search(case.message, message), message
        return
    try:
        code = cli_main(case.call(workspace))
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and re.search(case.message, lines[0]), err
    assert _entries(workspace / "keras") == []  # nothing was downloaded or cached
    assert not (workspace / "runs" / "standard-s0").exists()  # no run was started
    assert not (workspace / "elsewhere").exists()  # nothing was exported


# --- 6. Determinism ---------------------------------------------------------------------

def test_same_seed_gives_the_same_weights_after_an_epoch(cifar_dir):
    config = training.TrainingConfig(epochs=1, limit=256, batch_size=64, precision="float32")

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
