"""Training with SPEC section 3's defaults: AdamW, cosine schedule with warm-up,
cross-entropy on the readout at the last step, mixed precision where it helps.

A run is never lost to a kill: `train_and_export` keeps its state in a run
folder whose checkpoint is committed atomically after every epoch, trims the
history to the epochs that checkpoint holds, and exports atomically, so the
same command started again after a kill at any instant finishes the run with
one row per epoch and one complete export. A run whose loss explodes stops
at once and exports nothing (`TrainingDivergedError`).

Determinism: `TrainingConfig.seed` seeds the weights, the data order and the
augmentation. TensorFlow's global seed is set before the input pipeline is
built, so the order does not depend on what the process ran before. On a CPU,
the same seed on the same machine (same TensorFlow, same thread count) gives
bit-identical weights: tested in float32 (tests/test_reliability.py), and
seen in mixed_bfloat16 too on this project's machine. Not promised:
- across machines or TensorFlow versions: oneDNN picks kernels by CPU
  instruction set (AVX2, AVX-512, AMX for bfloat16) and thread count, and
  they sum in different orders, so weights agree only to rounding; in
  mixed precision that rounding is bfloat16's 8-bit mantissa;
- on a GPU: cuDNN autotunes its convolution algorithms, and some of them,
  like some gradient kernels (bias-add's), add with atomics, so two runs
  differ in the last bits in every precision and drift apart as training
  goes on (faster in mixed precision; in mixed_float16, loss scaling may
  skip different steps). `tf.config.experimental.enable_op_determinism()`
  before building the model makes TensorFlow and XLA pick deterministic
  kernels, more slowly (not measured here: no GPU);
- after a resume: the resumed epochs draw the input pipeline's first
  shuffle again, so they see the images in another order than an
  uninterrupted run would (same distribution, not the same weights).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import platform
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ei_zoo import data, export, files
from ei_zoo.bundle import HISTORY, is_export, model_id, read_metadata, verify_export
from ei_zoo.config import NetworkConfig
from ei_zoo.index import write_index
from ei_zoo.models import (
    activation_model,
    balance_biases,
    build_model,
    dtype_policy,
    resolve_config,
)
from ei_zoo.multiworker import (
    LOST_PEER_ERRORS,
    AverageMovingStatistics,
    ShareChiefState,
    WorkerLostError,
    from_chief,
    is_chief,
    is_multiworker,
    lost_worker_message,
    multiworker_strategy,
    weights_sha256,
    worker_folders,
    worker_name,
)
from ei_zoo.optional import tensorflow
from ei_zoo.responses import RunningMoments, responses
from ei_zoo.study import parse_study_variant

tf = tensorflow("Training")

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
TRAIN_IMAGES = 50_000
RUN_FILE = "run.json"
BACKUP_DIR = "backup"
CHECKPOINT_FILE = "training_metadata.json"  # in BACKUP_DIR: the commit record
# A mean training loss above this many times chance (ln classes) means the run diverged.
DIVERGENCE_FACTOR = 10
# The zoo's recipe, versioned so that an export of an older one is trained again,
# never mixed into one zoo (`finished_export`): 1 = the first three networks
# (commit fa47c55, 15 epochs); 2 = 30 epochs, NetworkConfig.silence_penalty = 1,
# silent units logged every epoch (docs/silent-units.md).
RECIPE_VERSION = 2
# Test images on which `SilentUnits` counts silent neurons after every epoch.
SILENT_UNIT_IMAGES = 256


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
        for name in ("learning_rate", "warmup_epochs", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"TrainingConfig.{name}={value!r} must be a finite number >= 0.")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainingConfig.learning_rate={self.learning_rate!r} must be > 0.")
        if self.limit is not None and self.limit > TRAIN_IMAGES:
            raise ValueError(
                f"TrainingConfig.limit={self.limit} is more than the {TRAIN_IMAGES:,} CIFAR-10 "
                f"training images; pass {TRAIN_IMAGES} or fewer.")
        if self.limit is not None and self.limit < self.batch_size:
            raise ValueError(
                f"TrainingConfig.limit={self.limit} is smaller than batch_size="
                f"{self.batch_size}, so an epoch has no full batch; use a batch size of at most "
                f"{self.limit} or train on more images.")
        # NumPy's seed, which keras.utils.set_random_seed sets too, takes 0 .. 2**32 - 1.
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) \
                or not 0 <= self.seed < 2**32:
            raise ValueError(
                f"TrainingConfig.seed={self.seed!r} must be an integer from 0 to 2**32 - 1.")

    @property
    def steps_per_epoch(self) -> int:
        return (self.limit or TRAIN_IMAGES) // self.batch_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        if not isinstance(values, dict):
            raise ValueError(
                f"A TrainingConfig must be a JSON object, got {type(values).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown TrainingConfig field(s) {unknown}; known: {sorted(known)}.")
        return cls(**values)


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


def training_batches(config: TrainingConfig, data_dir=None) -> tf.data.Dataset:
    """The run's training batches, their order and augmentation set by `config.seed` alone.

    tf.data combines each op's seed with TensorFlow's global seed, so the
    global seed is set first: otherwise a second run in the same process (or
    any earlier `set_random_seed`) would see the images in another order.
    """
    keras.utils.set_random_seed(config.seed)
    return data.train_dataset(config.batch_size, data_dir, config.limit, config.seed)


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
    train_batches = training_batches(config, data_dir)
    test_batches = data.test_dataset(data_dir=data_dir)
    model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    history = model.fit(train_batches, epochs=config.epochs, callbacks=list(callbacks),
                        shuffle=False, verbose=verbose)
    metrics = model.evaluate(test_batches, return_dict=True, verbose=verbose)
    return model, history, metrics


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device; a GPU when TensorFlow sees one), `mirrored` (all local
    GPUs, or logical CPU devices) or `multiworker` (the machines listed in TF_CONFIG,
    `ei_zoo.multiworker`).

    tf.distribute places TensorFlow's variables only: under JAX or PyTorch only
    `default` (which changes nothing) is accepted.
    """
    if name != "default" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND is "
            f"{keras.backend.backend()}); use the default strategy.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return multiworker_strategy()
    raise ValueError(f"Unknown strategy {name!r}; use default, mirrored or multiworker.")


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs, so the history records training time."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


