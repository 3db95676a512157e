"""Measure exported networks: selectivity and connection density per cell type.

Works from an export folder alone (docs/science.md, section 6): responses come from the
SavedModel's `activations` endpoint, weights from `connectivity.npz`, facts
from `metadata.json`. No Keras model object and no ei_zoo layer is used, so a
downloaded model is measured the same way as one trained here.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ei_zoo import data
from ei_zoo.analysis.connectivity import (
    PATHWAYS,
    calibrate_threshold,
    pathway_keys,
    pathway_threshold,
    weight_measures,
)
from ei_zoo.analysis.perturbation import NOT_MEASURED, functional
from ei_zoo.hub.bundle import (
    CLASS_TUNING,
    CONNECTIVITY,
    DRIVE,
    PERTURBATION,
    RESPONSE_MOMENTS,
    SAVED_MODEL,
    check_model_reference,
    read_metadata,
)
from ei_zoo.hub.zoo import resolve
from ei_zoo.network.config import AREAS, CELL_TYPES, CIFAR10_TEST_IMAGES
from ei_zoo.network.responses import (
    OPTIONS,
    RunningMoments,
    all_responses,
    check_options,
    moments_from_arrays,
)
from ei_zoo.optional import tensorflow

tf = tensorflow("The analysis (it reads the SavedModel's activations)")

INTERNEURONS = ("IG", "OG")
REFERENCE = "standard-s0"
# Images per batch when responses are streamed. Part of what a kept set of response
# moments was measured with: batches merge in another order at another size.
RESPONSE_BATCH = 250
# Selectivity of a cell type: table column -> (per-neuron statistic, aggregate over neurons).
SELECTIVITY = {
    "selectivity": ("skewness", np.mean),            # docs/science.md, section 4
    "selectivity_median": ("skewness", np.median),
    "lifetime_sparseness": ("lifetime_sparseness", np.mean),
    "kurtosis": ("kurtosis", np.mean),
}
EXCLUDING_NEAR_SILENT = "_excl_near_silent"  # column suffix: near-silent neurons left out
# Density of a cell type: table column -> +1 where larger means denser, -1 where sparser.
DENSITY = {"density": 1, "density_pathway": 1, "gini": -1}
INTERVAL = ("", "_ci_low", "_ci_high")
# What a population does (`ei_zoo.analysis.perturbation`), from the export's own tables where it
# has them: accuracy lost when its rates are clamped to zero or to their means, whether
# it is functional, and its neurons' class tuning (means over the neurons that vary).
FUNCTION_COLUMNS = ("accuracy_drop_zero", "accuracy_drop_mean", "functional",
                    "class_variance_fraction", "class_selectivity_index",
                    "preferred_class_share")
TABLE_COLUMNS = (
    "model", "variant", "seed", "n_images", "area", "cell_type", "sign", "excitatory",
    "n_neurons", "n_silent", "n_near_silent",
    *(f"{measure}{excluded}{part}" for measure in SELECTIVITY
      for excluded in ("", EXCLUDING_NEAR_SILENT) for part in INTERVAL),
    "density", "density_pathway", "gini", "top10_share", "threshold", "threshold_source",
    *FUNCTION_COLUMNS,
)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One way to measure what the claims compare; the defaults are docs/science.md, section 4's.

    `response` None means the (step, position) that `measure` was asked for.
    """

    selectivity: str = "selectivity"
    exclude_near_silent: bool = False
    density: str = "density"
    response: tuple[str, str] | None = None
    # Judge only functional populations: one whose mean clamp costs at most
    # FUNCTIONAL_DROP is shown and not counted, like a silent one.
    functional_only: bool = False

    def __post_init__(self):
        if self.selectivity not in SELECTIVITY or self.density not in DENSITY:
            raise ValueError(f"selectivity must be one of {tuple(SELECTIVITY)} and density one "
                             f"of {tuple(DENSITY)}; got {self.selectivity!r}, {self.density!r}.")
        if self.response is not None:
            check_options(*self.response)

    @property
    def selectivity_column(self) -> str:
        return self.selectivity + (EXCLUDING_NEAR_SILENT if self.exclude_near_silent else "")

    @property
    def changes(self) -> set[str]:
        """What this choice changes from the default measures (docs/science.md,
        section 4): 'selectivity' (the measure, near-silent neurons or the response)
        and/or 'density'."""
        selectivity = (self.selectivity, self.exclude_near_silent, self.response)
        if self.functional_only:
            return {"selectivity", "density"}
        return ({"selectivity"} if selectivity != ("selectivity", False, None) else set()) | (
            {"density"} if self.density != "density" else set())


DEFAULT = Choice()


