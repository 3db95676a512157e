"""Responses at matched stages: where PN and the interneurons pass through the same kind
of nonlinearity (docs/science.md, section 4).

A PN rate is o * tanh(c): bounded, gated. An IG or OG rate is an unbounded ReLU. So a
difference in their rates' skewness may be the nonlinearity's, not the cell type's.
Two more stages compare like with like:

- *state*, the rectified, ungated, unbounded signal: for PN the cell state c; for IG
  and OG their rate, which already is one (the rate stage's own numbers);
- *drive*, the input before any nonlinearity: for PN z_g, the candidate's
  pre-activation; for IG and OG their pre-ReLU z.

`stage_moments` streams the test images through an export's `.keras` model (in the
precision it was trained in) and returns the streamed moments of every response
option at both stages, as `ei_zoo.analysis.measure.response_moments` does for rates.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from ei_zoo import data
from ei_zoo.hub.zoo import load
from ei_zoo.network.config import AREAS
from ei_zoo.network.models import check_network
from ei_zoo.network.responses import stream_moments

STAGES = ("rate", "state", "drive")


def stage_key(stage: str, area: str, cell_type: str) -> str:
    """`state/area3/PN`: the key of a population at a stage."""
    return f"{stage}/{area}/{cell_type}"


class _AreaStages(keras.layers.Layer):
    """Every step's cell state c and pre-activations of one E/I area, [N, T, H, W, C],
    read from the area's own cell (no weights of its own)."""

    def __init__(self, area, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.area = area

    def call(self, inputs):
        cell = self.area.cell
        states, steps = None, []
        for input_drive in self.area.input_drives(ops.cast(inputs, self.area.compute_dtype)):
            _, states, preactivations = cell.step(input_drive, states)
            steps.append({"state/PN": states[1], "drive/PN": preactivations["g"],
                          "drive/IG": preactivations["IG"], "drive/OG": preactivations["OG"]})
        return {key: ops.cast(ops.stack([step[key] for step in steps], axis=1), "float32")
                for key in steps[0]}


def stage_model(model) -> keras.Model:
    """A model from the same images to `stage_key` -> [N, T, H, W, C] for the PN state
    and every population's drive, sharing `model`'s weights."""
    check_network(model)
    outputs = {}
    for area in AREAS:
        layer = model.get_layer(area)
        for key, value in _AreaStages(layer, name=f"{area}_stages")(layer.input).items():
            stage, cell_type = key.split("/")
            outputs[stage_key(stage, area, cell_type)] = value
    return keras.Model(model.input, outputs, name=f"{model.name}_stages")


def stage_moments(folder: Path, num_images: int, batch_size: int, data_dir=None,
                  progress=None) -> dict:
    """{(step, position): {stage_key: RunningMoments}} of the first `num_images` CIFAR-10
    test images (TFDS order, batches of `batch_size`): the PN state and every drive.

    The IG and OG state is their rate, read from the rate moments, not kept here.
    `progress(n)` is called with each batch's size.
    """
    stages = stage_model(load(folder))
    images = data.load_split("test", data_dir).take(num_images).batch(batch_size)
    batches = (stages.predict_on_batch(np.asarray(batch, "float32"))
               for batch, _ in images.as_numpy_iterator())
    return stream_moments(batches, progress)


def stage_population(stage_moments_by_option: dict, rate_moments: dict, stage: str,
                     option, area: str, cell_type: str):
    """The RunningMoments of one population at `stage` and response `option`, or None
    where the export keeps no stage moments."""
    if stage == "rate" or (stage == "state" and cell_type != "PN"):
        return rate_moments[option][(area, cell_type)]
    if stage_moments_by_option is None:
        return None
    return stage_moments_by_option[option][stage_key(stage, area, cell_type)]
