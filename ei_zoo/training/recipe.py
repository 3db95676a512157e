"""The zoo's recipe, with the training defaults of docs/science.md, section 3: AdamW,
cosine schedule with warm-up, cross-entropy on the readout at the last step, mixed
precision.

A run is never lost to a kill: `train_and_export` keeps its state in a run
folder whose checkpoint is committed atomically after every epoch, trims the
history to the epochs that checkpoint holds, and exports atomically, so the
same command started again after a kill at any instant finishes the run with
one row per epoch and one complete export. A run whose loss explodes stops
at once and exports nothing (`TrainingDivergedError`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
from pathlib import Path

import keras

from ei_zoo.hub import export, files
from ei_zoo.hub.bundle import HISTORY, is_export, model_id, read_metadata, verify_export
from ei_zoo.hub.index import write_index
from ei_zoo.network.config import NetworkConfig
from ei_zoo.network.models import activation_model, resolve_config
from ei_zoo.network.responses import silent_units
from ei_zoo.optional import tensorflow
from ei_zoo.training.callbacks import (
    SILENT_UNIT_IMAGES,
    EpochTimer,
    SilentUnits,
    StopOnDivergence,
    TestCurve,
    TrainingDivergedError,
    diverged,
)
from ei_zoo.training.fit import (
    evaluation_batches,
    first_images,
    get_strategy,
    local_copy,
    prepare_model,
    training_batches,
)
from ei_zoo.training.multiworker import (
    LOST_PEER_ERRORS,
    AverageMovingStatistics,
    ShareChiefState,
    WorkerLostError,
    from_chief,
    is_chief,
    is_multiworker,
    lost_worker_message,
    weights_sha256,
    worker_folders,
    worker_name,
)
from ei_zoo.training.run_folder import (
    BACKUP_DIR,
    RUN_FILE,
    RunCheckpoint,
    last_test_metrics,
    read_checkpoint,
    read_history_file,
    read_run,
    remove_checkpoint,
    run_lock,
    start_run,
    trim_history,
)
from ei_zoo.training.settings import RECIPE_VERSION, TrainingConfig

tf = tensorflow("Training")


@dataclasses.dataclass(frozen=True)
class _Destination:
    """Where and how a run is exported: what `train_and_export` and `export_run` pass on."""

    out: Path
    data_dir: str | None = None
    strategy: str = "default"
    verbose: str | int = "auto"
    overwrite: bool = False
    metadata: dict = dataclasses.field(default_factory=dict)


def hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [gpu.name for gpu in gpus],
    }


def train_and_export(variant_or_config="standard", config: TrainingConfig | None = None,
                     out="exported", work_dir="runs", data_dir=None, strategy="default",
                     tensorboard=False, verbose="auto", overwrite=False,
                     metadata: dict | None = None) -> Path | None:
    """The zoo's recipe: train one network, evaluate it, export it; resumable.

    Its state lives in `<work_dir>/<model_id>/`: `run.json` (both configs),
    `history.csv` and `backup/` (`RunCheckpoint`, every epoch). Started
    again with the same arguments after a crash, it resumes at the epoch it
    lost, after the last epoch only evaluates and exports, and once exported
    returns the export. The run folder keeps its last checkpoint, optimizer
    state included, so `export_run` can export it again at any time.
    Both folders are checked for writing before anything else starts, and
    anything in `<out>/<model_id>` but this run's own export (an export of
    another run, a shipped network of the zoo say, or a user's folder or file) is
    refused then unless `overwrite` (`check_replaceable`). One run per run folder:
    a second process started on it stops at once (`files.folder_lock`).
    `metadata` adds fields to the export's `metadata.json` (the design study's
    `design_change`, `ei_zoo.paper.study.design_change_metadata`).

    Under `strategy="multiworker"` every worker makes the same call; the chief
    keeps the run folder, exports and returns the export, the other workers
    return None (`ei_zoo.training.multiworker`). A worker lost midway raises
    `WorkerLostError` on the others.
    """
    config = config or TrainingConfig()
    network = resolve_config(variant_or_config)
    distribution = get_strategy(strategy)
    with worker_folders(distribution, work_dir, out) as (own_work_dir, own_out):
        try:
            destination = _Destination(Path(own_out), data_dir, strategy, verbose, overwrite,
                                       metadata or {})
            return _train_and_export(network, config, own_work_dir, distribution, tensorboard,
                                     destination)
        except LOST_PEER_ERRORS as error:
            if not is_multiworker(distribution):
                raise
            raise WorkerLostError(lost_worker_message(distribution, error)) from None


def _train_and_export(network, config, work_dir, distribution, tensorboard,
                      destination: _Destination):
    identifier = model_id(network.variant, config.seed)
    files.check_writable_folder(destination.out, "--out")
    run_dir = files.check_writable_folder(work_dir, "--work-dir") / identifier
    check_replaceable(destination.out / identifier, network, config, destination.overwrite)
    train_batches = training_batches(config, destination.data_dir)
    with run_lock(run_dir):  # after the data is found: no empty run folders
        return _locked_train_and_export(network, config, run_dir, distribution, tensorboard,
                                        train_batches, destination)


def check_replaceable(folder: Path, network: NetworkConfig, config: TrainingConfig,
                      overwrite: bool) -> None:
    """Refuse, before any work, to replace what `folder` holds without `overwrite`:
    anything but nothing, an empty folder, or this run's own export.

    The shipped zoo lives in `exported/`, the default `--out`: a user's short
    run of `standard` at seed 0 would otherwise replace the zoo's `standard-s0`
    (the density threshold's reference) without a word; and a user's own folder
    or file of that name would be lost.
    """
    if (overwrite or not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))
            or finished_export(folder, network, config)):
        return
    fix = "choose another --out, or pass --overwrite (overwrite=True) to replace it."
    if not is_export(folder):
        held = "is a file" if not folder.is_dir() else "is a folder that holds no export"
        raise ValueError(f"{folder} {held}; {fix}")
    try:
        metadata = read_metadata(folder)
    except ValueError:
        metadata = {}
    facts = [f"{metadata['epochs']} epochs" if "epochs" in metadata else None,
             f"test accuracy {100 * metadata['test_accuracy']:.1f}%"
             if isinstance(metadata.get("test_accuracy"), float) else None,
             f"recipe {metadata['recipe_version']}" if "recipe_version" in metadata else None]
    held = ", ".join(fact for fact in facts if fact) or "no training facts"
    raise ValueError(f"{folder} holds an export of another run ({held}); {fix}")


def _locked_train_and_export(network, config, run_dir, distribution, tensorboard, train_batches,
                             destination: _Destination):
    identifier, verbose = run_dir.name, destination.verbose
    start_run(run_dir, network, config)
    exported = finished_export(destination.out / identifier, network, config)
    if int(from_chief(distribution, [int(exported is not None)])[0]):  # the chief's decides
        if verbose and exported is not None:
            print(f"{identifier} is already trained and exported to {exported} with these "
                  "settings; delete that folder to train it again.")
        return exported
    checkpoint = read_checkpoint(run_dir / BACKUP_DIR)
    trim_history(run_dir, checkpoint[0] if checkpoint else 0)
    with distribution.scope():
        model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    measured_on = evaluation_batches(config, destination.data_dir)
    callbacks = [
        EpochTimer(),
        SilentUnits(first_images(measured_on, SILENT_UNIT_IMAGES)),
        StopOnDivergence(network.num_classes),
        keras.callbacks.CSVLogger(run_dir / HISTORY, append=True),
        RunCheckpoint(run_dir / BACKUP_DIR),
    ]
    if is_multiworker(distribution):
        callbacks = [AverageMovingStatistics(), *callbacks, ShareChiefState()]
    else:  # under the strategy a worker's share of a test batch may be empty (local_copy)
        callbacks.insert(1, TestCurve(measured_on))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(run_dir / "tensorboard"))
    model.fit(train_batches, epochs=config.epochs, callbacks=callbacks, shuffle=False,
              verbose=verbose)
    if is_multiworker(distribution) and verbose:
        print(f"{worker_name(distribution)}: final weights sha256 {weights_sha256(model)}")
    exported = _export_run(run_dir, model, destination)
    from_chief(distribution, [0])  # the other workers end once the chief has exported
    return exported


def finished_export(folder: Path, network: NetworkConfig, config: TrainingConfig) -> Path | None:
    """`folder` if it holds a complete, intact export of a run with these configs,
    trained by this `RECIPE_VERSION`; None when the run is still to be done."""
    try:
        verify_export(folder)
        metadata = read_metadata(folder)
    except (FileNotFoundError, ValueError):
        return None
    try:  # through the dataclass: a field added since has its default in both
        trained_with = TrainingConfig.from_dict(metadata.get("training"))
    except ValueError:
        return None
    same = (trained_with == config
            and metadata.get("config") == network.to_dict()
            and metadata.get("recipe_version") == RECIPE_VERSION)
    return folder if same else None


def export_run(run_dir, out="exported", data_dir=None, verbose="auto",
               overwrite=False, metadata: dict | None = None) -> Path:
    """Evaluate a finished run on the test split and export it to `<out>/<model_id>`.

    The model is rebuilt from `run.json` and the run's last checkpoint
    (`ei-zoo export`), while the run folder is locked (`run_lock`). Anything in
    `<out>/<model_id>` but this run's own export is refused before any work unless
    `overwrite` (`check_replaceable`).
    `metadata` adds fields to the export's `metadata.json`, as in `train_and_export`.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a training run (no {RUN_FILE}); pass the folder "
            "`ei-zoo train` wrote under its --work-dir."
        )
    with run_lock(run_dir):
        return _export_run(run_dir, None, _Destination(Path(out), data_dir, "default", verbose,
                                                       overwrite, metadata or {}))


