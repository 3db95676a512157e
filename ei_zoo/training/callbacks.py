"""The callbacks of a training run: epoch time, silent units and the test curve in the
history, and a stop at the first sign of divergence.
"""

from __future__ import annotations

import math
import time

import keras

from ei_zoo.network.models import activation_model
from ei_zoo.network.responses import population_moments

# A mean training loss above this many times chance (ln classes) means the run diverged.
DIVERGENCE_FACTOR = 10
# Test images on which `SilentUnits` counts silent neurons after every epoch.
SILENT_UNIT_IMAGES = 256


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs, so the history records training time."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


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
