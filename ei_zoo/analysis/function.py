"""`perturb` and `drive`: what each population of an exported network does for the task.

The in-silico perturbations and class tuning of `ei_zoo.analysis.perturbation`, measured
on the first N CIFAR-10 test images from an export's `.keras` model (the
SavedModel's traced graph has no place to clamp a population). Reading is all
it does: `ei-zoo perturb ID --save` hands the tables to `ei_zoo.hub.export`, which
keeps them in the export, where `ei-zoo reproduce` reads them (a network's 20 passes
over 10,000 images take minutes on a CPU; `reproduce` reads every export's).
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo import data
from ei_zoo.analysis.measure import check_num_images
from ei_zoo.analysis.perturbation import (
    CLAMPS,
    FUNCTION_MEASURES,
    FUNCTIONAL_CLAMP,
    drive_table,
    function_of,
    functional,
    passes,
    perturbation_tables,
)
from ei_zoo.hub.bundle import check_model_reference, read_metadata
from ei_zoo.hub.zoo import load, resolve
from ei_zoo.network.models import multiply_accumulates
from ei_zoo.progress import Progress

# `function_over_seeds`' table.
FUNCTION_OVER_SEEDS_COLUMNS = (
    "variant", "area", "cell_type", "networks",
    *(f"points_lost_{clamp}{part}" for clamp in CLAMPS for part in ("", "_sd")),
    f"points_lost_{FUNCTIONAL_CLAMP}_ci_low", f"points_lost_{FUNCTIONAL_CLAMP}_ci_high",
    "functional", "per_network")


def perturb(model_id_or_path, num_images=10_000, batch_size=500, data_dir=None, mirror=None,
            verbose=True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(perturbation, class tuning) of one exported network (`ei_zoo.analysis.perturbation`)."""
    check_model_reference(model_id_or_path)
    check_num_images(num_images)
    folder = resolve(model_id_or_path, mirror)
    images, labels = data.test_images(num_images, data_dir)
    model = load(folder)
    progress = Progress(passes(), unit="pass", label=f"{folder.name}: ") if verbose else None
    # Each clamp traces `predict` anew, by design; TensorFlow would warn of retracing.
    with _quiet_logger("tensorflow"):
        return perturbation_tables(model, images, labels, read_metadata(folder)["id"],
                                   batch_size, progress.add if progress else None)


def drive(model_id_or_path, num_images=10_000, batch_size=500, data_dir=None,
          mirror=None) -> pd.DataFrame:
    """Drive shares of one exported network (`ei_zoo.analysis.perturbation.drive_table`), with
    a `model` column first, on the first `num_images` CIFAR-10 test images."""
    check_model_reference(model_id_or_path)
    check_num_images(num_images)
    folder = resolve(model_id_or_path, mirror)
    images, _ = data.test_images(num_images, data_dir)
    table = drive_table(load(folder), images, batch_size)
    table.insert(0, "model", read_metadata(folder)["id"])
    return table


def perturbation_cost(folder, num_images=10_000) -> int:
    """Estimated work of `perturb` and `drive` on one export folder: the multiply-accumulates
    of its network's forward pass on one image x `num_images` x the passes they make;
    what `ei-zoo perturb --zoo --shard` balances its shards by."""
    return multiply_accumulates(read_metadata(folder)["config"]) * num_images * (passes() + 1)


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def population_summary(perturbation: pd.DataFrame, tuning: pd.DataFrame) -> pd.DataFrame:
    """One row per (area, cell type) of one network: the accuracy each clamp costs, in
    points (percentage points of test accuracy), the paired 95% interval of the per-step
    mean clamp's, the functional label (`ei_zoo.analysis.perturbation.functional`), and its
    neurons' mean class tuning."""
    function = pd.DataFrame.from_dict(function_of(perturbation), orient="index",
                                      columns=list(FUNCTION_MEASURES))
    function.index = pd.MultiIndex.from_tuples(function.index, names=["area", "cell_type"])
    drops = [column for column in FUNCTION_MEASURES if column.startswith("accuracy_drop")]
    summary = (100 * function[drops]).rename(
        columns=lambda column: column.replace("accuracy_drop", "points_lost"))
    summary["functional"] = function["functional"]
    varying = tuning[tuning["preferred_class"] >= 0]
    tuned = varying.groupby(["area", "cell_type"], sort=False)[
        ["class_variance_fraction", "class_selectivity_index"]].mean()
    return summary.join(tuned).reset_index()


def function_over_seeds(perturbation: pd.DataFrame, variant_of: dict) -> pd.DataFrame:
    """What each population of each variant does, over the variant's networks (seeds).

    Per (variant, area, cell type): the mean and SD over networks of the points each clamp
    costs; for the per-step mean clamp a 95% interval of that mean (Student's t over the
    networks; one network: its own paired bootstrap interval over images) and the
    functional label the interval gives (`ei_zoo.analysis.perturbation.functional`); and
    each network's own label, in the order of `perturbation`.

    Args:
        perturbation: `PERTURBATION_COLUMNS` rows of any number of networks.
        variant_of: model id -> variant; networks it does not name are left out.

    Returns:
        One row per (variant, area, cell type), `FUNCTION_OVER_SEEDS_COLUMNS`.
    """
    rows = []
    networks = {}
    for model, table in perturbation.groupby("model", sort=False):
        if model in variant_of:
            networks.setdefault(variant_of[model], []).append(function_of(table))
    for variant, functions in networks.items():
        for (area, cell_type) in functions[0]:
            values = pd.DataFrame([function[(area, cell_type)] for function in functions])
            drops = 100 * values[[f"accuracy_drop_{clamp}" for clamp in CLAMPS]]
            step_mean = drops[f"accuracy_drop_{FUNCTIONAL_CLAMP}"]
            if len(values) > 1:
                half = (scipy.stats.t.ppf(0.975, len(values) - 1) * step_mean.std()
                        / np.sqrt(len(values)))
                low, high = step_mean.mean() - half, step_mean.mean() + half
            else:
                low, high = 100 * values[[f"accuracy_drop_{FUNCTIONAL_CLAMP}_ci_low",
                                          f"accuracy_drop_{FUNCTIONAL_CLAMP}_ci_high"]].iloc[0]
            row = {"variant": variant, "area": area, "cell_type": cell_type,
                   "networks": len(values)}
            for clamp in CLAMPS:
                column = drops[f"accuracy_drop_{clamp}"]
                row[f"points_lost_{clamp}"] = column.mean()
                row[f"points_lost_{clamp}_sd"] = column.std() if len(values) > 1 else np.nan
            row.update({f"points_lost_{FUNCTIONAL_CLAMP}_ci_low": low,
                        f"points_lost_{FUNCTIONAL_CLAMP}_ci_high": high,
                        "functional": functional(low / 100, high / 100),
                        "per_network": ", ".join(values["functional"])})
            rows.append(row)
    return pd.DataFrame(rows, columns=FUNCTION_OVER_SEEDS_COLUMNS)
