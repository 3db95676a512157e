"""Measure exported networks: selectivity and connection density per cell type.

Works from an export folder alone (SPEC section 6): responses come from the
SavedModel's `activations` endpoint, weights from `connectivity.npz`, facts
from `metadata.json`. No Keras model object and no ei_zoo layer is used, so a
downloaded model is measured the same way as one trained here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
import tensorflow as tf

from ei_zoo import data
from ei_zoo.analysis.connectivity import (
    calibrate_threshold,
    connection_density,
    outgoing,
    top_share,
)
from ei_zoo.bundle import read_metadata
from ei_zoo.responses import RunningMoments, check_options, responses

AREAS = ("area3", "area4")
CELL_TYPES = ("PN", "IG", "OG")
INTERNEURONS = ("IG", "OG")
REFERENCE = "standard-s0"
TABLE_COLUMNS = (
    "model", "variant", "seed", "area", "cell_type", "sign", "excitatory", "n_neurons",
    "n_silent", "selectivity", "selectivity_ci_low", "selectivity_ci_high", "density",
    "threshold", "threshold_source", "top10_share",
)


@dataclasses.dataclass
class Measurements:
    """What one network's analysis needs: per-neuron skewness and the effective weights."""

    model: str
    variant: str
    seed: int | None
    dale: str
    signs: dict            # cell type -> +1, -1 or None (free)
    skewness: dict         # (area, cell type) -> [channels] (NaN: silent neuron)
    weights: dict          # pathway key -> effective signed kernel
    num_images: int
    step: str
    position: str
    test_accuracy: float | None = None

    def excitatory(self, cell_type: str) -> bool:
        """E or I by sign (SPEC section 4); in `no_dale` the formerly excitatory PN count as E."""
        sign = self.signs[cell_type]
        return cell_type == "PN" if sign is None else sign > 0


def resolve_export(model_id_or_path, mirror=None) -> Path:
    """The export folder of a model id or path (exported/, the cache, then the mirror)."""
    from ei_zoo.zoo import resolve

    return resolve(model_id_or_path, mirror=mirror)


