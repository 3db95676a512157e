"""What each cell-type population does for the task: in-silico perturbation and class tuning.

Alive is not functional: a population may fire (not silent) yet barely act, as a
bias does (a tonic population) or as a drive too small to move its target. So,
for each area and cell type of a trained network, on a set of test images:

- *perturbation*: the population's rates are replaced (`clamped_model`) by zero
  (`zero`), by each neuron's mean rate over the images and the T steps at its
  position (`mean`: the image information and the time course removed, the mean
  drive kept), or by its mean over the images at each step (`step_mean`: the
  image information removed, the time course kept); the test accuracy of the
  perturbed network, overall and per class, against the intact one's, with the
  images it loses and gains and a paired 95% bootstrap interval of the drop;
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
  (ICLR 2021) class-selectivity index (mu_max - mu_rest) / (mu_max + mu_rest), defined
  for responses that are never negative (NaN where a class's mean is, as a signed PN
  output's can be: the index would leave [0, 1]).

A population is *functional* when clamping it to its per-step means costs more
than `FUNCTIONAL_DROP` of test accuracy: its information, not only its mean drive or
time course, is used. The paired 95% interval of that drop says which of three
labels it gets: `functional` (the interval lies above the line), `not functional`
(below) or `indeterminate` (it straddles the line). docs/science.md, section 4, says
why the per-step mean; docs/design-notes.md why one point.

This needs the Keras model, not the SavedModel, whose traced graph has no place
to clamp a population; `perturbation_tables` also measures the intact network.
"""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pandas as pd

from ei_zoo.hub.bundle import PERTURBATION
from ei_zoo.hub.measured import measured_table
from ei_zoo.network.config import AREAS, CELL_TYPES, TARGETS, population_key, split_points
from ei_zoo.network.models import activation_model, check_network
from ei_zoo.network.responses import responses

CLAMPS = ("zero", "mean", "step_mean")
# Clamping a functional population to FUNCTIONAL_CLAMP costs more than FUNCTIONAL_DROP of
# test accuracy (the whole paired 95% interval of the drop lies above it).
FUNCTIONAL_CLAMP = "step_mean"
FUNCTIONAL_DROP = 0.01
FUNCTIONAL, NOT_FUNCTIONAL, INDETERMINATE = "functional", "not functional", "indeterminate"
# The functional label of a population whose export has no perturbation table.
NOT_MEASURED = "not measured"
# Resamples of the paired bootstrap of an accuracy drop.
BOOTSTRAP_RESAMPLES = 10_000
PERTURBATION_COLUMNS = ("model", "area", "cell_type", "clamp", "class", "accuracy",
                        "accuracy_drop", "images", "images_lost", "images_gained",
                        "accuracy_drop_ci_low", "accuracy_drop_ci_high")
# What `function_of` gives per population.
FUNCTION_MEASURES = (*(f"accuracy_drop_{clamp}" for clamp in CLAMPS),
                     f"accuracy_drop_{FUNCTIONAL_CLAMP}_ci_low",
                     f"accuracy_drop_{FUNCTIONAL_CLAMP}_ci_high", "functional")
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
    """Each population's mean rates over the images at each step, [T, H, W, C], and the
    class tuning of every neuron (`TUNING_COLUMNS`), from one streamed pass.

    The mean over the images and steps, [H, W, C], is their mean over the first axis.
    """
    activations = activation_model(model)
    sums, class_sums, class_squares = {}, {}, {}
    counts = np.bincount(labels, minlength=num_classes).astype("float64")
    for start in range(0, len(images), batch_size):
        batch_labels = labels[start:start + batch_size]
        onehot = np.eye(num_classes)[batch_labels]  # [B, classes]
        rates = activations.predict_on_batch(images[start:start + batch_size])
        for key, values in rates.items():
            values = np.asarray(values, "float64")
            sums[key] = sums.get(key, 0.0) + values.sum(axis=0)  # over images: [T, H, W, C]
            response = responses(values)  # [B, C]
            class_sums[key] = class_sums.get(key, 0.0) + onehot.T @ response
            class_squares[key] = class_squares.get(key, 0.0) + onehot.T @ response**2
    step_means = {key: (total / len(images)).astype("float32") for key, total in sums.items()}
    rows = []
    for key in class_sums:
        area, cell_type = key.split("/")
        rows += _tuning_rows(area, cell_type, class_sums[key], class_squares[key], counts)
    return step_means, pd.DataFrame(rows, columns=TUNING_COLUMNS)


