"""Fitting a network in memory: docs/science.md, section 3's optimizer and schedule, the model
built and balanced for training, the seeded input pipeline, the distribution strategy.

`TrainingConfig.seed` seeds the weights, the data order and the augmentation; what
that does and does not make reproducible is in docs/design-notes.md ("Determinism").
"""

from __future__ import annotations

import keras
import numpy as np

from ei_zoo import data
from ei_zoo.network.balance import balance_biases
from ei_zoo.network.models import build_model, dtype_policy, resolve_config
from ei_zoo.optional import tensorflow
from ei_zoo.training.multiworker import multiworker_strategy
from ei_zoo.training.settings import TrainingConfig

tf = tensorflow("Training")


def learning_rate_schedule(config: TrainingConfig) -> keras.optimizers.schedules.CosineDecay:
    """The learning rate at each training step: a linear warm-up to
    `config.learning_rate`, then a cosine decay to zero at the last step
    (docs/science.md, section 3)."""
    total = max(1, config.epochs * config.steps_per_epoch)
    warmup = min(total - 1, int(config.warmup_epochs * config.steps_per_epoch))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=total - warmup,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """AdamW on `learning_rate_schedule(config)`; biases and batch-norm scales and
    offsets are not decayed."""
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate_schedule(config),
                                       weight_decay=config.weight_decay)
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


def evaluation_batches(config: TrainingConfig, data_dir=None) -> tf.data.Dataset:
    """The test images a run is measured on: all 10,000, or the first `config.test_limit`."""
    return data.test_dataset(data_dir=data_dir, limit=config.test_limit)


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
    model = prepare_model(network, config, first_images(train_batches, config.balance_images))
    history = model.fit(train_batches, epochs=config.epochs, callbacks=list(callbacks),
                        shuffle=False, verbose=verbose)
    metrics = model.evaluate(evaluation_batches(config, data_dir), return_dict=True,
                             verbose=verbose)
    return model, history, metrics


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device; a GPU when TensorFlow sees one), `mirrored` (all local
    GPUs, or logical CPU devices) or `multiworker` (the machines listed in TF_CONFIG,
    `ei_zoo.training.multiworker`).

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


def local_copy(model: keras.Model, network, config: TrainingConfig):
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
