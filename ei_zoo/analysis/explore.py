"""The neuron explorer: a static site that shows what every neuron of an export does.

`explore(model, out)` writes `out/index.html` (the network: its populations,
their summaries, their figure and its learning curve or a line saying it was
not recorded), its model card as HTML, and one page per area and cell type,
where every neuron is a card: the test images that drive it most with their
responses, the histogram of its responses (counts on a log axis), its mean
response to each class, and its selectivity and class tuning measures; the
cards sort by each measure. Where the export keeps them
(`ei-zoo perturb --save`), a population's page shows what clamping it costs
and what share of each target's drive it carries. `explore_zoo(exported, out)`
adds an overview of every export, linking to each network's pages.

A site opens from `file://`: no server, no internet; its data are in the
pages themselves (a page from `file://` may not fetch a JSON file beside it).
Everything comes from one streamed pass over the test images through the
SavedModel's `activations`: per neuron, its response to each image (one
number; the [steps, height, width] rates behind it are dropped batch by batch)
and its top-k images with their pixels, merged batch by batch, so memory holds
k images per neuron, never the whole test set.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure
from PIL import Image

from ei_zoo import data
from ei_zoo.analysis.explorer_card import card_html
from ei_zoo.analysis.explorer_pages import (
    CARD_PAGE,
    INDEX_PAGE,
    MEASURES,
    SUMMARY_FIGURE,
    network_page,
    page,
    page_name,
    population_page,
    thumbnail_name,
    zoo_page,
    zoo_row,
)
from ei_zoo.analysis.measure import NOT_MEASURED, check_num_images
from ei_zoo.analysis.perturbation import CLAMPS, class_tuning, function_of, kept_perturbation
from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    DRIVE,
    LEARNING_CURVE,
    MODEL_CARD,
    SAVED_MODEL,
    export_folders,
    read_metadata,
)
from ei_zoo.hub.index import verify_listed
from ei_zoo.hub.measured import measured_table, read_measured
from ei_zoo.hub.zoo import resolve
from ei_zoo.network.config import AREAS, CELL_TYPES, CIFAR10_CLASSES, population_key
from ei_zoo.network.responses import RunningMoments, responses

TOP_K = 8
THUMBNAIL = 32  # CIFAR-10's own size; the page scales it up
# The folder `explore` writes whole; an earlier site is the only folder it replaces.
SITE = files.OutputFolder(".ei_zoo_explorer", "an explorer site")


@dataclass
class Population:
    """What the explorer keeps of one population after the pass."""

    area: str
    cell_type: str
    responses: np.ndarray  # [images, neurons] float32
    top_values: np.ndarray  # [neurons, k], highest first
    top_indices: np.ndarray  # [neurons, k] test-image indices
    top_images: np.ndarray  # [neurons, k, 32, 32, 3] uint8
    grid: tuple[int, int, int]  # the rates' steps, height and width behind a response

    def measures(self, labels: np.ndarray) -> pd.DataFrame:
        """One row per neuron: `MEASURES`, silence, preferred class."""
        moments = RunningMoments(self.responses.shape[1])
        moments.update(self.responses)
        tuning = class_tuning(self.area, self.cell_type, self.responses, labels,
                              len(CIFAR10_CLASSES))
        table = tuning[["neuron", "mean_rate", "preferred_class", "class_variance_fraction",
                        "class_selectivity_index"]].copy()
        table["skewness"] = moments.skewness()
        table["kurtosis"] = moments.kurtosis()
        table["lifetime_sparseness"] = moments.lifetime_sparseness()
        table["silent"] = moments.silent
        table["near_silent"] = moments.near_silent
        return table


class TopImages:
    """The k images with the highest responses of each neuron, merged batch by batch."""

    def __init__(self, neurons: int, k: int):
        self.k = k
        self.values = np.full((neurons, 0), -np.inf, "float32")
        self.indices = np.zeros((neurons, 0), "int64")
        self.images = np.zeros((neurons, 0, THUMBNAIL, THUMBNAIL, 3), "uint8")

    def update(self, batch_responses: np.ndarray, batch_images: np.ndarray, first: int) -> None:
        """Merge a batch: responses [B, neurons], images [B, 32, 32, 3], indices first..."""
        kept = self.values.shape[1]
        values = np.concatenate([self.values, batch_responses.T], axis=1)  # [neurons, kept + B]
        order = np.argsort(-values, axis=1, kind="stable")[:, :self.k]
        from_batch = order >= kept
        in_batch = np.clip(order - kept, 0, len(batch_images) - 1)
        in_kept = np.clip(order, 0, max(kept - 1, 0))
        neuron = np.arange(len(order))[:, None]
        self.values = np.take_along_axis(values, order, axis=1)
        self.indices = np.where(from_batch, first + in_batch,
                                self.indices[neuron, in_kept] if kept else 0)
        batch_pixels = batch_images[in_batch]  # [neurons, k, 32, 32, 3]
        if kept:
            self.images = np.where(from_batch[..., None, None, None], batch_pixels,
                                   self.images[neuron, in_kept])
        else:
            self.images = batch_pixels


def stream(folder: Path, num_images: int, k: int = TOP_K, batch_size: int = 250,
           data_dir=None, progress=None) -> tuple[dict[str, Population], np.ndarray]:
    """({"area3/PN": Population, ...}, labels [images]) from one pass over the first
    `num_images` CIFAR-10 test images through the export's SavedModel."""
    check_num_images(num_images)
    served = tf.saved_model.load(str(folder / SAVED_MODEL))
    batches = data.load_split("test", data_dir).take(num_images).batch(batch_size)
    kept, top, grids, labels, seen = {}, {}, {}, [], 0
    for images, batch_labels in batches.as_numpy_iterator():
        rates = served.activations(tf.constant(images, tf.float32))
        for key, values in rates.items():
            batch_responses = responses(values.numpy()).astype("float32")
            grids[key] = tuple(values.shape[1:4])
            kept.setdefault(key, []).append(batch_responses)
            top.setdefault(key, TopImages(batch_responses.shape[1], k)).update(
                batch_responses, images, seen)
        labels.append(batch_labels)
        seen += len(images)
        if progress is not None:
            progress(len(images))
    populations = {}
    for area in AREAS:
        for cell_type in CELL_TYPES:
            key = population_key(area, cell_type)
            populations[key] = Population(area, cell_type, np.concatenate(kept[key]),
                                          top[key].values, top[key].indices, top[key].images,
                                          grids[key])
    return populations, np.concatenate(labels).astype("int64")


