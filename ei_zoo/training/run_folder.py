"""A run folder: where a run keeps its configs, history and checkpoint while it trains.

    <work_dir>/<model_id>/run.json       both configs (`start_run`, `read_run`)
    <work_dir>/<model_id>/history.csv    one row per epoch (CSVLogger)
    <work_dir>/<model_id>/backup/        the last epoch's weights and optimizer state

A kill at any instant leaves a run that resumes: the checkpoint is committed
atomically (`RunCheckpoint`), the history is trimmed to the epochs it holds
(`trim_history`), and one process at a time holds the folder (`run_lock`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import pandas as pd

from ei_zoo.hub import files
from ei_zoo.hub.bundle import HISTORY
from ei_zoo.network.config import NetworkConfig
from ei_zoo.training.settings import TrainingConfig

RUN_FILE = "run.json"
BACKUP_DIR = "backup"
CHECKPOINT_FILE = "training_metadata.json"  # in BACKUP_DIR: the commit record


def read_checkpoint(backup_dir: str | Path) -> tuple[int, Path] | None:
    """(epochs done, weights file) of a run's checkpoint, or None when it has none."""
    backup_dir = Path(backup_dir)
    record = backup_dir / CHECKPOINT_FILE
    if not record.is_file():
        return None
    try:
        values = json.loads(record.read_text())
        # keras's BackupAndRestore (runs started before RunCheckpoint) names no file.
        epoch = int(values["epoch"])
        weights = backup_dir / values.get("weights", "latest.weights.h5")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"{record} is damaged; delete {backup_dir} to restart the run from its first "
            "epoch.") from None
    if not weights.is_file():
        raise ValueError(
            f"{record} names {weights.name}, which is missing; delete {backup_dir} to restart "
            "the run from its first epoch.")
    return epoch, weights


class RunCheckpoint(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoint a kill at any instant cannot damage.

    Keras's own rewrites `latest.weights.h5` in place and then truncates and
    rewrites `training_metadata.json`: a kill in between leaves weights one
    epoch ahead of the epoch on record (that epoch is then trained twice), a
    kill inside the second write an empty JSON that stops every later start.
    Here each epoch's weights go to a file of their own, and the JSON that
    names them is replaced atomically once they are on disk: it is the
    commit, so a resumed run always starts from one complete epoch.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, delete_checkpoint=False)

    def on_train_begin(self, logs=None):
        state = read_checkpoint(self.backup_dir)
        if state is None:
            return
        epoch, weights = state
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # so its state loads
        self.model.load_weights(weights)
        self.model._initial_epoch = epoch  # what BackupAndRestore sets for fit to resume

    def _save_model(self):
        backup = Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{self._current_epoch}.weights.h5"
        partial = backup / f"partial-{name}"  # save_weights wants the .weights.h5 suffix
        self.model.save_weights(partial, overwrite=True)
        files.sync(partial)
        os.replace(partial, backup / name)
        files.write_json(backup / CHECKPOINT_FILE, {"epoch": self._current_epoch, "weights": name})
        for stale in backup.glob("*.weights.h5*"):  # earlier epochs, partial writes, .bkp
            if stale.name != name:
                stale.unlink(missing_ok=True)


def remove_checkpoint(run_dir: Path) -> None:
    """Delete a run's checkpoint, its commit record first: a kill midway leaves none,
    never a record that names deleted weights."""
    backup = Path(run_dir) / BACKUP_DIR
    (backup / CHECKPOINT_FILE).unlink(missing_ok=True)
    shutil.rmtree(backup, ignore_errors=True)


def read_history(path: str | Path) -> pd.DataFrame:
    """The per-epoch history of a run, one row per epoch.

    A run killed between writing an epoch's row and its checkpoint repeats that
    epoch when resumed; the later row is the one that counts. CSVLogger adds
    empty `val_*` columns when there is no validation data; they are dropped.
    A file that is not one run's history (a second header, text where numbers
    belong) is a ValueError naming it and the fix.
    """
    history = pd.read_csv(path).dropna(axis="columns", how="all")
    check_history(history, path)
    return (history.drop_duplicates("epoch", keep="last").sort_values("epoch")
            .reset_index(drop=True))


