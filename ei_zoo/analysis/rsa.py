"""Representational similarity: RDMs per network, area, cell type and time step, and how
alike they are (rsatoolbox).

A population's representation of a set of images is its response to each (the spatial
mean of its rates at one step, `ei_zoo.analysis.extract`); its representational
dissimilarity matrix (RDM) holds, for every pair of images, how differently it
responds (by default 1 - Pearson correlation over its neurons). RDMs of different
networks, cell types and steps over the same images can then be compared with each
other, or with a user's own (a brain area's, say).

    images, _ = ei_zoo.test_images(500)
    found = ei_zoo.analysis.rdms(["standard-s0", "standard-s1"], ["area4.PN", "area4.IG"],
                                 images=images)
    similarity = ei_zoo.analysis.compare_rdms(found)     # DataFrame, one row per RDM
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ei_zoo.analysis.extract import extract, parse_name
from ei_zoo.network.config import AREAS, CELL_TYPES

try:
    import rsatoolbox
except ImportError:
    raise ImportError('RSA needs rsatoolbox, which is not installed; '
                      'pip install "ei_zoo[analysis]".') from None

DESCRIPTORS = ("model", "area", "cell_type", "step")


def rdms(models, populations=("area4.PN",), images=None, steps=None,
         method: str = "correlation", batch_size: int = 250) -> rsatoolbox.rdm.RDMs:
    """One RDM per network, population and step, over the same `images`.

    Args:
        models: model ids, export folders or `EINetwork`s (named by `model.name`).
        populations: names `<area>.<cell type>` (every step, or those of `steps`) or
            `<area>.<cell type>.t<step>` (that step).
        images: raw pixels 0-255, [N, S, S, 3], N >= 3.
        steps: the steps to keep for names without one (default: all; -1 the last).
        method: an rsatoolbox `calc_rdm` method ("correlation", "euclidean", ...).
        batch_size: images per forward pass; activations are streamed, reduced to
            their spatial mean batch by batch.

    Returns:
        `rsatoolbox.rdm.RDMs` with rdm descriptors `model`, `area`, `cell_type`, `step`
        and the image index as pattern descriptor. Under the correlation distance an
        image to which every neuron of the population responds alike (all silent, say)
        has no defined dissimilarity: its pairs are NaN, and `compare_rdms` leaves them
        out (`unresponsive_images` counts them).

    Raises:
        ValueError: no models, a bad population name, or fewer than 3 images.
    """
    if isinstance(models, (str, bytes)) or not models:
        raise ValueError(f"models must be a non-empty list, e.g. ['standard-s0'], got {models!r}.")
    if isinstance(populations, str) or not populations:
        raise ValueError(f"populations must be a non-empty list of names, e.g. ['area4.PN'], "
                         f"got {populations!r}.")
    for name in populations:
        parse_name(name)
    if images is None or np.asarray(images).ndim != 4 or len(images) < 3:
        raise ValueError("images must be [N, S, S, 3] with N >= 3 (an RDM needs pairs), e.g. "
                         "ei_zoo.test_images(500)[0].")
    found = []
    for model in models:
        label = (Path(model).name if isinstance(model, (str, Path))
                 else getattr(model, "name", type(model).__name__))
        arrays = extract(model, images, list(populations), reduce="mean_space",
                         batch_size=batch_size)
        for name, array in arrays.items():
            area, cell_type, step = parse_name(name)
            kept = [step] if step is not None else _kept_steps(
                list(array.coords["step"].values), steps)
            for t in kept:
                responses = array.values if step is not None else array.sel(step=t).values
                dataset = rsatoolbox.data.Dataset(
                    responses.astype("float64"),
                    descriptors={"model": label, "area": area, "cell_type": cell_type,
                                 "step": int(t)},
                    obs_descriptors={"image": np.arange(len(responses))})
                with np.errstate(invalid="ignore", divide="ignore"):
                    found.append(rsatoolbox.rdm.calc_rdm(dataset, method=method,
                                                         descriptor="image"))
    return rsatoolbox.rdm.concat(found)


def _kept_steps(every: list, steps) -> list:
    """`steps` of a population's `every` step (None: all; -1: the last)."""
    if steps is None:
        return every
    if not all(-len(every) <= t < len(every) for t in steps):
        raise ValueError(f"steps={list(steps)}: the network has steps 0..{len(every) - 1} "
                         "(negative counts from the last).")
    return [every[t] for t in steps]


def unresponsive_images(found: rsatoolbox.rdm.RDMs) -> list[int]:
    """Per RDM, how many images have an undefined dissimilarity to the others."""
    return [int((np.isnan(matrix).sum(axis=1) >= len(matrix) - 1).sum())  # the diagonal is 0
            for matrix in found.get_matrices()]


def as_rdms(matrix_or_rdms, label: str = "user") -> rsatoolbox.rdm.RDMs:
    """An rsatoolbox RDMs as it is, or an [N, N] dissimilarity matrix over the same
    images as one RDM named `label`."""
    if isinstance(matrix_or_rdms, rsatoolbox.rdm.RDMs):
        return matrix_or_rdms
    matrix = np.asarray(matrix_or_rdms, dtype="float64")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(matrix) < 3:
        raise ValueError(f"an RDM must be a square [N, N] matrix with N >= 3, got shape "
                         f"{matrix.shape}.")
    return rsatoolbox.rdm.RDMs(matrix[None], rdm_descriptors={
        "model": [label], "area": [""], "cell_type": [""], "step": [-1]})


