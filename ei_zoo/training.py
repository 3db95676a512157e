"""Training with SPEC section 3's defaults: AdamW, cosine schedule with warm-up,
cross-entropy on the readout at the last step, mixed precision where it helps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ei_zoo import data
from ei_zoo.config import NetworkConfig
from ei_zoo.models import balance_biases, build_model, resolve_config

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
TRAIN_IMAGES = 50_000
RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How one network is trained.

    Attributes:
        epochs: passes over the training images.
        batch_size: images per step.
        learning_rate: peak learning rate, reached after the warm-up.
        warmup_epochs: linear warm-up length, in epochs (may be fractional).
        weight_decay: AdamW's decoupled weight decay (not applied to biases
            and batch-norm parameters).
        precision: Keras dtype policy; variables stay float32 under `mixed_*`.
        seed: seeds weights, data order and augmentation.
        limit: use only the first `limit` training images (short runs).
        balance_images: training images used by `balance_biases` at init.
    """

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 4e-3
    warmup_epochs: float = 0.5
    weight_decay: float = 1e-4
    precision: str = "mixed_bfloat16"
    seed: int = 0
    limit: int | None = None
    balance_images: int = 512

    def __post_init__(self):
        for name in ("epochs", "batch_size", "balance_images", "limit"):
            value = getattr(self, name)
            if value is None and name == "limit":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainingConfig.{name}={value!r} must be a positive integer.")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainingConfig.precision={self.precision!r}; use one of {PRECISIONS}."
            )
        if not self.learning_rate > 0:
            raise ValueError(f"TrainingConfig.learning_rate={self.learning_rate!r} must be > 0.")

    @property
    def steps_per_epoch(self) -> int:
        return (self.limit or TRAIN_IMAGES) // self.batch_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown TrainingConfig field(s) {unknown}; known: {sorted(known)}.")
        return cls(**values)


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Build layers under `precision`, then restore the previous global policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """AdamW on a cosine schedule with linear warm-up (SPEC section 3)."""
    total = max(1, config.epochs * config.steps_per_epoch)
    warmup = min(total - 1, int(config.warmup_epochs * config.steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=total - warmup,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def prepare_model(network, config: TrainingConfig, balance_batch=None):
    """Build (from a variant name or config), balance and compile a network for training.

    `balance_batch` is the images array for `balance_biases`; None skips it.
    """
    keras.utils.set_random_seed(config.seed)
    with dtype_policy(config.precision):
        model = build_model(resolve_config(network))
    if balance_batch is not None:
        balance_biases(model, balance_batch)
    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def first_images(dataset, count: int) -> np.ndarray:
    """The first `count` images of a batched (images, labels) dataset."""
    batches = []
    for images, _ in dataset:
        batches.append(np.asarray(images))
        if sum(len(b) for b in batches) >= count:
            break
    return np.concatenate(batches)[:count]


def train(variant_or_config="standard", config: TrainingConfig | None = None, data_dir=None,
          callbacks=(), verbose="auto"):
    """Train one network in memory; returns (model, history, test metrics).

    No checkpoints and no export: for experiments. `train_and_export` is the
    zoo's recipe.
    """
    config = config or TrainingConfig()
    network = resolve_config(variant_or_config)
    train_batches = data.train_dataset(config.batch_size, data_dir, config.limit, config.seed)
    test_batches = data.test_dataset(data_dir=data_dir)
    model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    history = model.fit(train_batches, epochs=config.epochs, callbacks=list(callbacks),
                        shuffle=False, verbose=verbose)
    metrics = model.evaluate(test_batches, return_dict=True, verbose=verbose)
    return model, history, metrics


def model_id(variant: str, seed: int) -> str:
    """The zoo's name of a trained network, `<variant>-s<seed>` (SPEC section 6)."""
    return f"{variant}-s{seed}"


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device; a GPU when TensorFlow sees one), `mirrored` (all local
    GPUs, or logical CPU devices) or `multiworker` (machines listed in TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}; use default, mirrored or multiworker.")


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs, so the history records training time."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; nothing was exported."""


def read_history(path: str | Path) -> pd.DataFrame:
    """The per-epoch history of a run, one row per epoch.

    A run killed between writing an epoch's row and its checkpoint repeats that
    epoch when resumed; the later row is the one that counts. CSVLogger adds
    empty `val_*` columns when there is no validation data; they are dropped.
    """
    history = pd.read_csv(path).dropna(axis="columns", how="all")
    return (history.drop_duplicates("epoch", keep="last").sort_values("epoch")
            .reset_index(drop=True))


def hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [gpu.name for gpu in gpus],
    }