@dataclasses.dataclass
class Measurements:
    """What one network's analysis needs: streamed response moments and the effective weights."""

    model: str
    variant: str
    seed: int | None
    dale: str
    signs: dict            # cell type -> +1, -1 or None (free)
    moments: dict          # (step, position) -> {(area, cell type): RunningMoments}
    weights: dict          # pathway key -> effective signed kernel
    num_images: int
    step: str              # the response option asked for; `moments` holds every option
    position: str
    test_accuracy: float | None = None
    perturbation: pd.DataFrame | None = None   # the export's perturbation.csv, if it has one
    tuning: pd.DataFrame | None = None         # the export's class_tuning.csv, if it has one
    drive: pd.DataFrame | None = None          # the export's drive.csv, if it has one
    _weight_measures: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def excitatory(self, cell_type: str) -> bool:
        """E or I by sign (docs/science.md, section 4); in `no_dale` the formerly excitatory PN
        count as E."""
        sign = self.signs[cell_type]
        return cell_type == "PN" if sign is None else sign > 0

    def counted(self, area: str, cell_types, choice: Choice) -> list[str]:
        """`cell_types` that `choice` counts in `area`: all of them, or under
        `functional_only` those not measured to be non-functional."""
        return [cell_type for cell_type in cell_types if not choice.functional_only
                or self.function_measures(area, cell_type)["functional"] != "no"]

    def function_measures(self, area: str, cell_type: str) -> dict:
        """`FUNCTION_COLUMNS` of one population (NaN and `NOT_MEASURED` without the tables)."""
        values = dict.fromkeys(FUNCTION_COLUMNS, np.nan)
        values["functional"] = NOT_MEASURED
        if self.perturbation is not None:
            rows = self.perturbation[(self.perturbation["area"] == area)
                                     & (self.perturbation["cell_type"] == cell_type)
                                     & (self.perturbation["class"] == "all")]
            drops = dict(zip(rows["clamp"], rows["accuracy_drop"]))
            values["accuracy_drop_zero"] = drops["zero"]
            values["accuracy_drop_mean"] = drops["mean"]
            values["functional"] = functional(drops["mean"])
        if self.tuning is not None:
            neurons = self.tuning[(self.tuning["area"] == area)
                                  & (self.tuning["cell_type"] == cell_type)
                                  & (self.tuning["preferred_class"] >= 0)]
            if len(neurons):
                values["class_variance_fraction"] = neurons["class_variance_fraction"].mean()
                values["class_selectivity_index"] = neurons["class_selectivity_index"].mean()
                values["preferred_class_share"] = (
                    neurons["preferred_class"].value_counts().iloc[0] / len(neurons))
        return values

    def population(self, area: str, cell_type: str, response=None) -> RunningMoments:
        return self.moments[response or (self.step, self.position)][(area, cell_type)]

    @property
    def skewness(self) -> dict:
        """(area, cell type) -> per-neuron skewness at the asked-for response (NaN: silent)."""
        return {key: moments.skewness()
                for key, moments in self.moments[(self.step, self.position)].items()}

    def neurons(self, statistic: str, area: str, cell_types, response=None,
                exclude_near_silent=False) -> np.ndarray:
        """Per-neuron `statistic` of `cell_types` pooled, silent (and near-silent) left out."""
        values = []
        for cell_type in cell_types:
            moments = self.population(area, cell_type, response)
            per_neuron = getattr(moments, statistic)()
            keep = np.isfinite(per_neuron)
            if exclude_near_silent:
                keep &= ~moments.near_silent
            values.append(per_neuron[keep])
        return np.concatenate(values) if values else np.array([])

    def weight_measures(self, area: str, cell_types, thresholds: dict) -> dict:
        """Density measures of the pooled outgoing weights of `cell_types`, computed once."""
        key = (area, tuple(cell_types), json.dumps(thresholds, sort_keys=True))
        if key not in self._weight_measures:
            self._weight_measures[key] = weight_measures(self.weights, area, cell_types,
                                                         thresholds)
        return self._weight_measures[key]


def check_num_images(num_images) -> None:
    """Refuse a number of test images the test split cannot give, before any work."""
    if (isinstance(num_images, bool) or not isinstance(num_images, int)
            or not 1 <= num_images <= CIFAR10_TEST_IMAGES):
        raise ValueError(f"num_images={num_images!r} must be an integer from 1 to "
                         f"{CIFAR10_TEST_IMAGES:,} (the CIFAR-10 test images).")


