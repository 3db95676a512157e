"""Data-dependent initialisation of the E/I network's biases (docs/science.md, section 2).

With non-negative rates and sign-constrained magnitudes, the mean drive onto
every unit is far from zero (positive for excitatory input, negative for
inhibitory), and how far depends on the data. `balance_biases` sets each
channel's bias so that, over a batch of training images and all steps, its mean
pre-activation equals its target: `resting_drive` for g, IG and OG (active at
rest, so inhibition has activity to suppress), `forget_bias` for f and
`gate_drive` for i and o (gates half open); the readout starts every class at
the same mean logit. Only biases move; no weight or sign changes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ei_zoo.network.config import TARGETS
from ei_zoo.network.models import check_images, check_network


def balance_biases(model: keras.Model, images, iterations: int = 3) -> None:
    """Data-dependent initialisation: balance every area's mean drive with its biases.

    Call once, after `build_model` and before training, with a batch of real
    training images (a few hundred). Area by area, in the order the signal
    flows, every bias is set so that over these images each channel's mean
    pre-activation sits at its target (the module docstring lists them); weights
    and signs are left as they are. Without it the excitatory drive saturates the
    gates in `standard`, and in `inh_pn` the purely inhibitory input silences area 4.

    Args:
        model: an `EINetwork`.
        images: float32 raw pixels [N, S, S, 3].
        iterations: passes per area (each moves the biases closer).

    Raises:
        ValueError: `model` is not an `EINetwork`, or the images are malformed.

    Example:

    ```python
    model = ei_zoo.build_model("standard")
    ei_zoo.balance_biases(model, train_images[:256])
    ```
    """
    check_network(model)
    images = keras.ops.convert_to_tensor(
        check_images(images, image_size=model.input.shape[1]))
    # training=True: the front end's batch norm uses batch statistics, as in training.
    area3_input = keras.Model(model.input, model.get_layer("area2").output)(
        images, training=True)
    area3 = model.get_layer("area3")
    _balance_area(area3, area3_input, iterations)
    area4_input = model.get_layer("area3_to_area4")(area3(area3_input)["PN"])
    area4 = model.get_layer("area4")
    _balance_area(area4, area4_input, iterations)
    readout = model.get_layer("readout")
    logits = ops.convert_to_numpy(ops.cast(readout(area4(area4_input)["PN"]), "float32"))
    readout.bias.assign(readout.bias - logits.mean(axis=0))


def _balance_area(area, inputs, iterations: int) -> None:
    """Shift the biases of one `EIConvLSTM` area towards its targets, `iterations` times
    (the rates, and so the recurrent drive, change with the biases)."""
    cell, settings = area.cell, area.cell.settings
    targets = {"g": settings.resting_drive, "f": settings.forget_bias,
               "IG": settings.resting_drive, "OG": settings.resting_drive,
               "i": settings.gate_drive, "o": settings.gate_drive}
    for _ in range(iterations):
        totals = {name: 0.0 for name in targets}
        for _, preactivations in area.unroll(inputs):
            for name, value in preactivations.items():
                value = ops.cast(value, "float32")
                totals[name] += ops.convert_to_numpy(ops.mean(value, axis=(0, 1, 2)))
        shift = {name: targets[name] - totals[name] / area.timesteps for name in targets}
        cell.bias.assign(cell.bias + np.concatenate([shift[t] for t in TARGETS]))
        cell.input_gate_bias.assign(cell.input_gate_bias + shift["i"])
        cell.output_gate_bias.assign(cell.output_gate_bias + shift["o"])
