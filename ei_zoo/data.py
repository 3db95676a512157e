"""CIFAR-10 input pipelines with tf.data (docs/science.md, section 3).

Images leave the pipeline as float32 raw pixels 0-255, [N, 32, 32, 3]; the
model normalises them itself. The data comes from `tfds.load("cifar10")`,
which reads `data_dir` or, when that is None, `$TFDS_DATA_DIR`.
"""

from __future__ import annotations

import math
import numbers
import os
import socket

import numpy as np

from ei_zoo.network.config import CIFAR10_TEST_IMAGES
from ei_zoo.optional import tensorflow

tf = tensorflow("The CIFAR-10 input pipelines (tf.data)")
tfds = tensorflow("Reading CIFAR-10", "tensorflow_datasets")

DATASET = "cifar10"
PAD = 4
# TFDS downloads CIFAR-10 from here; checked before a download is attempted.
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)


class DatasetUnavailableError(FileNotFoundError):
    """CIFAR-10 is neither prepared in the data dir nor downloadable."""


def _host_reachable(address, timeout=3.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> str | None:
    """The TFDS data dir to use, absolute: `data_dir`, else `$TFDS_DATA_DIR`, else None
    (TFDS's default). A relative path is taken from the current folder, so a process
    that hands it to another, started elsewhere, hands over the same data."""
    chosen = os.fspath(data_dir) if data_dir is not None else os.environ.get("TFDS_DATA_DIR")
    return os.path.abspath(chosen) if chosen else None


def load_split(split: str, data_dir=None, download: bool = True) -> tf.data.Dataset:
    """CIFAR-10 `split` as (uint8 image, int64 label) pairs in TFDS's fixed order.

    Reads the prepared dataset with `tfds.load`. When it is not prepared, a
    download is tried only if the download site answers; otherwise this fails
    at once, instead of hanging on a download, with a message naming the fix.
    """
    data_dir = resolve_data_dir(data_dir)
    # No automatic cache: a split read in part would warn that its cache was left half read.
    options = dict(split=split, data_dir=data_dir, as_supervised=True, shuffle_files=False,
                   read_config=tfds.ReadConfig(try_autocache=False))
    try:
        return tfds.load(DATASET, download=False, **options)
    # TFDS raises AssertionError ("could not find data in ...") for an
    # unprepared dataset read with download=False.
    except (tfds.core.DatasetNotFoundError, AssertionError):
        if not (download and _host_reachable(DOWNLOAD_HOST)):
            where = data_dir or "TFDS's default data dir (~/tensorflow_datasets)"
            raise DatasetUnavailableError(
                f"CIFAR-10 is not prepared in {where} and cannot be downloaded; set "
                "TFDS_DATA_DIR (or pass data_dir / --data-dir) to a TFDS data dir that "
                "holds cifar10."
            ) from None
    return tfds.load(DATASET, download=True, **options)


def _check_positive(**values):
    for name, value in values.items():
        if value is None:
            continue
        # Checked as a number first: int() of a string, NaN or inf raises its own, vaguer error.
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or int(value) != value or value < 1):
            raise ValueError(f"{name}={value!r} must be a positive integer.")


def augment(image, seed):
    """Random 32x32 crop of the 4-pixel reflect-padded image, then a random flip.

    Stateless ops driven by a per-example seed, so a run is repeatable.
    """
    height, width, channels = image.shape
    padded = tf.pad(image, [[PAD, PAD], [PAD, PAD], [0, 0]], mode="REFLECT")
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    cropped = tf.image.stateless_random_crop(padded, (height, width, channels), crop_seed)
    return tf.image.stateless_random_flip_left_right(cropped, flip_seed)


def _shard_by_example(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Split the batches by example across the workers of a multi-worker strategy.

    Each CIFAR-10 split is a single TFRecord file, which tf.data's default
    (FILE) sharding cannot split between workers. Every worker reads the same
    seeded order, so they see disjoint parts of every batch.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _to_float(image, label):
    return tf.cast(image, tf.float32), label


def train_dataset(batch_size: int = 128, data_dir=None, limit: int | None = None,
                  seed: int = 0, download: bool = True) -> tf.data.Dataset:
    """Shuffled, augmented CIFAR-10 training batches, (images, labels).

    `limit` keeps the first `limit` training images (for short runs). The
    order and the augmentation change every epoch but repeat for a seed.
    """
    _check_positive(batch_size=batch_size, limit=limit)
    dataset = load_split("train", data_dir, download)
    if limit is not None:
        dataset = dataset.take(limit)
    dataset = dataset.cache().shuffle(
        min(limit or 50_000, 50_000), seed=seed, reshuffle_each_iteration=True
    )
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(dataset, seeds).map(
        lambda example, example_seed: (augment(example[0], example_seed), example[1]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )
    return _shard_by_example(dataset.batch(batch_size, drop_remainder=True)
                             .map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
                             .prefetch(tf.data.AUTOTUNE))


def test_dataset(batch_size: int = 256, data_dir=None, limit: int | None = None,
                 download: bool = True) -> tf.data.Dataset:
    """CIFAR-10 test batches in TFDS's fixed order, (images, labels), unaugmented."""
    _check_positive(batch_size=batch_size, limit=limit)
    dataset = load_split("test", data_dir, download)
    if limit is not None:
        dataset = dataset.take(limit)
    return _shard_by_example(dataset.batch(batch_size)
                             .map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
                             .cache().prefetch(tf.data.AUTOTUNE))


def test_images(num_images: int = 10_000, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The first `num_images` CIFAR-10 test images and their labels, as numpy arrays.

    Read whole, in TFDS's fixed order (the order every measure of the zoo uses), with no
    cache left half read.

    Args:
        num_images: how many, 1 to 10,000.
        data_dir: a TFDS data dir holding cifar10 (default: `$TFDS_DATA_DIR`).

    Returns:
        `(images, labels)`: float32 raw pixels 0-255 [N, 32, 32, 3] and int64 labels [N].

    Example:

    ```python
    images, labels = ei_zoo.test_images(500)
    logits = ei_zoo.load("standard-s0").predict(images)
    ```
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) \
            or not 1 <= num_images <= CIFAR10_TEST_IMAGES:
        raise ValueError(f"num_images={num_images!r} must be an integer from 1 to "
                         f"{CIFAR10_TEST_IMAGES:,} (the CIFAR-10 test images).")
    batches = list(load_split("test", data_dir).take(num_images).batch(1000)
                   .as_numpy_iterator())
    return (np.concatenate([images for images, _ in batches]).astype("float32"),
            np.concatenate([labels for _, labels in batches]).astype("int64"))