def clamp_values(step_means: np.ndarray, clamp: str) -> np.ndarray:
    """What `clamp` replaces a population's rates by, from their per-step means [T, H, W, C]:
    zeros or the mean over steps [H, W, C], or the per-step means themselves."""
    if clamp not in CLAMPS:
        raise ValueError(f"clamp must be one of {CLAMPS}; got {clamp!r}.")
    if clamp == "step_mean":
        return step_means
    mean = step_means.astype("float64").mean(axis=0).astype("float32")
    return np.zeros_like(mean) if clamp == "zero" else mean


def drop_interval(images_lost: int, images_gained: int, images: int,
                  key: str) -> tuple[float, float]:
    """Paired 95% bootstrap interval of an accuracy drop: (low, high).

    Over the images, the intact minus the perturbed network's correctness is +1 (an
    image lost), -1 (gained) or 0, so resampling the images with replacement draws
    those counts from a multinomial; the drop of a resample is (lost - gained) /
    images. `BOOTSTRAP_RESAMPLES` resamples, percentiles 2.5 and 97.5.

    Args:
        images_lost: images the intact network gets right and the perturbed one wrong.
        images_gained: images the perturbed network gets right and the intact one wrong.
        images: images measured.
        key: what is measured (`"standard-s0/area4/IG/step_mean/all"`); it seeds the
            resampling, so one measurement always gets one interval.

    Returns:
        The interval's ends, as fractions of the images (0.01 is one point).
    """
    if images == 0:
        return np.nan, np.nan
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    shares = np.array([images_lost, images_gained, images - images_lost - images_gained]
                      ) / images
    draws = rng.multinomial(images, shares, size=BOOTSTRAP_RESAMPLES)
    low, high = np.percentile((draws[:, 0] - draws[:, 1]) / images, [2.5, 97.5])
    return float(low), float(high)