def _start_run(run_dir: Path, network: NetworkConfig, config: TrainingConfig) -> None:
    """Write the run's config, or check that a run being resumed had the same one."""
    run = {"network": network.to_dict(), "training": config.to_dict()}
    run_file = run_dir / RUN_FILE
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        if previous != run:
            raise ValueError(
                f"{run_dir} holds a run with other settings; resume it with the same "
                "arguments, or delete that folder (or choose another --work-dir) to start anew."
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_file, run)


def train_and_export(variant_or_config="standard", config: TrainingConfig | None = None,
                     out="exported", work_dir="runs", data_dir=None, strategy="default",
                     tensorboard=False, verbose="auto") -> Path:
    """The zoo's recipe: train one network, evaluate it, export it; resumable.

    Its state lives in `<work_dir>/<model_id>/`: `run.json` (both configs),
    `history.csv` and `backup/` (`BackupAndRestore`, every epoch). Started
    again with the same arguments after a crash, it resumes at the epoch it
    lost, and after the last epoch only evaluates and exports.
    """
    config = config or TrainingConfig()
    network = resolve_config(variant_or_config)
    run_dir = Path(work_dir) / model_id(network.variant, config.seed)
    distribution = get_strategy(strategy)
    train_batches = data.train_dataset(config.batch_size, data_dir, config.limit, config.seed)
    _start_run(run_dir, network, config)  # after the data is found: no empty run folders
    with distribution.scope():
        model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    callbacks = [
        EpochTimer(),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(run_dir / HISTORY_FILE, append=True),
        keras.callbacks.BackupAndRestore(run_dir / BACKUP_DIR, double_checkpoint=True,
                                         delete_checkpoint=False),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(run_dir / "tensorboard"))
    model.fit(train_batches, epochs=config.epochs, callbacks=callbacks, shuffle=False,
              verbose=verbose)
    return export_run(run_dir, out, data_dir, model=model, strategy=strategy, verbose=verbose)


def export_run(run_dir, out="exported", data_dir=None, model=None, strategy="default",
               verbose="auto") -> Path:
    """Evaluate a finished run on the test split and export it to `<out>/<model_id>`.

    `model` is the trained model when the caller has it; otherwise it is
    rebuilt from `run.json` and the run's last checkpoint (`ei-zoo export`).
    """
    from ei_zoo.export import export_model

    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a training run (no {RUN_FILE}); pass the folder "
            "`ei-zoo train` wrote under its --work-dir."
        )
    run = json.loads((run_dir / RUN_FILE).read_text())
    network = NetworkConfig.from_dict(run["network"])
    config = TrainingConfig.from_dict(run["training"])
    history = read_history(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).exists() else None
    if history is not None and not np.isfinite(history["loss"]).all():
        epoch = int(history.loc[~np.isfinite(history["loss"]), "epoch"].iloc[0]) + 1
        shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
        raise TrainingDivergedError(
            f"Training diverged in epoch {epoch} (loss is not finite); nothing was exported. "
            "Lower the learning rate and train again."
        )
    if history is None or len(history) < config.epochs:
        done = 0 if history is None else len(history)
        raise ValueError(
            f"{run_dir} has {done} of {config.epochs} epochs; run the same `ei-zoo train` "
            "command again to resume it."
        )
    if model is None:
        model = prepare_model(network, config)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run_dir / BACKUP_DIR / "latest.weights.h5")
    metrics = model.evaluate(data.test_dataset(data_dir=data_dir), return_dict=True,
                             verbose=verbose)
    identifier = model_id(network.variant, config.seed)
    metadata = {
        "id": identifier,
        "variant": network.variant,
        "seed": config.seed,
        "dataset": "cifar10",
        "splits": {"train": "train" if config.limit is None else f"train[:{config.limit}]",
                   "test": "test"},
        "epochs": config.epochs,
        "precision": config.precision,
        "training": config.to_dict(),
        "training_seconds": round(float(history["epoch_seconds"].sum()), 1),
        "hardware": {**hardware(), "strategy": strategy},
        "test_accuracy": round(float(metrics["accuracy"]), 4),
        "test_loss": round(float(metrics["loss"]), 4),
    }
    path = export_model(model, Path(out) / identifier, metadata=metadata, history=history)
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    return path


def write_json(path: str | Path, values: dict) -> None:
    Path(path).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
