"""What each cell-type population does for the task: in-silico perturbation and class tuning.

Alive is not functional: a population may fire (not silent) yet barely act, as a
bias does (a tonic population) or as a drive too small to move its target. So,
for each area and cell type of a trained network, on a set of test images:

- *perturbation*: the population's rates are replaced (`ei_zoo.models.clamped`)
  by zero, or by each neuron's mean rate over the images and the T steps at its
  position (which removes what it says about the image and keeps its mean drive);
  the test accuracy of the perturbed network, overall and per class, against the
  intact one's;
- *class tuning* of every neuron (its response as the analysis defines it: last
  step, mean over positions): the fraction of its variance over images that the
  class explains (eta squared), its preferred class, and Leavitt & Morcos's
  (ICLR 2021) class-selectivity index (mu_max - mu_rest) / (mu_max + mu_rest).

A population is *functional* when mean-clamping it costs more than
`FUNCTIONAL_DROP` of test accuracy: its information, not only its mean drive,
is used. On 10,000 test images one point of accuracy is about 2.5 standard
errors of a paired difference at 80% accuracy, and a smaller effect on an 80%
network is not a role worth the name (Morcos et al. 2018 ablate units the same way).

This needs the Keras model, not the SavedModel, whose traced graph has no place
to clamp a population; `perturbation_tables` also measures the intact network,
whose accuracy agreed with the SavedModel's to within 3 of the 10,000 test images on
all 17 networks of the zoo (bfloat16 rounding; tests/test_perturbation.py checks it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ei_zoo.bundle import population_key
from ei_zoo.config import AREAS, CELL_TYPES
from ei_zoo.models import activation_model, clamped
from ei_zoo.responses import responses

CLAMPS = ("zero", "mean")
# Mean-clamping a functional population costs more than this much test accuracy.
FUNCTIONAL_DROP = 0.01
PERTURBATION_COLUMNS = ("model", "area", "cell_type", "clamp", "class", "accuracy",
                        "accuracy_drop")
TUNING_COLUMNS = ("area", "cell_type", "neuron", "mean_rate", "preferred_class",
                  "class_variance_fraction", "class_selectivity_index")


def mean_rates_and_tuning(model, images: np.ndarray, labels: np.ndarray, num_classes: int,
                          batch_size: int = 500) -> tuple[dict, pd.DataFrame]:
    """Each population's mean rates [H, W, C] over the images and steps, and the class
    tuning of every neuron (`TUNING_COLUMNS`), from one streamed pass."""
    activations = activation_model(model)
    sums, class_sums, class_squares, steps = {}, {}, {}, {}
    counts = np.bincount(labels, minlength=num_classes).astype("float64")
    for start in range(0, len(images), batch_size):
        batch_labels = labels[start:start + batch_size]
        onehot = np.eye(num_classes)[batch_labels]  # [B, classes]
        rates = activations.predict_on_batch(images[start:start + batch_size])
        for key, values in rates.items():
            values = np.asarray(values, "float64")
            sums[key] = sums.get(key, 0.0) + values.sum(axis=(0, 1))  # over images and steps
            steps[key] = values.shape[1]
            response = responses(values)  # [B, C]
            class_sums[key] = class_sums.get(key, 0.0) + onehot.T @ response
            class_squares[key] = class_squares.get(key, 0.0) + onehot.T @ response**2
    means = {key: (total / (len(images) * steps[key])).astype("float32")
             for key, total in sums.items()}
    rows = []
    for key in class_sums:
        area, cell_type = key.split("/")
        rows += _tuning_rows(area, cell_type, class_sums[key], class_squares[key], counts)
    return means, pd.DataFrame(rows, columns=TUNING_COLUMNS)


def functional(mean_clamp_drop: float) -> str:
    """"yes" where clamping a population to its mean rates costs more than
    `FUNCTIONAL_DROP` of test accuracy, else "no"."""
    return "yes" if mean_clamp_drop > FUNCTIONAL_DROP else "no"


def class_tuning(area: str, cell_type: str, population_responses: np.ndarray,
                 labels: np.ndarray, num_classes: int) -> pd.DataFrame:
    """`TUNING_COLUMNS` of one population from its responses [images, neurons]."""
    onehot = np.eye(num_classes)[labels]
    values = np.asarray(population_responses, "float64")
    counts = np.bincount(labels, minlength=num_classes).astype("float64")
    return pd.DataFrame(_tuning_rows(area, cell_type, onehot.T @ values, onehot.T @ values**2,
                                     counts), columns=TUNING_COLUMNS)


def _tuning_rows(area, cell_type, class_sums, class_squares, counts) -> list[dict]:
    present = counts > 0
    class_means = class_sums[present] / counts[present, None]  # [classes, C]
    total = counts.sum()
    mean = class_sums.sum(axis=0) / total
    variance = class_squares.sum(axis=0) / total - mean**2
    between = (counts[present, None] * (class_means - mean) ** 2).sum(axis=0) / total
    classes = np.flatnonzero(present)
    rows = []
    for neuron in range(class_sums.shape[1]):
        means = class_means[:, neuron]
        best = int(np.argmax(means))
        rest = np.delete(means, best).mean() if len(means) > 1 else 0.0
        varies = variance[neuron] > 1e-12
        rows.append({
            "area": area, "cell_type": cell_type, "neuron": neuron,
            "mean_rate": float(mean[neuron]),
            "preferred_class": int(classes[best]) if varies else -1,
            "class_variance_fraction": float(between[neuron] / variance[neuron])
            if varies else np.nan,
            "class_selectivity_index": float((means[best] - rest) / (means[best] + rest))
            if varies and means[best] + rest > 0 else np.nan,
        })
    return rows


def accuracy_by_class(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """{"all": accuracy, "0": accuracy on class 0, ...}."""
    correct = np.argmax(logits, axis=-1) == labels
    result = {"all": float(correct.mean())}
    for label in range(num_classes):
        chosen = labels == label
        result[str(label)] = float(correct[chosen].mean()) if chosen.any() else np.nan
    return result


def perturbation_tables(model, images: np.ndarray, labels: np.ndarray, model_id: str,
                        batch_size: int = 500, progress=None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(perturbation, class tuning) of a network on `images` (raw pixels) and `labels`.

    Perturbation: one row per (area, cell type, clamp, class), `PERTURBATION_COLUMNS`,
    class "all" or "0".."9"; `accuracy_drop` is intact minus perturbed accuracy, and
    the intact network's rows have area and cell type "intact". Each perturbation
    is one clean forward pass over the images. `progress(n)` is called per pass.
    """
    num_classes = model.output.shape[-1]
    means, tuning = mean_rates_and_tuning(model, images, labels, num_classes, batch_size)
    if progress:
        progress(1)

    def accuracy(clamps):
        with clamped(model, clamps):
            logits = model.predict(images, batch_size=batch_size, verbose=0)
        if progress:
            progress(1)
        return accuracy_by_class(logits, labels, num_classes)

    intact = accuracy({})
    rows = [{"model": model_id, "area": "intact", "cell_type": "intact", "clamp": "none",
             "class": label, "accuracy": value, "accuracy_drop": 0.0}
            for label, value in intact.items()]
    for area in AREAS:
        for cell_type in CELL_TYPES:
            key = population_key(area, cell_type)
            for clamp in CLAMPS:
                values = np.zeros_like(means[key]) if clamp == "zero" else means[key]
                for label, value in accuracy({key: values}).items():
                    rows.append({"model": model_id, "area": area, "cell_type": cell_type,
                                 "clamp": clamp, "class": label, "accuracy": value,
                                 "accuracy_drop": intact[label] - value})
    return pd.DataFrame(rows, columns=PERTURBATION_COLUMNS), tuning


def passes() -> int:
    """Forward passes `perturbation_tables` makes (for a progress bar's total)."""
    return 2 + len(AREAS) * len(CELL_TYPES) * len(CLAMPS)
