"""`perturb` and `drive`: what each population of an exported network does for the task.

The in-silico perturbations and class tuning of `ei_zoo.analysis.perturbation`, measured
on the first N CIFAR-10 test images from an export's `.keras` model (the
SavedModel's traced graph has no place to clamp a population). Reading is all
it does: `ei-zoo perturb ID --save` hands the tables to `ei_zoo.hub.export`, which
keeps them in the export, where `ei-zoo reproduce` reads them (17 networks x
14 passes over 10,000 images would take 20 minutes here, every time).
"""

from __future__ import annotations

import contextlib
import logging

import pandas as pd

from ei_zoo import data
from ei_zoo.analysis.measure import check_num_images
from ei_zoo.analysis.perturbation import drive_table, functional, passes, perturbation_tables
from ei_zoo.hub.bundle import check_model_reference, read_metadata
from ei_zoo.hub.zoo import load, resolve
from ei_zoo.network.models import multiply_accumulates
from ei_zoo.progress import Progress


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
    """One row per (area, cell type): the accuracy each clamp costs, in points (percentage
    points of test accuracy), whether the population is functional (its mean clamp
    costs more than `FUNCTIONAL_DROP`), and its neurons' mean class tuning."""
    overall = perturbation[(perturbation["class"] == "all")
                           & (perturbation["clamp"] != "none")]
    drops = overall.pivot_table(index=["area", "cell_type"], columns="clamp",
                                values="accuracy_drop", sort=False)
    varying = tuning[tuning["preferred_class"] >= 0]
    tuned = varying.groupby(["area", "cell_type"], sort=False)[
        ["class_variance_fraction", "class_selectivity_index"]].mean()
    summary = (100 * drops).rename(columns=lambda clamp: f"points_lost_{clamp}")
    summary["functional"] = drops["mean"].map(functional)
    return summary.join(tuned).reset_index()
