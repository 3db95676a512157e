"""How a network is trained: `TrainingConfig`, its command-line options and the zoo's recipe.

The one place each training option is declared: `add_arguments` derives the
options of `ei-zoo train` and of `recipes/paper_zoo.py` from the dataclass's
fields and defaults. Python only (no Keras, no TensorFlow), so `ei-zoo --help`
stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers

from ei_zoo.network.config import CIFAR10_TEST_IMAGES as TEST_IMAGES
from ei_zoo.network.config import CIFAR10_TRAIN_IMAGES as TRAIN_IMAGES

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# The zoo's recipe, versioned so that an export of an older one is trained again,
# never mixed into one zoo (`finished_export`); CHANGELOG.md says what each version
# changed (2: 30 epochs, silence penalty 1, silent units logged every epoch).
RECIPE_VERSION = 2
# The zoo's epoch budget (docs/science.md, section 3).
ZOO_EPOCHS = 30


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
        test_limit: measure the test curve, the exported test accuracy and the
            silent units on the first `test_limit` test images only (short
            runs, tests: two passes over all 10,000 cost more than a tiny run's
            training). The export's metadata names the split it was measured on.
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
    test_limit: int | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size", "balance_images", "limit", "test_limit"):
            value = getattr(self, name)
            if value is None and name in ("limit", "test_limit"):
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
        if self.limit is None and self.batch_size > TRAIN_IMAGES:
            raise ValueError(
                f"TrainingConfig.batch_size={self.batch_size} is more than the {TRAIN_IMAGES:,} "
                f"CIFAR-10 training images, so an epoch has no full batch; pass a batch size "
                f"of at most {TRAIN_IMAGES}.")
        if self.limit is not None and self.limit < self.batch_size:
            raise ValueError(
                f"TrainingConfig.limit={self.limit} is smaller than batch_size="
                f"{self.batch_size}, so an epoch has no full batch; use a batch size of at most "
                f"{self.limit} or train on more images.")
        if self.test_limit is not None and self.test_limit > TEST_IMAGES:
            raise ValueError(
                f"TrainingConfig.test_limit={self.test_limit} is more than the {TEST_IMAGES:,} "
                f"CIFAR-10 test images; pass {TEST_IMAGES} or fewer, or leave it unset for all.")
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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, or a one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0, or a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def add_arguments(parser: argparse.ArgumentParser, defaults: TrainingConfig | None = None,
                  seed: bool = True) -> None:
    """The training options, with `defaults` (a `TrainingConfig`) as their defaults.

    `seed=False` leaves `--seed` out, for a recipe whose plan fixes each seed.
    """
    defaults = defaults or TrainingConfig()
    if seed:
        parser.add_argument("--seed", type=int, default=defaults.seed,
                            help="seeds the weights, the data order and the augmentation")
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs,
                        help=f"epoch budget (the zoo's networks: {ZOO_EPOCHS})")
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                        help="images per step")
    parser.add_argument("--learning-rate", type=positive_float, default=defaults.learning_rate,
                        help="peak learning rate, reached after the warm-up")
    parser.add_argument("--limit", type=positive_int, default=defaults.limit,
                        help="train on the first N training images only")
    parser.add_argument("--test-limit", type=positive_int, default=defaults.test_limit,
                        help="measure on the first N test images only (the test curve, the "
                             "exported accuracy, silent units); default all")
    parser.add_argument("--precision", default=defaults.precision, choices=PRECISIONS,
                        help="Keras dtype policy; variables stay float32")


def config_from_arguments(args: argparse.Namespace, **values) -> TrainingConfig:
    """The `TrainingConfig` of parsed `add_arguments` options; `values` override them."""
    options = {"epochs": args.epochs, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate, "limit": args.limit,
               "test_limit": args.test_limit, "precision": args.precision}
    if hasattr(args, "seed"):
        options["seed"] = args.seed
    return TrainingConfig(**{**options, **values})