def response_moments(folder: Path, num_images=10_000, batch_size=250, step="last",
                     position="mean", data_dir=None, progress=None) -> dict:
    """Stream the first `num_images` CIFAR-10 test images (TFDS order) through `activations`.

    Returns {"area3/PN": RunningMoments, ...}; memory stays one batch deep.
    """
    check_options(step, position)
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images={num_images!r} must be a positive integer.")
    served = tf.saved_model.load(str(folder / "saved_model"))
    images = (data.load_split("test", data_dir).take(num_images).batch(batch_size)
              .map(lambda image, label: tf.cast(image, tf.float32),
                   num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    moments = {}
    for batch in images:
        for key, rates in served.activations(batch).items():
            batch_responses = responses(rates, step, position)
            moments.setdefault(key, RunningMoments(batch_responses.shape[1])).update(
                batch_responses)
        if progress is not None:
            progress(len(batch))
    return moments


def measure(model_id_or_path, num_images=10_000, batch_size=250, step="last", position="mean",
            data_dir=None, mirror=None, progress=None) -> Measurements:
    """Per-neuron selectivity and the weights of one exported network."""
    folder = resolve_export(model_id_or_path, mirror)
    metadata = read_metadata(folder)
    moments = response_moments(folder, num_images, batch_size, step, position, data_dir,
                               progress)
    with np.load(folder / "connectivity.npz") as archive:
        weights = {key: archive[key] for key in archive.files}
    signs = {cell_type: metadata["cell_types"]["area3"][cell_type]["sign"]
             for cell_type in CELL_TYPES}
    return Measurements(
        model=metadata["id"], variant=metadata["variant"], seed=metadata.get("seed"),
        dale=metadata["config"]["dale"], signs=signs,
        skewness={(area, cell_type): moments[f"{area}/{cell_type}"].skewness()
                  for area in AREAS for cell_type in CELL_TYPES},
        weights=weights, num_images=moments["area3/PN"].count,
        step=step, position=position, test_accuracy=metadata.get("test_accuracy"),
    )


def thresholds_of(weights: dict) -> dict:
    """theta per area, calibrated on one network's weights (SPEC section 4)."""
    return {area: calibrate_threshold(weights, area) for area in AREAS}


def reference_thresholds(reference=REFERENCE, mirror=None) -> dict:
    """theta per area from the reference network's `connectivity.npz`."""
    folder = resolve_export(reference, mirror)
    with np.load(folder / "connectivity.npz") as archive:
        return {**thresholds_of({key: archive[key] for key in archive.files}),
                "source": read_metadata(folder)["id"]}


def mean_selectivity(skewness: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean skewness over non-silent neurons and its 95% bootstrap interval."""
    values = skewness[np.isfinite(skewness)]
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    if len(values) == 1 or np.ptp(values) == 0:
        return (float(values.mean()),) * 3
    interval = scipy.stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, n_resamples=4999, method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return float(values.mean()), float(interval.low), float(interval.high)


def summarize(measurements: Measurements, thresholds: dict) -> pd.DataFrame:
    """The tidy table: one row per (area, cell type)."""
    rows = []
    for area in AREAS:
        for cell_type in CELL_TYPES:
            skewness = measurements.skewness[(area, cell_type)]
            selectivity, low, high = mean_selectivity(skewness)
            magnitudes = outgoing(measurements.weights, area, [cell_type])
            rows.append({
                "model": measurements.model, "variant": measurements.variant,
                "seed": measurements.seed, "area": area, "cell_type": cell_type,
                "sign": measurements.signs[cell_type],
                "excitatory": measurements.excitatory(cell_type),
                "n_neurons": len(skewness), "n_silent": int(np.isnan(skewness).sum()),
                "selectivity": selectivity, "selectivity_ci_low": low,
                "selectivity_ci_high": high,
                "density": connection_density(magnitudes, thresholds[area]),
                "threshold": thresholds[area],
                "threshold_source": thresholds.get("source", measurements.model),
                "top10_share": top_share(magnitudes),
            })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _pooled(measurements: Measurements, area: str, cell_types, thresholds: dict):
    """Selectivity and density of several cell types pooled neuron by neuron."""
    skewness = np.concatenate([measurements.skewness[(area, c)] for c in cell_types])
    values = skewness[np.isfinite(skewness)]
    selectivity = float(values.mean()) if len(values) else np.nan
    density = connection_density(outgoing(measurements.weights, area, cell_types),
                                 thresholds[area])
    return selectivity, density


def differences(measurements: Measurements, thresholds: dict) -> pd.DataFrame:
    """E - I and PN - interneuron differences per area (the paper's Figure 3 axes).

    E and I are decided by sign; IG and OG are pooled neuron by neuron.
    """
    excitatory = [c for c in CELL_TYPES if measurements.excitatory(c)]
    inhibitory = [c for c in CELL_TYPES if not measurements.excitatory(c)]
    rows = []
    for area in AREAS:
        e_sel, e_den = _pooled(measurements, area, excitatory, thresholds)
        i_sel, i_den = _pooled(measurements, area, inhibitory, thresholds)
        pn_sel, pn_den = _pooled(measurements, area, ["PN"], thresholds)
        in_sel, in_den = _pooled(measurements, area, INTERNEURONS, thresholds)
        rows.append({
            "model": measurements.model, "area": area,
            "D_sel": e_sel - i_sel, "D_den": e_den - i_den,
            "D_sel_pn": pn_sel - in_sel, "D_den_pn": pn_den - in_den,
        })
    return pd.DataFrame(rows)


def analyze(model_id_or_path, num_images=10_000, batch_size=250, step="last",
            position="mean", thresholds=None, reference=REFERENCE, data_dir=None,
            mirror=None) -> pd.DataFrame:
    """Selectivity and connection density per (area, cell type) of one exported network.

    `thresholds` ({area: theta}) default to the reference network's
    (`standard-s0`), so densities compare across networks; where the reference
    cannot be found, the network calibrates its own and `threshold_source` says so.
    """
    measurements = measure(model_id_or_path, num_images, batch_size, step, position,
                           data_dir, mirror)
    return summarize(measurements, thresholds or thresholds_for(measurements, reference,
                                                                 mirror))


def thresholds_for(measurements: Measurements, reference=REFERENCE, mirror=None) -> dict:
    """The reference network's θ, or where it cannot be found, the network's own."""
    try:
        return reference_thresholds(reference, mirror)
    except FileNotFoundError:
        return {**thresholds_of(measurements.weights), "source": measurements.model}


def compare(model_ids, num_images=10_000, thresholds=None, reference=REFERENCE, **options):
    """`analyze` of several networks in one table, with their E - I and PN - interneuron
    differences (`D_sel`, `D_den`, `D_sel_pn`, `D_den_pn`) on every row of each area."""
    all_measurements = [measure(model, num_images, **options) for model in model_ids]
    if thresholds is None:
        thresholds = thresholds_for(all_measurements[0], reference, options.get("mirror"))
    return combine(all_measurements, thresholds)


def combine(all_measurements, thresholds: dict) -> pd.DataFrame:
    table = pd.concat([summarize(m, thresholds) for m in all_measurements], ignore_index=True)
    diffs = pd.concat([differences(m, thresholds) for m in all_measurements], ignore_index=True)
    return table.merge(diffs, on=["model", "area"], how="left")


def write_thresholds(path: Path, thresholds: dict) -> None:
    Path(path).write_text(json.dumps(thresholds, indent=2) + "\n")
