"""Training with SPEC section 3's defaults: AdamW, cosine schedule with warm-up,
cross-entropy on the readout at the last step, mixed precision where it helps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from ei_zoo import data
from ei_zoo.config import NetworkConfig
from ei_zoo.models import balance_biases, build_model, resolve_config

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
TRAIN_IMAGES = 50_000


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
    """Train one network on CIFAR-10; returns (model, history, test metrics)."""
    config = config or TrainingConfig()
    network = resolve_config(variant_or_config)
    train_batches = data.train_dataset(config.batch_size, data_dir, config.limit, config.seed)
    test_batches = data.test_dataset(data_dir=data_dir)
    model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    history = model.fit(train_batches, epochs=config.epochs, callbacks=list(callbacks), shuffle=False,
                        verbose=verbose)
    metrics = model.evaluate(test_batches, return_dict=True, verbose=verbose)
    return model, history, metrics


def write_json(path: str | Path, values: dict) -> None:
    Path(path).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