def explore(model_id_or_path, out, num_images: int = 10_000, k: int = TOP_K, data_dir=None,
            mirror=None, progress=None, zoo_link: str | None = None) -> Path:
    """Write the explorer site of one export to `out` (replacing it whole); return `out`."""
    out = SITE.check(out)
    folder = resolve(model_id_or_path, mirror)
    metadata = read_metadata(folder)
    kept = read_measured(folder)  # kept measures that do not verify are refused before work
    population_function(kept, metadata["id"])  # ... and a kept table of an earlier ei_zoo
    populations, labels = stream(folder, num_images, k, data_dir=data_dir, progress=progress)
    with SITE.writing(out) as site:
        write_network(site, folder, metadata, kept, populations, labels, zoo_link)
    return out


def write_network(site: Path, folder: Path, metadata: dict, kept: dict, populations: dict,
                  labels: np.ndarray, zoo_link: str | None = None) -> None:
    """The network's pages into `site`: index, model card, one page per population;
    `kept` is what `read_measured` verified of the export's measures."""
    drops = population_function(kept, metadata["id"])
    drive = measured_table(kept, DRIVE)
    tables = {key: population.measures(labels) for key, population in populations.items()}
    summaries = []
    for key, population in populations.items():
        table = tables[key]
        _write_thumbnails(site / "images", population)
        summary = _population_summary(population, table, drops.get(key))
        summaries.append(summary)
        drives = population_drives(drive, population.area, population.cell_type)
        (site / page_name(population.area, population.cell_type)).write_text(
            population_page(metadata, population, table, summary, labels, drives))
    summary_figure(tables).savefig(site / SUMMARY_FIGURE, dpi=90, metadata={"Software": None})
    if (folder / LEARNING_CURVE).is_file():
        shutil.copy(folder / LEARNING_CURVE, site / LEARNING_CURVE)
    card = (folder / MODEL_CARD).read_text() if (folder / MODEL_CARD).is_file() else ""
    (site / CARD_PAGE).write_text(page(f"{metadata['id']}: model card", card_html(card),
                                       back=(INDEX_PAGE, metadata["id"])))
    (site / INDEX_PAGE).write_text(
        network_page(metadata, pd.DataFrame(summaries), len(labels), zoo_link))