def _export_run(run_dir: Path, model, destination: _Destination) -> Path | None:
    """`export_run` of a locked run folder. `model` is the trained model when the caller
    has it. A multi-worker model is measured and exported by the chief alone, on a
    copy outside the strategy (`local_copy`); the others return None."""
    network, config = read_run(run_dir)
    out = destination.out
    files.check_writable_folder(out, "--out")  # before the evaluation, not after
    identifier = model_id(network.variant, config.seed)
    check_replaceable(out / identifier, network, config, destination.overwrite)
    history = read_history_file(run_dir / HISTORY)
    chief = model is None or is_chief(model.distribute_strategy)
    _check_history(run_dir, history, network, config, chief)
    if model is None:
        model = _last_checkpoint(run_dir, network, config)
    elif not chief:
        return None
    elif is_multiworker(model.distribute_strategy):
        model = local_copy(model, network, config)
    measured_on = evaluation_batches(config, destination.data_dir)
    metrics = last_test_metrics(history) or model.evaluate(measured_on, return_dict=True,
                                                            verbose=destination.verbose)
    # As numpy: JAX and PyTorch take no TensorFlow tensors outside `fit`.
    silent = silent_units(activation_model(model),
                          (images for images, _ in measured_on.as_numpy_iterator()))
    metadata = {
        "id": identifier,
        "variant": network.variant,
        "seed": config.seed,
        "dataset": "cifar10",
        "splits": {"train": "train" if config.limit is None else f"train[:{config.limit}]",
                   "test": "test" if config.test_limit is None else f"test[:{config.test_limit}]"},
        "epochs": config.epochs,
        "precision": config.precision,
        "keras_backend": keras.backend.backend(),
        "training": config.to_dict(),
        "training_seconds": round(float(history["epoch_seconds"].sum()), 1),
        "hardware": {**hardware(), "strategy": destination.strategy},
        "test_accuracy": round(float(metrics["accuracy"]), 4),
        "test_loss": round(float(metrics["loss"]), 4),
        "recipe_version": RECIPE_VERSION,
        "silent_units": silent,
        "learning_curve": "test_accuracy" in history.columns,
        **destination.metadata,
    }
    path = export.export_model(model, out / identifier, metadata=metadata, history=history)
    write_index(out)
    return path