def label_of(found: rsatoolbox.rdm.RDMs, index: int) -> str:
    """`model area cell_type t<step>` of one RDM."""
    values = [found.rdm_descriptors[key][index] if key in found.rdm_descriptors else ""
              for key in DESCRIPTORS]
    model, area, cell_type, step = values
    return " ".join(str(v) for v in (model, area, cell_type) if v != "") + (
        f" t{step}" if step not in ("", -1) else "")


def compare_rdms(found: rsatoolbox.rdm.RDMs, other=None, method: str = "corr") -> pd.DataFrame:
    """How alike RDMs are: rsatoolbox's `compare` (default Pearson correlation of the
    RDMs' upper triangles) of every RDM of `found` with every RDM of `other` (default:
    `found` itself), labelled by `label_of`.

    Raises:
        ValueError: the RDMs are over different numbers of images.
    """
    other = found if other is None else as_rdms(other)
    if other.n_cond != found.n_cond:
        raise ValueError(f"the RDMs compare {found.n_cond} and {other.n_cond} images; "
                         "compute both over the same images.")
    values = rsatoolbox.rdm.compare(found, other, method=method)
    return pd.DataFrame(values, index=[label_of(found, i) for i in range(found.n_rdm)],
                        columns=[label_of(other, i) for i in range(other.n_rdm)])


def figure_rdms(found: rsatoolbox.rdm.RDMs, path, images: str = "image") -> Path:
    """A grid of the RDMs (images x images, colour = dissimilarity), each titled by
    `label_of`, to `path` (PNG); `images` names the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(4, found.n_rdm)
    rows = -(-found.n_rdm // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows),
                                squeeze=False)
    matrices = found.get_matrices()
    for index, axis in enumerate(axes.flat):
        if index >= found.n_rdm:
            axis.axis("off")
            continue
        image = axis.imshow(matrices[index], cmap="viridis")
        axis.set_title(label_of(found, index), fontsize=8)
        axis.set_xlabel(images)
        axis.set_ylabel(images)
        figure.colorbar(image, ax=axis, fraction=0.046, label="dissimilarity")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def figure_similarity(similarity: pd.DataFrame, path) -> Path:
    """The RDM similarity matrix as a labelled heat map, to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 2.5 + 0.35 * len(similarity)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(similarity.to_numpy(), cmap="magma", vmin=-1, vmax=1)
    axis.set_xticks(range(similarity.shape[1]), similarity.columns, rotation=90, fontsize=7)
    axis.set_yticks(range(similarity.shape[0]), similarity.index, fontsize=7)
    axis.set_title("RDM similarity (Pearson r of the RDMs)")
    figure.colorbar(image, ax=axis, label="r")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


CONSISTENCY_IMAGES = 500  # images of `population_similarity`'s RDMs: each N x N numbers
SIMILARITY_COLUMNS = ("variant", "population", "other", "similarity", "low", "high", "pairs")


def population_similarity(networks: dict, images) -> pd.DataFrame:
    """How alike the representations of a variant's populations are, at the last step.

    `networks`: variant -> its networks (model ids or export folders), one per seed.
    Per variant and pair of populations (`area3 PN`, ..., `area4 OG`): the mean RDM
    similarity (Pearson r of the RDMs) and its range, over seeds. A population with
    itself: its seed consistency, over every pair of different seeds; two populations:
    their likeness within each network, over the networks. `SIMILARITY_COLUMNS`.
    """
    names = [f"{area}.{cell_type}" for area in AREAS for cell_type in CELL_TYPES]
    rows = []
    for variant, models in networks.items():
        found = rdms(models, names, images=images, steps=[-1])
        vectors = found.get_vectors()
        labels = [(found.rdm_descriptors["model"][i],
                   f"{found.rdm_descriptors['area'][i]} {found.rdm_descriptors['cell_type'][i]}")
                  for i in range(found.n_rdm)]
        similarity = _nan_correlations(vectors)
        for a in dict.fromkeys(label for _, label in labels):
            for b in dict.fromkeys(label for _, label in labels):
                values = [similarity[i, j] for i, (model_i, pop_i) in enumerate(labels)
                          for j, (model_j, pop_j) in enumerate(labels)
                          if pop_i == a and pop_j == b
                          and ((model_i < model_j) if a == b else model_i == model_j)]
                values = [value for value in values if np.isfinite(value)]
                rows.append({"variant": variant, "population": a, "other": b,
                             "similarity": float(np.mean(values)) if values else np.nan,
                             "low": float(np.min(values)) if values else np.nan,
                             "high": float(np.max(values)) if values else np.nan,
                             "pairs": len(values)})
    return pd.DataFrame(rows, columns=list(SIMILARITY_COLUMNS))


def _nan_correlations(vectors: np.ndarray) -> np.ndarray:
    """Pearson r between every two RDM vectors over the image pairs both define."""
    count = len(vectors)
    result = np.full((count, count), np.nan)
    for i in range(count):
        for j in range(count):
            both = np.isfinite(vectors[i]) & np.isfinite(vectors[j])
            if both.sum() > 2 and np.ptp(vectors[i][both]) > 0 and np.ptp(vectors[j][both]) > 0:
                result[i, j] = np.corrcoef(vectors[i][both], vectors[j][both])[0, 1]
    return result