def response_moments(folder: Path, num_images=10_000, batch_size=RESPONSE_BATCH, data_dir=None,
                     progress=None) -> dict:
    """Stream the first `num_images` CIFAR-10 test images (TFDS order) through `activations`.

    Returns {(step, position): {"area3/PN": RunningMoments, ...}} for every response
    option, all from the same activations of each batch, updated together as the
    columns of one RunningMoments (one update per batch); memory stays one batch deep.
    """
    check_num_images(num_images)
    served = tf.saved_model.load(str(folder / SAVED_MODEL))
    images = (data.load_split("test", data_dir).take(num_images).batch(batch_size)
              .map(lambda image, label: tf.cast(image, tf.float32),
                   num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    running, layout = None, None
    for batch in images:
        per_key = {key: all_responses(rates) for key, rates in served.activations(batch).items()}
        if running is None:  # column ranges of every (option, key) in one row of statistics
            widths = [(option, key, per_key[key][option].shape[1])
                      for option in OPTIONS for key in sorted(per_key)]
            stops = np.cumsum([width for _, _, width in widths])
            layout = [(option, key, stop - width, stop)
                      for (option, key, width), stop in zip(widths, stops)]
            running = RunningMoments(int(stops[-1]))
        running.update(np.concatenate([per_key[key][option] for option, key, _, _ in layout],
                                      axis=1))
        if progress is not None:
            progress(len(batch))
    moments = {option: {} for option in OPTIONS}
    for option, key, start, stop in layout:
        moments[option][key] = running.columns(start, stop)
    return moments


def kept_moments(folder: Path, metadata: dict, num_images: int, batch_size: int
                 ) -> dict | None:
    """The response moments the export keeps (`ei-zoo perturb --save`), if they are what
    `response_moments(folder, num_images, batch_size)` would stream: the same images
    and batches, so the same float64 numbers. None otherwise, or if `metadata.json`
    does not list the file (a write that a kill cut short); `ei_zoo.hub.zoo.resolve` has
    checked the sha256 of every file it lists."""
    path = folder / RESPONSE_MOMENTS
    if RESPONSE_MOMENTS not in metadata.get("files", {}) or not path.is_file():
        return None
    with np.load(path) as archive:
        moments, kept_batch_size = moments_from_arrays(archive)
    count = moments[OPTIONS[0]]["area3/PN"].count
    return moments if (count, kept_batch_size) == (num_images, batch_size) else None


def measure(model_id_or_path, num_images=10_000, batch_size=RESPONSE_BATCH, step="last",
            position="mean", data_dir=None, mirror=None, progress=None,
            kept=True) -> Measurements:
    """Per-neuron response statistics (every response option) and the weights of one
    exported network; `step` and `position` pick the option reported by default.

    With `kept`, response moments the export keeps for the same images and batches
    (`kept_moments`) are read instead of streamed again.
    """
    check_options(step, position)
    folder = resolve(model_id_or_path, mirror)
    metadata = read_metadata(folder)
    check_num_images(num_images)
    moments = kept_moments(folder, metadata, num_images, batch_size) if kept else None
    if moments is not None and progress is not None:
        progress(num_images)
    if moments is None:
        moments = response_moments(folder, num_images, batch_size, data_dir, progress)
    with np.load(folder / CONNECTIVITY) as archive:
        weights = {key: archive[key] for key in archive.files}
    signs = {cell_type: metadata["cell_types"]["area3"][cell_type]["sign"]
             for cell_type in CELL_TYPES}
    return Measurements(
        model=metadata["id"], variant=metadata["variant"], seed=metadata.get("seed"),
        dale=metadata["config"]["dale"], signs=signs,
        moments={option: {(area, cell_type): by_key[f"{area}/{cell_type}"]
                          for area in AREAS for cell_type in CELL_TYPES}
                 for option, by_key in moments.items()},
        weights=weights, num_images=moments[OPTIONS[0]]["area3/PN"].count,
        step=step, position=position, test_accuracy=metadata.get("test_accuracy"),
        perturbation=_optional_table(folder / PERTURBATION, {"class": str}),
        tuning=_optional_table(folder / CLASS_TUNING),
        drive=_optional_table(folder / DRIVE),
    )


def _optional_table(path: Path, dtype=None) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype=dtype) if path.is_file() else None


def thresholds_of(weights: dict) -> dict:
    """theta per area and per pathway, calibrated on one network's weights (docs/science.md,
    section 4)."""
    return {**{area: calibrate_threshold(weights, area) for area in AREAS},
            "pathways": {key: pathway_threshold(weights, key)
                         for area in AREAS for key in pathway_keys(area, PATHWAYS)}}


def reference_thresholds(reference=REFERENCE, mirror=None) -> dict:
    """theta per area and per pathway from the reference network's `connectivity.npz`."""
    folder = resolve(reference, mirror)
    with np.load(folder / CONNECTIVITY) as archive:
        return {**thresholds_of({key: archive[key] for key in archive.files}),
                "source": read_metadata(folder)["id"]}


def thresholds_for(measurements: Measurements, reference=None, mirror=None) -> dict:
    """θ of `reference` (an export that cannot be found is an error), or by default of
    `REFERENCE`; where that one cannot be found, the network's own, with a warning
    that its densities then compare with no other network's."""
    if reference is not None:
        check_model_reference(reference, "reference")
        return reference_thresholds(reference, mirror)
    try:
        return reference_thresholds(REFERENCE, mirror)
    except FileNotFoundError:
        warnings.warn(
            f"{REFERENCE}, whose weights set the density threshold, is not available; "
            f"{measurements.model} calibrates its own, so its densities compare with no other "
            f"network's (pass a reference, or download {REFERENCE})", stacklevel=3)
        return {**thresholds_of(measurements.weights), "source": measurements.model}


def write_thresholds(path: Path, thresholds: dict) -> None:
    Path(path).write_text(json.dumps(thresholds, indent=2) + "\n")
