"""Measure exported networks: selectivity and connection density per cell type.

Works from an export folder alone (docs/science.md, section 6): responses come from the
SavedModel's `activations` endpoint, weights from `connectivity.npz`, facts
from `metadata.json`. No Keras model object and no ei_zoo layer is used, so a
downloaded model is measured the same way as one trained here.
"""

from __future__ import annotations

import dataclasses
import functools
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
from ei_zoo.analysis.perturbation import (
    FUNCTION_MEASURES,
    NOT_FUNCTIONAL,
    NOT_MEASURED,
    function_of,
    kept_perturbation,
)
from ei_zoo.analysis.stages import STAGES, stage_moments, stage_population
from ei_zoo.hub.bundle import (
    CLASS_TUNING,
    CONNECTIVITY,
    DRIVE,
    RESPONSE_MOMENTS,
    SAVED_MODEL,
    STAGE_MOMENTS,
    check_model_reference,
    read_metadata,
)
from ei_zoo.hub.measured import measured_table, read_measured
from ei_zoo.hub.zoo import resolve
from ei_zoo.network.config import AREAS, CELL_TYPES, CIFAR10_TEST_IMAGES
from ei_zoo.network.responses import (
    OPTIONS,
    RunningMoments,
    check_options,
    moments_from_arrays,
    stream_moments,
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
# Lifetime sparseness assumes non-negative responses; a drive is signed.
SIGNED_STAGES = ("drive",)


def stage_suffix(stage: str) -> str:
    """A stage's column suffix: none for the rate, `_state`, `_drive`."""
    return "" if stage == "rate" else f"_{stage}"


def measured_at(measure: str, stage: str) -> bool:
    """Whether `measure` (a SELECTIVITY column) is defined at `stage`."""
    return not (stage in SIGNED_STAGES and SELECTIVITY[measure][0] == "lifetime_sparseness")
# What a population does (`ei_zoo.analysis.perturbation`), from the export's own tables where it
# has them: accuracy lost under each clamp, the per-step mean clamp's interval, whether it
# is functional, and its neurons' class tuning (means over the neurons that vary).
FUNCTION_COLUMNS = (*FUNCTION_MEASURES, "class_variance_fraction", "class_selectivity_index",
                    "preferred_class_share")
TABLE_COLUMNS = (
    "model", "variant", "seed", "n_images", "area", "cell_type", "sign", "excitatory",
    "n_neurons", "n_silent", "n_near_silent",
    *(f"{measure}{stage_suffix(stage)}{excluded}{part}" for stage in STAGES
      for measure in SELECTIVITY for excluded in ("", EXCLUDING_NEAR_SILENT)
      for part in INTERVAL),
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
    # Judge only functional populations: one measured `not functional` (its per-step mean
    # clamp costs less than FUNCTIONAL_DROP) is shown and not counted, like a silent one.
    functional_only: bool = False
    # Where selectivity is read (`ei_zoo.analysis.stages`): the rate, the state or the drive.
    stage: str = "rate"

    def __post_init__(self):
        if self.selectivity not in SELECTIVITY or self.density not in DENSITY:
            raise ValueError(f"selectivity must be one of {tuple(SELECTIVITY)} and density one "
                             f"of {tuple(DENSITY)}; got {self.selectivity!r}, {self.density!r}.")
        if self.stage not in STAGES or not measured_at(self.selectivity, self.stage):
            raise ValueError(f"stage must be one of {STAGES} (lifetime sparseness not at "
                             f"{', '.join(SIGNED_STAGES)}); got {self.stage!r} with "
                             f"{self.selectivity!r}.")
        if self.response is not None:
            check_options(*self.response)

    @property
    def selectivity_column(self) -> str:
        return (self.selectivity + stage_suffix(self.stage)
                + (EXCLUDING_NEAR_SILENT if self.exclude_near_silent else ""))

    @property
    def changes(self) -> set[str]:
        """What this choice changes from the default measures (docs/science.md,
        section 4): 'selectivity' (the measure, near-silent neurons or the response)
        and/or 'density'."""
        selectivity = (self.selectivity, self.exclude_near_silent, self.response, self.stage)
        if self.functional_only:
            return {"selectivity", "density"}
        return ({"selectivity"} if selectivity != ("selectivity", False, None, "rate")
                else set()) | (
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
    # (step, position) -> {stage key: RunningMoments} (`ei_zoo.analysis.stages`), if measured
    stages: dict | None = None
    _weight_measures: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def excitatory(self, cell_type: str) -> bool:
        """E or I by sign (docs/science.md, section 4); in `no_dale` the formerly excitatory PN
        count as E."""
        sign = self.signs[cell_type]
        return cell_type == "PN" if sign is None else sign > 0

    def counted(self, area: str, cell_types, choice: Choice) -> list[str]:
        """`cell_types` that `choice` counts in `area`: all of them, or under
        `functional_only` those not measured to be not functional."""
        return [cell_type for cell_type in cell_types if not choice.functional_only
                or self.function_measures(area, cell_type)["functional"] != NOT_FUNCTIONAL]

    def function_measures(self, area: str, cell_type: str) -> dict:
        """`FUNCTION_COLUMNS` of one population (NaN and `NOT_MEASURED` without the tables)."""
        values = dict.fromkeys(FUNCTION_COLUMNS, np.nan)
        values["functional"] = NOT_MEASURED
        if self.perturbation is not None:
            values.update(self._function[(area, cell_type)])
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

    @functools.cached_property
    def _function(self) -> dict:
        """`function_of` the kept perturbation table, computed once."""
        return function_of(self.perturbation)

    def population(self, area: str, cell_type: str, response=None,
                   stage: str = "rate") -> RunningMoments | None:
        """One population's moments at `response` and `stage` (None: stage not measured)."""
        return stage_population(self.stages, self.moments, stage,
                                response or (self.step, self.position), area, cell_type)

    @property
    def skewness(self) -> dict:
        """(area, cell type) -> per-neuron skewness at the asked-for response (NaN: silent)."""
        return {key: moments.skewness()
                for key, moments in self.moments[(self.step, self.position)].items()}

    def neurons(self, statistic: str, area: str, cell_types, response=None,
                exclude_near_silent=False, stage: str = "rate") -> np.ndarray:
        """Per-neuron `statistic` of `cell_types` pooled, silent (and near-silent) left out;
        empty where `stage` was not measured."""
        values = []
        for cell_type in cell_types:
            moments = self.population(area, cell_type, response, stage)
            if moments is None:
                return np.array([])
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


def check_batch_size(batch_size) -> None:
    """Refuse a batch size that is not a positive integer, before any work."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer (images per "
                         "batch), e.g. 250.")


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
    batches = (served.activations(batch) for batch in images)
    return stream_moments(batches, progress)


def kept_moments(kept: dict[str, Path], num_images: int, batch_size: int,
                 name: str = RESPONSE_MOMENTS) -> dict | None:
    """The moments an export keeps in `name` (`ei-zoo perturb --save`: the rates'
    `RESPONSE_MOMENTS`, the stages' `STAGE_MOMENTS`), from `kept`, what
    `ei_zoo.hub.measured.read_measured` verified, if they are what streaming `num_images`
    in batches of `batch_size` would give: the same images and batches, so the same
    float64 numbers. None otherwise."""
    path = kept.get(name)
    if path is None:
        return None
    with np.load(path) as archive:
        moments, kept_batch_size = moments_from_arrays(archive)
    count = next(iter(moments[OPTIONS[0]].values())).count
    return moments if (count, kept_batch_size) == (num_images, batch_size) else None


def measure(model_id_or_path, num_images=10_000, batch_size=RESPONSE_BATCH, step="last",
            position="mean", data_dir=None, mirror=None, progress=None,
            kept=True, stages=True) -> Measurements:
    """Per-neuron response statistics (every response option) and the weights of one
    exported network; `step` and `position` pick the option reported by default.

    With `kept`, response moments the export keeps for the same images and batches
    (`kept_moments`) are read instead of streamed again. With `stages`, the state and
    drive moments too (`ei_zoo.analysis.stages`; streamed through the `.keras` model
    where the export does not keep them); without, their columns are NaN.
    """
    check_options(step, position)
    check_batch_size(batch_size)
    folder = resolve(model_id_or_path, mirror)
    metadata = read_metadata(folder)
    check_num_images(num_images)
    measured = read_measured(folder)  # verified once, read below
    moments = kept_moments(measured, num_images, batch_size) if kept else None
    if moments is not None and progress is not None:
        progress(num_images)
    if moments is None:
        moments = response_moments(folder, num_images, batch_size, data_dir, progress)
    at_stages = None
    if stages:
        at_stages = (kept_moments(measured, num_images, batch_size, STAGE_MOMENTS)
                     if kept else None)
        if at_stages is None:
            at_stages = stage_moments(folder, num_images, batch_size, data_dir)
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
        perturbation=kept_perturbation(measured, metadata["id"]),
        tuning=measured_table(measured, CLASS_TUNING),
        drive=measured_table(measured, DRIVE),
        stages=at_stages,
    )


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