def functional(ci_low: float, ci_high: float) -> str:
    """The functional label of a population from the paired 95% interval of the drop its
    per-step mean clamp causes: `FUNCTIONAL` where the whole interval lies above
    `FUNCTIONAL_DROP`, `NOT_FUNCTIONAL` where it lies below, else `INDETERMINATE`
    (`NOT_MEASURED` for a missing interval)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return NOT_MEASURED
    if ci_low > FUNCTIONAL_DROP:
        return FUNCTIONAL
    return NOT_FUNCTIONAL if ci_high < FUNCTIONAL_DROP else INDETERMINATE


def function_of(perturbation: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """What each population of one network does, from its perturbation table (class "all").

    Args:
        perturbation: `PERTURBATION_COLUMNS` rows of one network.

    Returns:
        (area, cell type) -> `FUNCTION_MEASURES`: the drop each clamp causes (a fraction
        of the images), the paired 95% interval of the `FUNCTIONAL_CLAMP` drop and the
        functional label.
    """
    overall = perturbation[(perturbation["class"] == "all") & (perturbation["clamp"] != "none")]
    result = {}
    for row in overall.itertuples():
        values = result.setdefault((row.area, row.cell_type), {})
        values[f"accuracy_drop_{row.clamp}"] = row.accuracy_drop
        if row.clamp == FUNCTIONAL_CLAMP:
            values[f"accuracy_drop_{row.clamp}_ci_low"] = row.accuracy_drop_ci_low
            values[f"accuracy_drop_{row.clamp}_ci_high"] = row.accuracy_drop_ci_high
            values["functional"] = functional(row.accuracy_drop_ci_low,
                                              row.accuracy_drop_ci_high)
    return result


def kept_perturbation(kept: dict, model_id: str) -> pd.DataFrame | None:
    """The perturbation table among an export's verified measures `kept`
    (`ei_zoo.hub.measured.read_measured`), or None where it keeps none.

    Raises:
        ValueError: in one line with the fix, where the table lacks a clamp or column
            of `CLAMPS` / `PERTURBATION_COLUMNS` (kept by an earlier ei_zoo).
    """
    table = measured_table(kept, PERTURBATION, {"class": str})
    if table is None:
        return None
    missing = sorted(set(PERTURBATION_COLUMNS) - set(table.columns)) + sorted(
        f"the {clamp} clamp" for clamp in set(CLAMPS) - set(table["clamp"]))
    if missing:
        raise ValueError(f"{model_id}'s kept {PERTURBATION} lacks {', '.join(missing)}; "
                         f"measure it again with `ei-zoo perturb {model_id} --save "
                         "--overwrite --measures function`.")
    return table


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
            if varies and means[best] + rest > 0 and means.min() >= 0 else np.nan,
        })
    return rows


def perturbation_rows(model_id: str, population: tuple[str, str, str], correct: np.ndarray,
                      intact: np.ndarray, labels: np.ndarray, num_classes: int) -> list[dict]:
    """`PERTURBATION_COLUMNS` rows of one perturbation, overall (class "all") and per class.

    Args:
        model_id: the network's id.
        population: (area, cell type, clamp); ("intact", "intact", "none") for the intact
            network.
        correct: per image, whether the perturbed network classifies it right.
        intact: per image, whether the intact network does.
        labels: the images' classes.
        num_classes: classes of the task.
    """
    area, cell_type, clamp = population
    rows = []
    for label in ("all", *map(str, range(num_classes))):
        chosen = np.ones(len(labels), bool) if label == "all" else labels == int(label)
        images = int(chosen.sum())
        lost = int((intact & ~correct & chosen).sum())
        gained = int((~intact & correct & chosen).sum())
        low, high = drop_interval(lost, gained, images,
                                  f"{model_id}/{area}/{cell_type}/{clamp}/{label}")
        accuracy = float(correct[chosen].mean()) if images else np.nan
        rows.append({"model": model_id, "area": area, "cell_type": cell_type, "clamp": clamp,
                     "class": label, "accuracy": accuracy,
                     "accuracy_drop": (lost - gained) / images if images else np.nan,
                     "images": images, "images_lost": lost, "images_gained": gained,
                     "accuracy_drop_ci_low": low, "accuracy_drop_ci_high": high})
    return rows


def perturbation_tables(model, images: np.ndarray, labels: np.ndarray, model_id: str,
                        batch_size: int = 500, progress=None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(perturbation, class tuning) of a network on `images` (raw pixels) and `labels`.

    Perturbation: one row per (area, cell type, clamp, class), `PERTURBATION_COLUMNS`
    (`perturbation_rows`), class "all" or "0".."9"; `accuracy_drop` is intact minus
    perturbed accuracy, and the intact network's rows have area and cell type
    "intact". Each perturbation is one clean forward pass over the images.
    `progress(n)` is called per pass.
    """
    num_classes = model.output.shape[-1]
    step_means, tuning = mean_rates_and_tuning(model, images, labels, num_classes, batch_size)
    if progress:
        progress(1)

    def correct(clamps):
        network = clamped_model(model, clamps) if clamps else model
        logits = network.predict(images, batch_size=batch_size, verbose=0)
        if progress:
            progress(1)
        return np.argmax(logits, axis=-1) == labels

    intact = correct({})
    rows = perturbation_rows(model_id, ("intact", "intact", "none"), intact, intact, labels,
                             num_classes)
    for area in AREAS:
        for cell_type in CELL_TYPES:
            key = population_key(area, cell_type)
            for clamp in CLAMPS:
                perturbed = correct({key: clamp_values(step_means[key], clamp)})
                rows += perturbation_rows(model_id, (area, cell_type, clamp), perturbed, intact,
                                          labels, num_classes)
    return pd.DataFrame(rows, columns=PERTURBATION_COLUMNS), tuning


def passes() -> int:
    """Forward passes `perturbation_tables` makes (for a progress bar's total)."""
    return 2 + len(AREAS) * len(CELL_TYPES) * len(CLAMPS)
