"""The per-cell-type table of exported networks: every measure with its interval, the
E - I and PN - interneuron differences, several networks in one table.

    table = ei_zoo.analysis.analyze("standard-s0")      # one row per (area, cell type)
    table = ei_zoo.analysis.compare(["standard-s0", "inh_pn-s0"])

`summarize` and `differences` read a `Measurements` (`ei_zoo.analysis.measure`);
`analyze` and `compare` measure first.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo.analysis.connectivity import PATHWAYS, connection_density, gini, top_share
from ei_zoo.analysis.measure import (
    DEFAULT,
    DENSITY,
    EXCLUDING_NEAR_SILENT,
    INTERNEURONS,
    INTERVAL,
    RESPONSE_BATCH,
    SELECTIVITY,
    TABLE_COLUMNS,
    Choice,
    Measurements,
    check_batch_size,
    check_num_images,
    measure,
    measured_at,
    stage_suffix,
    thresholds_for,
)
from ei_zoo.analysis.stages import STAGES
from ei_zoo.hub.bundle import check_model_reference
from ei_zoo.network.config import AREAS, CELL_TYPES
from ei_zoo.progress import Progress


def with_interval(values: np.ndarray, statistic=np.mean, seed: int = 0
                  ) -> tuple[float, float, float]:
    """`statistic` of `values` (finite, one per neuron) and its 95% bootstrap interval."""
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    value = float(statistic(values))
    if len(values) == 1 or np.ptp(values) == 0:
        return (value,) * 3
    interval = scipy.stats.bootstrap(
        (values,), statistic, confidence_level=0.95, n_resamples=4999, method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return value, float(interval.low), float(interval.high)


def _aggregate(values: np.ndarray, statistic) -> float:
    return float(statistic(values)) if len(values) else np.nan


def summarize(measurements: Measurements, thresholds: dict, choice: Choice = DEFAULT,
              intervals: bool = True) -> pd.DataFrame:
    """The tidy table: one row per (area, cell type), every selectivity measure (at
    `choice.response`) with and without near-silent neurons, every density measure.

    `intervals=False` leaves the bootstrap intervals out (NaN), for speed where only
    the values are needed.
    """
    response = choice.response
    rows = []
    for area in AREAS:
        for cell_type in CELL_TYPES:
            moments = measurements.population(area, cell_type, response)
            row = {
                "model": measurements.model, "variant": measurements.variant,
                "seed": measurements.seed, "n_images": measurements.num_images,
                "area": area, "cell_type": cell_type, "sign": measurements.signs[cell_type],
                "excitatory": measurements.excitatory(cell_type),
                "n_neurons": len(moments.mean), "n_silent": int(moments.silent.sum()),
                "n_near_silent": int(moments.near_silent.sum()),
            }
            row.update(_selectivities(measurements, area, cell_type, response, intervals))
            row.update(measurements.weight_measures(area, [cell_type], thresholds))
            row.update(threshold=thresholds[area],
                       threshold_source=thresholds.get("source", measurements.model))
            row.update(measurements.function_measures(area, cell_type))
            if not measurements.counted(area, [cell_type], choice):  # shown, not counted
                row.update({column: np.nan for column in row if column.startswith(
                    tuple(SELECTIVITY)) or column in (*DENSITY, "top10_share")})
            rows.append(row)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _selectivities(measurements: Measurements, area: str, cell_type: str, response,
                   intervals: bool) -> dict:
    """Every selectivity column of one population: each measure at each stage, with and
    without near-silent neurons, with its interval (NaN where not measured)."""
    row = {}
    for stage in STAGES:
        for column, (statistic, aggregate) in SELECTIVITY.items():
            for excluded in (False, True):
                values = (measurements.neurons(statistic, area, [cell_type], response,
                                               excluded, stage)
                          if measured_at(column, stage) else np.array([]))
                summary = (with_interval(values, aggregate) if intervals
                           else (_aggregate(values, aggregate), np.nan, np.nan))
                name = (column + stage_suffix(stage)
                        + (EXCLUDING_NEAR_SILENT if excluded else ""))
                row.update({name + part: value for part, value in zip(INTERVAL, summary)})
    return row


def differences(measurements: Measurements, thresholds: dict,
                choice: Choice = DEFAULT) -> pd.DataFrame:
    """E - I and PN - interneuron differences per area (the paper's Figure 3 axes).

    E and I are decided by sign; IG and OG are pooled neuron by neuron (and
    connection by connection). Selectivity and density are `choice`'s; D_den is
    oriented so that negative means E sparser under every density measure
    (for the Gini coefficient, D_den = gini(I) - gini(E)). Under per-pathway θ
    the θ source network's densities are 0.1 by construction, so its D_den is
    NaN (not a measurement).
    """
    statistic, aggregate = SELECTIVITY[choice.selectivity]
    orientation = DENSITY[choice.density]
    excitatory = [c for c in CELL_TYPES if measurements.excitatory(c)]
    inhibitory = [c for c in CELL_TYPES if not measurements.excitatory(c)]
    by_construction = (choice.density == "density_pathway"
                       and measurements.model == thresholds.get("source"))

    def selectivity(area, cell_types):
        cell_types = measurements.counted(area, cell_types, choice)
        return _aggregate(measurements.neurons(statistic, area, cell_types, choice.response,
                                               choice.exclude_near_silent, choice.stage),
                          aggregate)

    def density(area, cell_types):
        cell_types = measurements.counted(area, cell_types, choice)
        if by_construction or not cell_types:
            return np.nan
        measures = measurements.weight_measures(area, cell_types, thresholds)
        return orientation * measures[choice.density]

    rows = []
    for area in AREAS:
        rows.append({
            "model": measurements.model, "area": area,
            "D_sel": selectivity(area, excitatory) - selectivity(area, inhibitory),
            "D_den": density(area, excitatory) - density(area, inhibitory),
            "D_sel_pn": selectivity(area, ["PN"]) - selectivity(area, INTERNEURONS),
            "D_den_pn": density(area, ["PN"]) - density(area, INTERNEURONS),
        })
    return pd.DataFrame(rows)


def analyze(model_id_or_path, num_images=10_000, batch_size=RESPONSE_BATCH, step="last",
            position="mean", thresholds=None, reference=None, data_dir=None,
            mirror=None) -> pd.DataFrame:
    """Selectivity and connection density per (area, cell type) of one exported network.

    `thresholds` ({area: theta, "pathways": {pathway: theta}}) default to the
    `reference` network's (`thresholds_for`), so densities compare across
    networks. Without "pathways", `density_pathway` is NaN.
    """
    check_model_reference(model_id_or_path)
    check_num_images(num_images)
    check_batch_size(batch_size)
    if thresholds is None and reference is not None:  # found before the long work, or refused
        thresholds = thresholds_for(None, reference, mirror)
    measurements = measure(model_id_or_path, num_images, batch_size, step, position,
                           data_dir, mirror,
                           Progress(num_images, label=f"{model_id_or_path}: ").add)
    return summarize(measurements, thresholds or thresholds_for(measurements, None, mirror))


def compare(model_ids, num_images=10_000, thresholds=None, reference=None, **options):
    """`analyze` of several networks in one table, with their E - I and PN - interneuron
    differences (`D_sel`, `D_den`, `D_sel_pn`, `D_den_pn`) on every row of each area."""
    if isinstance(model_ids, (str, Path)) or not isinstance(model_ids, (list, tuple)) \
            or not model_ids:
        raise ValueError(
            f"compare takes a non-empty list of model ids, e.g. compare(['standard-s0', "
            f"'inh_pn-s0']), got {model_ids!r}.")
    for model in model_ids:
        check_model_reference(model)
    repeated = sorted(model for model, count in Counter(map(str, model_ids)).items()
                      if count > 1)
    if repeated:
        raise ValueError(f"compare names {', '.join(repeated)} more than once; name each "
                         "network once (its rows would count twice).")
    check_num_images(num_images)
    if thresholds is None and reference is not None:  # found before the long work, or refused
        thresholds = thresholds_for(None, reference, options.get("mirror"))
    progress = Progress(len(model_ids) * num_images)
    all_measurements = [measure(model, num_images, progress=progress.add, **options)
                        for model in model_ids]
    if thresholds is None:
        thresholds = thresholds_for(all_measurements[0], reference, options.get("mirror"))
    return combine(all_measurements, thresholds)


def combine(all_measurements, thresholds: dict, choice: Choice = DEFAULT,
            intervals: bool = True) -> pd.DataFrame:
    """`summarize` of every network with its differences under `choice`, in one table."""
    table = pd.concat([summarize(m, thresholds, choice, intervals) for m in all_measurements],
                      ignore_index=True)
    diffs = pd.concat([differences(m, thresholds, choice) for m in all_measurements],
                      ignore_index=True)
    return table.merge(diffs, on=["model", "area"], how="left")


def pathway_table(all_measurements, thresholds: dict) -> pd.DataFrame:
    """One row per network and pathway (PN->g, ..., OG->o): every density measure."""
    rows = []
    for measurements in all_measurements:
        for area in AREAS:
            for cell_type, pathways in PATHWAYS.items():
                for pathway in pathways:
                    key = f"{area}/{pathway}"
                    magnitudes = np.abs(measurements.weights[key]).ravel()
                    own = thresholds.get("pathways", {}).get(key, np.nan)
                    rows.append({
                        "model": measurements.model, "variant": measurements.variant,
                        "seed": measurements.seed, "area": area, "cell_type": cell_type,
                        "pathway": pathway, "n_connections": magnitudes.size,
                        "density": connection_density(magnitudes, thresholds[area]),
                        "threshold": thresholds[area],
                        "density_pathway": (connection_density(magnitudes, own)
                                            if np.isfinite(own) else np.nan),
                        "threshold_pathway": own,
                        "gini": gini(magnitudes), "top10_share": top_share(magnitudes),
                    })
    return pd.DataFrame(rows)