def check_history(rows: pd.DataFrame, path) -> None:
    problem = None
    if not {"epoch", "loss"} <= set(rows.columns):
        problem = "has no epoch and loss columns"
    else:
        for column in rows.columns:
            values = pd.to_numeric(rows[column], errors="coerce")
            if values.isna().sum() > rows[column].isna().sum():
                problem = f"holds text in its numeric column {column!r}"
                break
    if problem:
        raise ValueError(
            f"{path} is damaged ({problem}, e.g. rows of two runs at once); delete "
            f"{Path(path).parent} to train this run anew.")


def read_history_file(path: Path) -> pd.DataFrame | None:
    """`read_history`, or None for a missing or empty file (a run killed in its first epoch)."""
    try:
        return read_history(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def trim_history(run_dir: Path, epochs_done: int) -> None:
    """Keep only the history rows of the epochs the checkpoint holds.

    CSVLogger writes an epoch's row just before the checkpoint commits that
    epoch, so a kill in between (or a restart without a checkpoint) leaves
    rows of epochs the resumed run trains again: they would appear twice.
    The file keeps CSVLogger's columns, since CSVLogger appends to it.
    """
    path = run_dir / HISTORY
    try:
        rows = pd.read_csv(path, keep_default_na=False, dtype=str)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        rows = None
    if rows is not None:
        check_history(pd.read_csv(path), path)  # with its missing values parsed
    if rows is None or epochs_done == 0:
        path.unlink(missing_ok=True)
        return
    kept = rows[pd.to_numeric(rows["epoch"]) < epochs_done]
    if len(kept) < len(rows):
        files.write_text(path, kept.to_csv(index=False))


def read_run(run_dir: Path) -> tuple[NetworkConfig, TrainingConfig]:
    """The network and training configs in a run's `run.json`, or a ValueError naming the fix."""
    run_file = run_dir / RUN_FILE
    try:
        run = json.loads(run_file.read_text())
        return (NetworkConfig.from_dict(run["network"]),
                TrainingConfig.from_dict(run["training"]))
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON ({error})"
    except ValueError as error:  # from_dict names the bad field
        problem = f"holds a bad setting ({str(error).rstrip('.')})"
    except (KeyError, TypeError, AttributeError):
        problem = "is not a run record (it needs 'network' and 'training')"
    raise ValueError(f"{run_file} {problem}; delete {run_dir} to start the run anew.")


def start_run(run_dir: Path, network: NetworkConfig, config: TrainingConfig) -> None:
    """Write the run's config, or check that a run being resumed had the same one."""
    run_file = run_dir / RUN_FILE
    if run_file.exists():
        if read_run(run_dir) != (network, config):  # a damaged file gets its own message
            raise ValueError(
                f"{run_dir} holds a run with other settings; resume it with the same "
                "arguments, or delete that folder (or choose another --work-dir) to start anew."
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(run_file, {"network": network.to_dict(), "training": config.to_dict()})


def run_lock(run_dir: Path):
    """The lock that keeps a second process off a run folder while one trains or exports it."""
    return files.folder_lock(
        run_dir, "another training run",
        "wait for it to end, or stop it; a killed run frees the folder at once")


def last_test_metrics(history) -> dict | None:
    """The test loss and accuracy `TestCurve` logged after the last epoch, of the weights
    the checkpoint and the export hold, so the export need not evaluate them again;
    None where the history has no test curve (multi-worker runs, older runs)."""
    if history is None or "test_accuracy" not in history.columns:
        return None
    last = history.iloc[-1]
    if pd.isna(last["test_accuracy"]) or pd.isna(last["test_loss"]):
        return None
    return {"accuracy": float(last["test_accuracy"]), "loss": float(last["test_loss"])}