def population_drives(table: pd.DataFrame | None, area: str, cell_type: str
                      ) -> pd.DataFrame | None:
    """The rows of an export's drive table (`ei-zoo perturb --save`; None where it keeps
    none) whose source is this population: its targets in its area, and for PN the next
    area or the readout."""
    if table is None:
        return None
    own = (table["area"] == area) & (table["source"] == cell_type)
    onward = table["source"] == f"{area} {cell_type}"  # area-3 PN in area 4, area-4 PN read out
    return table[own | onward]


def population_function(kept: dict, model_id: str) -> dict[str, dict]:
    """{"area3/PN": `FUNCTION_MEASURES`} (`ei_zoo.analysis.perturbation.function_of`) from the
    perturbation table among the verified measures `kept` of export `model_id`, or {} where
    `ei-zoo perturb --save` has not measured it."""
    table = kept_perturbation(kept, model_id)
    if table is None:
        return {}
    return {population_key(area, cell_type): values
            for (area, cell_type), values in function_of(table).items()}


def _population_summary(population: Population, table: pd.DataFrame, drops) -> dict:
    drops = drops or {}
    alive = table[~table["silent"]]
    return {
        "area": population.area, "cell_type": population.cell_type,
        "page": page_name(population.area, population.cell_type),
        "neurons": len(table), "silent": int(table["silent"].sum()),
        "near_silent": int(table["near_silent"].sum()),
        "mean_rate": float(table["mean_rate"].mean()),
        "lifetime_sparseness": float(alive["lifetime_sparseness"].median())
        if len(alive) else np.nan,
        "class_variance_fraction": float(alive["class_variance_fraction"].median())
        if len(alive) else np.nan,
        **{f"drop_{clamp}": drops.get(f"accuracy_drop_{clamp}", np.nan) for clamp in CLAMPS},
        "drop_ci": (drops.get("accuracy_drop_step_mean_ci_low", np.nan),
                    drops.get("accuracy_drop_step_mean_ci_high", np.nan)),
        "functional": drops.get("functional", NOT_MEASURED),
    }


def summary_figure(tables: dict[str, pd.DataFrame]) -> Figure:
    """Lifetime sparseness and skewness of the neurons of every population, a box each."""
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    axes = figure.subplots(1, 2)
    names = [name.replace("/", " ") for name in tables]
    for axis, measure in zip(axes, ("lifetime_sparseness", "skewness")):
        values = [table[measure].dropna().to_numpy() for table in tables.values()]
        axis.boxplot([value if len(value) else [np.nan] for value in values])
        axis.set_xticks(range(1, len(names) + 1), names, fontsize=9)
        axis.set_xlabel("population")
        axis.set_ylabel(MEASURES[measure])
        axis.grid(axis="y", alpha=0.3)
    return figure


def _write_thumbnails(folder: Path, population: Population) -> None:
    """One strip of the top-k images per neuron: images/<area>_<type>_<neuron>.png."""
    folder.mkdir(exist_ok=True)
    for neuron, images in enumerate(population.top_images):
        strip = np.concatenate(list(images), axis=1) if len(images) else np.zeros(
            (THUMBNAIL, THUMBNAIL, 3), "uint8")
        Image.fromarray(strip).save(folder / thumbnail_name(population, neuron))


def _verified(folder: Path) -> tuple[dict, dict]:
    """(metadata, kept measures) of an export whose own files (against its index too) and
    kept measures verify."""
    verify_listed(folder)
    metadata, kept = read_metadata(folder), read_measured(folder)
    population_function(kept, metadata["id"])  # a kept table of an earlier ei_zoo is refused
    return metadata, kept


def explore_zoo(exported, out, num_images: int = 10_000, k: int = TOP_K, data_dir=None,
                progress=None) -> Path:
    """Every export of `exported`: an overview page and each network's pages in
    `out/<model id>/`; `progress(model_id)` is called before each network."""
    folders = export_folders(exported)
    if not folders:
        raise FileNotFoundError(f"No exports in {exported}; pass --exported with a folder of "
                                "exports (e.g. ./exported).")
    check_num_images(num_images)
    out = SITE.check(out)
    every = {folder: _verified(folder) for folder in folders}  # each refused before work
    rows = []
    with SITE.writing(out) as site:
        for folder, (metadata, kept) in every.items():
            if progress is not None:
                progress(metadata["id"])
            populations, labels = stream(folder, num_images, k, data_dir=data_dir)
            network = site / metadata["id"]
            network.mkdir()
            write_network(network, folder, metadata, kept, populations, labels,
                          zoo_link=f"../{INDEX_PAGE}")
            rows.append(zoo_row(metadata, population_function(kept, metadata["id"])))
        (site / INDEX_PAGE).write_text(zoo_page(rows, num_images))
    return out


