"""Activations by name, as labelled arrays: one population's rates for a set of images.

A name picks an area, a cell type and optionally one time step:
`area4.OG.t3` (area 4's output-gating neurons at step 3, counted from 0),
`area3.PN` (every step). Each comes back as an `xarray.DataArray` with dimensions
`image`, `step`, `channel`, and `y`, `x` where the spatial positions are kept, and
coordinates `area`, `cell_type`, `step`, `channel` (the neuron's index in its
population), so that slicing and bookkeeping of which channel is which are done.

    arrays = ei_zoo.analysis.extract("standard-s0", images,
                                     ["area4.OG.t3", "area3.PN"], reduce="mean_space")
    arrays["area4.OG.t3"].sel(channel=5)          # [image] responses of one neuron

The images are streamed in batches: with `reduce="mean_space"` no batch's full
[N, T, H, W, C] rates outlive the batch, so memory grows only with what is returned.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import xarray as xr

from ei_zoo.hub.zoo import ServedNetwork, load
from ei_zoo.network.config import AREAS, CELL_TYPES, population_key
from ei_zoo.network.models import activation_model, check_network

NAME = re.compile(r"(?P<area>area\d)\.(?P<cell_type>[A-Z]+)(?:\.t(?P<step>\d+))?")
REDUCTIONS = (None, "mean_space")


def parse_name(name: str) -> tuple[str, str, int | None]:
    """(area, cell type, step or None) of a population name such as `area4.OG.t3`.

    Raises:
        ValueError: the name has another form, or names an unknown area or cell type.
    """
    match = NAME.fullmatch(name) if isinstance(name, str) else None
    if (match is None or match["area"] not in AREAS
            or match["cell_type"] not in CELL_TYPES):
        raise ValueError(
            f"{name!r} is not a population name; use <area>.<cell type>[.t<step>] with an "
            f"area of {AREAS} and a cell type of {CELL_TYPES}, e.g. 'area4.OG.t3' or "
            "'area3.PN'.")
    return match["area"], match["cell_type"], (None if match["step"] is None
                                               else int(match["step"]))


def _rates_of(model_id_or_model):
    """A function from an image batch to {population key: rates [B, T, H, W, C]}."""
    if isinstance(model_id_or_model, (str, Path)):
        model_id_or_model = load(model_id_or_model)
    if isinstance(model_id_or_model, ServedNetwork):
        served = model_id_or_model
        return lambda batch: {key: np.asarray(value)
                              for key, value in served.activations(batch).items()}
    check_network(model_id_or_model)
    activations = activation_model(model_id_or_model)
    return lambda batch: {key: np.asarray(keras.ops.convert_to_numpy(value))
                          for key, value in activations.predict_on_batch(batch).items()}


def extract(model_id_or_model, images, layers, reduce: str | None = "mean_space",
            batch_size: int = 250) -> dict[str, xr.DataArray]:
    """Rates of the named populations of a network for `images`, as labelled arrays.

    Args:
        model_id_or_model: a model id or export folder (its Keras model is loaded),
            an `EINetwork`, or a `ServedNetwork` (`ei_zoo.load(id, format="saved_model")`:
            the SavedModel alone).
        images: raw pixels 0-255, [N, S, S, 3].
        layers: population names, `<area>.<cell type>[.t<step>]` (`parse_name`).
        reduce: "mean_space" (the mean over positions) or None (every position kept).
        batch_size: images per forward pass.

    Returns:
        {name: DataArray}, dimensions (image, step, channel) or (image, step, y, x,
        channel); a name with a step has no `step` dimension and a scalar `step`
        coordinate.

    Raises:
        ValueError: a bad name, reduction, batch size or image array, before any work.
    """
    if isinstance(layers, str) or not layers:
        raise ValueError(f"layers must be a non-empty list of names, e.g. ['area4.OG.t3'], "
                         f"got {layers!r}.")
    parsed = {name: parse_name(name) for name in layers}
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r}; use one of {REDUCTIONS}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer, e.g. 250.")
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be [N, S, S, 3] with N >= 1, got shape {images.shape}.")
    rates_of = _rates_of(model_id_or_model)
    parts = {name: [] for name in layers}
    for start in range(0, len(images), batch_size):
        rates = rates_of(images[start:start + batch_size].astype("float32"))
        for name, (area, cell_type, step) in parsed.items():
            values = rates[population_key(area, cell_type)]
            if step is not None and not 0 <= step < values.shape[1]:
                raise ValueError(f"{name}: step {step} is not among the network's "
                                 f"{values.shape[1]} steps (t0..t{values.shape[1] - 1}).")
            if reduce == "mean_space":
                values = values.mean(axis=(2, 3))
            parts[name].append(values if step is None else values[:, step])
    return {name: _labelled(np.concatenate(parts[name]), *parsed[name]) for name in layers}


def _labelled(values: np.ndarray, area: str, cell_type: str, step: int | None) -> xr.DataArray:
    dims = ["image"] + (["step"] if step is None else []) + (
        ["y", "x"] if values.ndim - (step is None) == 4 else []) + ["channel"]
    coords = {"image": np.arange(values.shape[0]), "channel": np.arange(values.shape[-1]),
              "area": area, "cell_type": cell_type}
    coords["step"] = np.arange(values.shape[1]) if step is None else step
    return xr.DataArray(values, dims=dims, coords=coords,
                        name=f"{area}.{cell_type}" + ("" if step is None else f".t{step}"))