def population_moments(activations: keras.Model, batches) -> dict[str, RunningMoments]:
    """Streamed moments of every population's responses (`ei_zoo.responses`) over
    `batches` of images; `activations` is `activation_model(model)`."""
    moments = {}
    for images in batches:
        for key, rates in activations.predict_on_batch(images).items():
            values = responses(rates)
            moments.setdefault(key, RunningMoments(values.shape[1])).update(values)
    return moments


def silent_units(model: keras.Model, batches) -> dict[str, dict[str, int]]:
    """Silent neurons per area and cell type over `batches` of images:
    {"area3": {"PN": count, ...}, ...}.

    A neuron is silent when its response has zero variance over the images,
    the definition the analysis uses.
    """
    counts = {}
    for key, moments in population_moments(activation_model(model), batches).items():
        area, cell_type = key.split("/")
        counts.setdefault(area, {})[cell_type] = int(moments.silent.sum())
    return counts


def silent_log_key(key: str) -> str:
    """History column of a population's silent fraction: `area3/PN` -> `silent_area3_PN`."""
    return "silent_" + key.replace("/", "_")


class SilentUnits(keras.callbacks.Callback):
    """Log the fraction of silent neurons per area and cell type after every epoch.

    Measured on a fixed batch of test images (`population_moments`), into the
    epoch logs as `silent_area3_PN`, ...; CSVLogger, listed after this
    callback, writes them into the run's history. A ReLU population that
    falls silent gets no gradient back, so the history shows when a
    population died (docs/silent-units.md).
    """

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_train_begin(self, logs=None):
        self._activations = activation_model(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key, moments in population_moments(self._activations, [self.images]).items():
            logs[silent_log_key(key)] = float(moments.silent.mean())


class TestCurve(keras.callbacks.Callback):
    """Log the test loss and accuracy after every epoch, as `test_loss` and `test_accuracy`.

    For the learning curve only: nothing (no epoch, no setting) is selected on
    it, so the test split stays a test split. Listed before CSVLogger, which
    writes them into the run's history.
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        metrics = self.model.evaluate(self.batches, return_dict=True, verbose=0)
        logs["test_loss"] = float(metrics["loss"])
        logs["test_accuracy"] = float(metrics["accuracy"])


class TrainingDivergedError(ValueError):
    """The loss became NaN, infinite or far above chance; nothing was exported.

    A ValueError: the settings (a learning rate far too high) are what the user
    must change, and the CLI reports it in one line like any other bad setting.
    """


def diverged(loss, num_classes: int) -> bool:
    """Whether a mean training loss means the run is lost: not finite, or above
    `DIVERGENCE_FACTOR` times chance (ln classes, where a balanced network starts)."""
    return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * math.log(num_classes)


class StopOnDivergence(keras.callbacks.Callback):
    """Stop training at the first batch whose running mean loss has `diverged`.

    Replaces `TerminateOnNaN`: rates and gates are bounded, so a far too high
    learning rate rarely gives a NaN here; the loss climbs into the thousands
    and stays finite, and the run would go on to export a network at chance.
    """

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and diverged(float(loss), self.num_classes):
            self.model.stop_training = True


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


def _remove_checkpoint(run_dir: Path) -> None:
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
    _check_history(history, path)
    return (history.drop_duplicates("epoch", keep="last").sort_values("epoch")
            .reset_index(drop=True))


def _check_history(rows: pd.DataFrame, path) -> None:
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


def _read_history_file(path: Path) -> pd.DataFrame | None:
    """`read_history`, or None for a missing or empty file (a run killed in its first epoch)."""
    try:
        return read_history(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def _trim_history(run_dir: Path, epochs_done: int) -> None:
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
        _check_history(pd.read_csv(path), path)  # with its missing values parsed
    if rows is None or epochs_done == 0:
        path.unlink(missing_ok=True)
        return
    kept = rows[pd.to_numeric(rows["epoch"]) < epochs_done]
    if len(kept) < len(rows):
        files.write_text(path, kept.to_csv(index=False))


def hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [gpu.name for gpu in gpus],
    }


def _read_run(run_dir: Path) -> tuple[NetworkConfig, TrainingConfig]:
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


def _start_run(run_dir: Path, network: NetworkConfig, config: TrainingConfig) -> None:
    """Write the run's config, or check that a run being resumed had the same one."""
    run_file = run_dir / RUN_FILE
    if run_file.exists():
        if _read_run(run_dir) != (network, config):  # a damaged file gets its own message
            raise ValueError(
                f"{run_dir} holds a run with other settings; resume it with the same "
                "arguments, or delete that folder (or choose another --work-dir) to start anew."
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(run_file, {"network": network.to_dict(), "training": config.to_dict()})


def train_and_export(variant_or_config="standard", config: TrainingConfig | None = None,
                     out="exported", work_dir="runs", data_dir=None, strategy="default",
                     tensorboard=False, verbose="auto", overwrite=False) -> Path | None:
    """The zoo's recipe: train one network, evaluate it, export it; resumable.

    Its state lives in `<work_dir>/<model_id>/`: `run.json` (both configs),
    `history.csv` and `backup/` (`RunCheckpoint`, every epoch). Started
    again with the same arguments after a crash, it resumes at the epoch it
    lost, after the last epoch only evaluates and exports, and once exported
    returns the export. The run folder keeps its last checkpoint, optimizer
    state included, so `export_run` can export it again at any time.
    Both folders are checked for writing before anything else starts, and an
    export of another run already in `<out>/<model_id>` (a shipped network of
    the zoo, say) is refused then unless `overwrite`. One run per run folder:
    a second process started on it stops at once (`files.folder_lock`).

    Under `strategy="multiworker"` every worker makes the same call; the chief
    keeps the run folder, exports and returns the export, the other workers
    return None (`ei_zoo.multiworker`). A worker lost midway raises
    `WorkerLostError` on the others.
    """
    config = config or TrainingConfig()
    network = resolve_config(variant_or_config)
    distribution = get_strategy(strategy)
    with worker_folders(distribution, work_dir, out) as (own_work_dir, own_out):
        try:
            return _train_and_export(network, config, own_out, own_work_dir, data_dir,
                                     distribution, strategy, tensorboard, verbose, overwrite)
        except LOST_PEER_ERRORS as error:
            if not is_multiworker(distribution):
                raise
            raise WorkerLostError(lost_worker_message(distribution, error)) from None


def _train_and_export(network, config, out, work_dir, data_dir, distribution, strategy,
                      tensorboard, verbose, overwrite):
    identifier = model_id(network.variant, config.seed)
    files.check_writable_folder(out, "--out")
    run_dir = files.check_writable_folder(work_dir, "--work-dir") / identifier
    check_replaceable(Path(out) / identifier, network, config, overwrite)
    train_batches = training_batches(config, data_dir)
    with run_lock(run_dir):  # after the data is found: no empty run folders
        return _locked_train_and_export(network, config, out, run_dir, data_dir, distribution,
                                        strategy, tensorboard, verbose, overwrite,
                                        train_batches)


def run_lock(run_dir: Path):
    """The lock that keeps a second process off a run folder while one trains or exports it."""
    return files.folder_lock(
        run_dir, "another training run",
        "wait for it to end, or stop it; a killed run frees the folder at once")


def check_replaceable(folder: Path, network: NetworkConfig, config: TrainingConfig,
                      overwrite: bool) -> None:
    """Refuse, before any work, to replace an export of another run without `overwrite`.

    The shipped zoo lives in `exported/`, the default `--out`: a user's short
    run of `standard` at seed 0 would otherwise replace the zoo's `standard-s0`
    (the density threshold's reference) without a word.
    """
    if overwrite or not is_export(folder) or finished_export(folder, network, config):
        return
    try:
        metadata = read_metadata(folder)
    except ValueError:
        metadata = {}
    facts = [f"{metadata['epochs']} epochs" if "epochs" in metadata else None,
             f"test accuracy {100 * metadata['test_accuracy']:.1f}%"
             if isinstance(metadata.get("test_accuracy"), float) else None,
             f"recipe {metadata['recipe_version']}" if "recipe_version" in metadata else None]
    held = ", ".join(fact for fact in facts if fact) or "no training facts"
    raise ValueError(
        f"{folder} holds an export of another run ({held}); choose another --out, or pass "
        "--overwrite (overwrite=True) to replace it.")


def _locked_train_and_export(network, config, out, run_dir, data_dir, distribution, strategy,
                             tensorboard, verbose, overwrite, train_batches):
    identifier = run_dir.name
    _start_run(run_dir, network, config)
    exported = finished_export(Path(out) / identifier, network, config)
    if int(from_chief(distribution, [int(exported is not None)])[0]):  # the chief's decides
        if verbose and exported is not None:
            print(f"{identifier} is already trained and exported to {exported} with these "
                  "settings; delete that folder to train it again.")
        return exported
    checkpoint = read_checkpoint(run_dir / BACKUP_DIR)
    _trim_history(run_dir, checkpoint[0] if checkpoint else 0)
    with distribution.scope():
        model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    test_batches = data.test_dataset(data_dir=data_dir)
    callbacks = [
        EpochTimer(),
        SilentUnits(first_images(test_batches, SILENT_UNIT_IMAGES)),
        StopOnDivergence(network.num_classes),
        keras.callbacks.CSVLogger(run_dir / HISTORY, append=True),
        RunCheckpoint(run_dir / BACKUP_DIR),
    ]
    if is_multiworker(distribution):
        callbacks = [AverageMovingStatistics(), *callbacks, ShareChiefState()]
    else:  # under the strategy a worker's share of a test batch may be empty (_local_copy)
        callbacks.insert(1, TestCurve(test_batches))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(run_dir / "tensorboard"))
    model.fit(train_batches, epochs=config.epochs, callbacks=callbacks, shuffle=False,
              verbose=verbose)
    if is_multiworker(distribution) and verbose:
        print(f"{worker_name(distribution)}: final weights sha256 {weights_sha256(model)}")
    exported = _export_run(run_dir, out, data_dir, model, strategy, verbose, overwrite)
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
    same = (metadata.get("training") == config.to_dict()
            and metadata.get("config") == network.to_dict()
            and metadata.get("recipe_version") == RECIPE_VERSION)
    return folder if same else None


def _local_copy(model: keras.Model, network: NetworkConfig, config: TrainingConfig):
    """A multi-worker model's copy that computes in this process alone.

    Evaluated under the strategy, each test batch is split between the
    workers, and now and then a worker's share was empty: TensorFlow's oneDNN
    convolution returns an empty batch with its input's channel count, so
    the next op failed and the run was lost after training. Every worker
    holds the same weights (`AverageMovingStatistics` included), so the
    chief measures and exports a copy on the whole test split.
    """
    copy = prepare_model(network, config)
    copy.set_weights(model.get_weights())
    return copy


def export_run(run_dir, out="exported", data_dir=None, verbose="auto",
               overwrite=False) -> Path:
    """Evaluate a finished run on the test split and export it to `<out>/<model_id>`.

    The model is rebuilt from `run.json` and the run's last checkpoint
    (`ei-zoo export`), while the run folder is locked (`run_lock`). An export
    of another run in `<out>/<model_id>` is refused unless `overwrite`.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a training run (no {RUN_FILE}); pass the folder "
            "`ei-zoo train` wrote under its --work-dir."
        )
    with run_lock(run_dir):
        return _export_run(run_dir, out, data_dir, None, "default", verbose, overwrite)


def _export_run(run_dir: Path, out, data_dir, model, strategy, verbose, overwrite) -> Path | None:
    """`export_run` of a locked run folder. `model` is the trained model when the caller
    has it. A multi-worker model is measured and exported by the chief alone, on a
    copy outside the strategy (`_local_copy`); the others return None."""
    network, config = _read_run(run_dir)
    files.check_writable_folder(out, "--out")  # before the evaluation, not after
    identifier = model_id(network.variant, config.seed)
    check_replaceable(Path(out) / identifier, network, config, overwrite)
    history = _read_history_file(run_dir / HISTORY)
    lost = [] if history is None else [
        (int(epoch), float(loss)) for epoch, loss in zip(history["epoch"], history["loss"])
        if diverged(float(loss), network.num_classes)]
    if lost:
        epoch, loss = lost[0]
        _remove_checkpoint(run_dir)
        raise TrainingDivergedError(
            f"Training diverged in epoch {epoch + 1} (mean loss {loss:.4g}, chance is "
            f"{math.log(network.num_classes):.2f}); nothing was exported. Lower the learning "
            f"rate and train again, in another --work-dir or after deleting {run_dir}."
        )
    chief = model is None or is_chief(model.distribute_strategy)
    if chief and (history is None or len(history) < config.epochs):  # the chief's is complete
        done = 0 if history is None else len(history)
        raise ValueError(
            f"{run_dir} has {done} of {config.epochs} epochs; run the same `ei-zoo train` "
            "command again to resume it."
        )
    if model is None:
        checkpoint = read_checkpoint(run_dir / BACKUP_DIR)
        if checkpoint is None or checkpoint[0] < config.epochs:
            raise ValueError(
                f"{run_dir} has no checkpoint of its last epoch; run the same `ei-zoo train` "
                "command again to finish it.")
        model = prepare_model(network, config)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(checkpoint[1])
    elif not chief:
        return None
    elif is_multiworker(model.distribute_strategy):
        model = _local_copy(model, network, config)
    test_batches = data.test_dataset(data_dir=data_dir)
    metrics = model.evaluate(test_batches, return_dict=True, verbose=verbose)
    # As numpy: JAX and PyTorch take no TensorFlow tensors outside `fit`.
    silent = silent_units(model, (images for images, _ in test_batches.as_numpy_iterator()))
    metadata = {
        "id": identifier,
        "variant": network.variant,
        "seed": config.seed,
        "dataset": "cifar10",
        "splits": {"train": "train" if config.limit is None else f"train[:{config.limit}]",
                   "test": "test"},
        "epochs": config.epochs,
        "precision": config.precision,
        "keras_backend": keras.backend.backend(),
        "training": config.to_dict(),
        "training_seconds": round(float(history["epoch_seconds"].sum()), 1),
        "hardware": {**hardware(), "strategy": strategy},
        "test_accuracy": round(float(metrics["accuracy"]), 4),
        "test_loss": round(float(metrics["loss"]), 4),
        "recipe_version": RECIPE_VERSION,
        "silent_units": silent,
        "learning_curve": "test_accuracy" in history.columns,
    }
    study_variant = parse_study_variant(network.variant)
    if study_variant is not None:
        metadata["design_change"] = {"base_variant": study_variant[0],
                                     **study_variant[1].to_dict()}
    path = export.export_model(model, Path(out) / identifier, metadata=metadata,
                               history=history)
    write_index(out)
    return path
