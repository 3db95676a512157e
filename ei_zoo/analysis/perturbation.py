"""What each cell-type population does for the task: in-silico perturbation and class tuning.

Alive is not functional: a population may fire (not silent) yet barely act, as a
bias does (a tonic population) or as a drive too small to move its target. So,
for each area and cell type of a trained network, on a set of test images:

- *perturbation*: the population's rates are replaced (`clamped_model`)
  by zero, or by each neuron's mean rate over the images and the T steps at its
  position (which removes what it says about the image and keeps its mean drive);
  the test accuracy of the perturbed network, overall and per class, against the
  intact one's;
- *drive share*: of each target's pre-activation (g, f, IG, OG; the gates i
  and o; the next area's targets; the readout's logits), the share of its
  variance over images, positions and steps that each source's contribution
  carries, cov(contribution, z) / var(z), pooled over the target's channels
  (the shares of a target's sources add up to 1), with each contribution's
  mean and spread against the target's own. A gate has one varying source
  (IG for i, OG for o; the rest is its bias), so its share is 1 by
  construction: there, the drive's spread against the bias says whether the
  gate moves;
- *class tuning* of every neuron (its response as the analysis defines it: last
  step, mean over positions): the fraction of its variance over images that the
  class explains (eta squared), its preferred class, and Leavitt & Morcos's
  (ICLR 2021) class-selectivity index (mu_max - mu_rest) / (mu_max + mu_rest).

A population is *functional* when mean-clamping it costs more than
`FUNCTIONAL_DROP` of test accuracy: its information, not only its mean drive,
is used (docs/science.md, section 4; docs/design-notes.md says why one point).

This needs the Keras model, not the SavedModel, whose traced graph has no place
to clamp a population; `perturbation_tables` also measures the intact network.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from ei_zoo.network.config import AREAS, CELL_TYPES, TARGETS, population_key, split_points
from ei_zoo.network.models import activation_model, check_network
from ei_zoo.network.responses import responses

CLAMPS = ("zero", "mean")
# Mean-clamping a functional population costs more than this much test accuracy.
FUNCTIONAL_DROP = 0.01
# The functional label of a population whose export has no perturbation table.
NOT_MEASURED = "not measured"
PERTURBATION_COLUMNS = ("model", "area", "cell_type", "clamp", "class", "accuracy",
                        "accuracy_drop")
TUNING_COLUMNS = ("area", "cell_type", "neuron", "mean_rate", "preferred_class",
                  "class_variance_fraction", "class_selectivity_index")
DRIVE_COLUMNS = ("area", "source", "target", "share", "drive_mean", "drive_std",
                 "target_mean", "target_std")
# A source's name in the drive table, where it is not a population of the area itself.
AREA_INPUT = {"area3": "area2", "area4": "area3 PN"}


def clamped_model(model, clamps: dict) -> keras.Model:
    """`model` with some populations' rates replaced by fixed values: an in-silico perturbation.

    The returned model shares `model`'s layers and weights and runs them in the
    same order (images -> area 2 -> area 3 -> pooling -> area 4 -> readout); the
    listed populations' rates are replaced for every image, wherever they act: in
    the gates (IG, OG), in the recurrence, the next area and the readout (PN).
    The cell state c runs on.

    Args:
        model: an `EINetwork`.
        clamps: population key (`area3/IG`) -> rates, [H, W, C] at every step
            (zeros, or each neuron's mean) or [T, H, W, C], one per step.

    Returns:
        A `keras.Model` from the same images to the perturbed logits.
    """
    check_network(model)
    by_area = {}
    for key, values in clamps.items():
        area, cell_type = key.split("/")
        by_area.setdefault(area, {})[cell_type] = np.asarray(values, "float32")
    area3 = model.get_layer("area3")(model.get_layer("area2").output,
                                     clamps=by_area.get("area3"))
    area4_input = model.get_layer("area3_to_area4")(area3["PN"])
    area4 = model.get_layer("area4")(area4_input, clamps=by_area.get("area4"))
    return keras.Model(model.input, model.get_layer("readout")(area4["PN"]),
                       name=f"{model.name}_clamped")


def area_drives(area, inputs):
    """Per step of an `EIConvLSTM` area: what each source adds to each target's pre-activation.

    Yields {target: (z, {source: contribution})} as numpy arrays [N, H, W, C]:
    for g, f, IG and OG the sources are `input` (W_x * x, the bias left out)
    and `PN` (the recurrence, zero at the first step); for i the source is
    `IG`, for o `OG`. z is each source's sum plus the bias.
    """
    cell = area.cell
    splits = split_points(cell.target_sizes)
    biases = dict(zip(TARGETS, np.split(keras.ops.convert_to_numpy(cell.bias), splits)))
    gate_biases = {"i": keras.ops.convert_to_numpy(cell.input_gate_bias),
                   "o": keras.ops.convert_to_numpy(cell.output_gate_bias)}
    states = None
    for input_drive in area.input_drives(inputs):
        _, states, preactivations = cell.step(input_drive, states)
        by_target = np.split(np.asarray(keras.ops.convert_to_numpy(input_drive), "float32"),
                             splits, axis=-1)
        step = {}
        for target, driven in zip(TARGETS, by_target):
            z = np.asarray(keras.ops.convert_to_numpy(preactivations[target]), "float32")
            step[target] = (z, {"input": driven - biases[target], "PN": z - driven})
        for gate, source in (("i", "IG"), ("o", "OG")):
            z = np.asarray(keras.ops.convert_to_numpy(preactivations[gate]), "float32")
            step[gate] = (z, {source: z - gate_biases[gate]})
        yield step


class _Covariances:
    """Per channel, streamed sums for the mean and spread of a contribution c and its
    target z, and their covariance (float64)."""

    def __init__(self):
        self.count, self.sums = 0, None

    def update(self, contribution: np.ndarray, target: np.ndarray) -> None:
        c = contribution.reshape(-1, contribution.shape[-1]).astype("float64")
        z = target.reshape(-1, target.shape[-1]).astype("float64")
        sums = np.stack([c.sum(0), (c * c).sum(0), z.sum(0), (z * z).sum(0), (c * z).sum(0)])
        self.sums = sums if self.sums is None else self.sums + sums
        self.count += len(c)

    def row(self) -> dict:
        c, cc, z, zz, cz = self.sums / self.count
        variance_c, variance_z, covariance = cc - c**2, zz - z**2, cz - c * z
        return {"share": float(covariance.sum() / variance_z.sum()),
                "drive_mean": float(c.mean()), "drive_std": float(np.sqrt(variance_c.mean())),
                "target_mean": float(z.mean()), "target_std": float(np.sqrt(variance_z.mean()))}


def drive_table(model, images: np.ndarray, batch_size: int = 500) -> pd.DataFrame:
    """`DRIVE_COLUMNS`, one row per (area, source, target), from one pass over `images`."""
    area_inputs = keras.Model(model.input, {area: model.get_layer(area).input
                                            for area in (*AREAS, "readout")})
    readout = model.get_layer("readout")
    stats = {}
    for start in range(0, len(images), batch_size):
        inputs = area_inputs.predict_on_batch(images[start:start + batch_size])
        for area in AREAS:
            for step in area_drives(model.get_layer(area), inputs[area]):
                for target, (z, contributions) in step.items():
                    for source, contribution in contributions.items():
                        name = AREA_INPUT[area] if source == "input" else source
                        stats.setdefault((area, name, target), _Covariances()).update(
                            contribution, z)
        logits = keras.ops.convert_to_numpy(readout(inputs["readout"])).astype("float32")
        bias = keras.ops.convert_to_numpy(readout.bias)
        stats.setdefault(("readout", "area4 PN", "logits"), _Covariances()).update(
            logits - bias, logits)
    return pd.DataFrame([{"area": area, "source": source, "target": target, **value.row()}
                         for (area, source, target), value in stats.items()],
                        columns=DRIVE_COLUMNS)


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
        network = clamped_model(model, clamps) if clamps else model
        logits = network.predict(images, batch_size=batch_size, verbose=0)
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