def _check_history(run_dir: Path, history, network: NetworkConfig, config: TrainingConfig,
                   chief: bool) -> None:
    """Refuse to export a run that diverged (its checkpoint is removed) or, on the chief,
    one with epochs still to train."""
    lost = [] if history is None else [
        (int(epoch), float(loss)) for epoch, loss in zip(history["epoch"], history["loss"])
        if diverged(float(loss), network.num_classes)]
    if lost:
        epoch, loss = lost[0]
        remove_checkpoint(run_dir)
        raise TrainingDivergedError(
            f"Training diverged in epoch {epoch + 1} (mean loss {loss:.4g}, chance is "
            f"{math.log(network.num_classes):.2f}); nothing was exported. Lower the learning "
            f"rate and train again, in another --work-dir or after deleting {run_dir}."
        )
    if chief and (history is None or len(history) < config.epochs):  # the chief's is complete
        done = 0 if history is None else len(history)
        raise ValueError(
            f"{run_dir} has {done} of {config.epochs} epochs; run the same `ei-zoo train` "
            "command again to resume it."
        )


def _last_checkpoint(run_dir: Path, network: NetworkConfig, config: TrainingConfig):
    """The run's model with the weights of its last epoch's checkpoint."""
    checkpoint = read_checkpoint(run_dir / BACKUP_DIR)
    if checkpoint is None or checkpoint[0] < config.epochs:
        raise ValueError(
            f"{run_dir} has no checkpoint of its last epoch; run the same `ei-zoo train` "
            "command again to finish it.")
    model = prepare_model(network, config)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(checkpoint[1])
    return model
