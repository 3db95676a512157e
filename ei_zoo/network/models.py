"""The E/I convolutional recurrent network (docs/science.md, section 1), CORnet-style.

Areas are named like brain areas and every area's output is a named layer
output, so activations are read with `activation_model` and weights with
`effective_weights`, never by surgery:

    images -> pixels -> area1 -> area2 -> area3 (T steps) -> area3_to_area4
           -> area4 (T steps) -> readout (last step)
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from ei_zoo.network.config import AREAS, CELL_TYPES, NetworkConfig, population_key, target_sizes
from ei_zoo.network.layers import ConvArea, EIConvLSTM, Readout, SequenceMaxPooling2D
from ei_zoo.network.registry import get_config


def resolve_config(variant_or_config="standard", **overrides) -> NetworkConfig:
    """A `NetworkConfig` from a variant name, a config or its dict, with overrides."""
    if isinstance(variant_or_config, NetworkConfig):
        config = variant_or_config
    elif isinstance(variant_or_config, dict):
        config = NetworkConfig.from_dict(variant_or_config)
    elif isinstance(variant_or_config, str):
        config = get_config(variant_or_config)
    else:
        raise ValueError(
            "Expected a variant name, a NetworkConfig or a dict, got "
            f"{type(variant_or_config).__name__}."
        )
    return config.replace(**overrides) if overrides else config


def _recurrent_area(config: NetworkConfig, name: str, input_from_principal: bool):
    return EIConvLSTM(
        config.principal, config.input_gating, config.output_gating,
        timesteps=config.timesteps, kernel_size=config.kernel_size, dale=config.dale,
        input_from_principal=input_from_principal, **config.cell_settings(), name=name,
    )


def front_end(config: NetworkConfig):
    """The `images` input and the output of area 2 (pixels -> area1 -> area2).

    Shared by `build_model` and by any network compared against it (the
    benchmarks' ConvLSTM2D reference), so both see the same input.
    """
    size = config.image_size
    images = keras.Input((size, size, 3), dtype="float32", name="images")
    pixels = keras.layers.Normalization(
        mean=config.pixel_mean, variance=[s**2 for s in config.pixel_std],
        dtype="float32", name="pixels",
    )(images)
    normalize = config.front_end_norm == "batch"
    area1 = ConvArea(config.area1_channels, normalize=normalize, name="area1")(pixels)
    return images, ConvArea(config.area2_channels, normalize=normalize, name="area2")(area1)


def _graph(config: NetworkConfig):
    """The `images` input and the logits of the network `config` describes."""
    images, area2 = front_end(config)
    area3 = _recurrent_area(config, "area3", input_from_principal=False)(area2)
    area4_input = SequenceMaxPooling2D(2, name="area3_to_area4")(area3["PN"])
    area4 = _recurrent_area(config, "area4", input_from_principal=True)(area4_input)
    logits = Readout(
        config.num_classes, sign=config.signs["PN"], dtype="float32", name="readout"
    )(area4["PN"])
    return images, logits


@contextlib.contextmanager
def dtype_policy(precision: str | None):
    """Build layers under `precision` (None: the global policy), then restore the global one."""
    previous = keras.config.dtype_policy()
    if precision is not None:
        keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@keras.saving.register_keras_serializable(package="ei_zoo")
class EINetwork(keras.Model):
    """The E/I network (docs/science.md, section 1), built from its `NetworkConfig`.

    A functional Keras model from raw pixels to logits that owns its config, as
    keras-hub's backbones do: `network_config` is the config it was built from,
    `get_config()` holds that config and the precision, so a `.keras` round trip
    rebuilds the same network. `predict` checks its images first (`check_images`):
    a wrong shape, an empty batch, integer or NaN pixels are one-line errors.

    Args:
        config: a registered variant name, a `NetworkConfig` or its dict.
        precision: the Keras dtype policy its layers compute in (e.g.
            `"mixed_bfloat16"`); None takes the global policy.
        **kwargs: `keras.Model` arguments (`name`, `trainable`); the name
            defaults to the variant.

    Input: float32 raw pixels 0-255, [N, S, S, 3] (the normalisation is inside).
    Output: logits [N, num_classes] from the readout at the last step.

    Example:

    ```python
    model = ei_zoo.EINetwork("inh_pn")
    model.network_config.dale  # "inh_pn"
    ```
    """

    def __init__(self, config="standard", precision: str | None = None, **kwargs):
        config = resolve_config(config)
        kwargs.setdefault("name", config.variant)
        with dtype_policy(precision):
            images, logits = _graph(config)
            super().__init__(images, logits, **kwargs)
        self.network_config = config
        self.precision = self.dtype_policy.name

    def get_config(self):
        return {"config": self.network_config.to_dict(), "precision": self.precision,
                "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def predict(self, x, *args, **kwargs):
        if isinstance(x, (np.ndarray, list, tuple)) or keras.ops.is_tensor(x):
            x = check_images(x, image_size=self.input.shape[1])
        return super().predict(x, *args, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        # Arrays given directly (`model(images)`) are checked as `predict` checks them;
        # symbolic and traced tensors (inside `fit`, a graph) are not values to check.
        if isinstance(inputs, (np.ndarray, list, tuple)):
            inputs = check_images(inputs, image_size=self.input.shape[1])
        return super().__call__(inputs, *args, **kwargs)


def build_model(variant_or_config="standard", **overrides) -> EINetwork:
    """The `EINetwork` of a variant or config, with `overrides` of its fields.

    E.g. `build_model("standard", timesteps=2)`. For training, follow with
    `balance_biases(model, images)` (see there).
    """
    return EINetwork(resolve_config(variant_or_config, **overrides))


def check_network(model) -> None:
    """A one-line ValueError unless `model` is an `EINetwork` (`build_model`, `load`)."""
    if not isinstance(model, EINetwork):
        raise ValueError(
            f"expected an E/I network from ei_zoo.build_model or ei_zoo.load, got "
            f"{type(model).__name__} {str(model)[:40]!r}; e.g. ei_zoo.load('standard-s0').")


def with_precision(model: keras.Model, precision: str = "float32") -> keras.Model:
    """The same network with the same weights, computing in `precision` (a Keras dtype policy).

    The zoo's networks compute in mixed_bfloat16 (their variables are float32),
    so two Keras backends agree only to bfloat16's rounding (logits to about
    0.3% of the largest one, rates to a few %); their float32 copies agree to
    1e-4 (tests/test_backends.py).
    """
    check_network(model)
    copy = EINetwork(model.network_config, precision=precision)
    copy.set_weights(model.get_weights())
    return copy


def check_images(images, image_size: int | None = None) -> np.ndarray:
    """`images` as the network takes them, float32 [N, S, S, 3], or a one-line `ValueError`.

    Keras reports a wrong shape from deep inside a layer, and computes NaN
    or meaningless rates from NaN, integer or already normalised pixels
    without a word; this says what is wrong and what to pass instead.
    `image_size` is the model's S (None accepts any square size); uint8 is
    converted to float32. Values outside 0-255, and images already scaled to
    0-1 (fractions, none above 1), are refused: the network would compute
    logits far from the right ones without a word.
    """
    try:
        array = np.asarray(images)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"images cannot be read as one array ({error}); pass a numpy array or tensor "
            "[N, S, S, 3].") from None
    if array.ndim != 4:
        hint = " (for one image, add a batch axis: images[None])" if array.ndim == 3 else ""
        raise ValueError(
            f"images have rank {array.ndim}, shape {array.shape}; pass a batch "
            f"[N, S, S, 3]{hint}.")
    count, height, width, channels = array.shape
    if height == 3 and channels != 3:
        raise ValueError(
            f"images have shape {array.shape}, channels first; this network takes channels "
            "last, [N, S, S, 3]: pass images.transpose(0, 2, 3, 1).")
    size = image_size or height
    if (height, width, channels) != (size, size, 3) or count == 0:
        raise ValueError(
            f"images have shape {array.shape}; this network takes [N, {size}, {size}, 3] "
            "with N >= 1 (RGB, channels last).")
    if array.dtype == np.uint8:
        array = array.astype("float32")
    elif array.dtype.kind != "f" and array.dtype.name != "bfloat16":
        raise ValueError(
            f"images have dtype {array.dtype}; pass float32 raw pixels 0-255 "
            "(or uint8), e.g. images.astype('float32').")
    array = array.astype("float32", copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(
            f"images contain {int((~finite).sum())} NaN or infinite values; pass finite "
            "raw pixels 0-255.")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"images hold values from {low:g} to {high:g}; pass raw pixels in 0-255 (the "
            "network normalises them itself).")
    if high <= 1 and not np.array_equal(array, np.round(array)):
        raise ValueError(
            f"images hold values from {low:g} to {high:g}, which look scaled to 0-1; pass raw "
            "pixels 0-255 (images * 255): the network normalises them itself.")
    return array


def multiply_accumulates(variant_or_config="standard") -> int:
    """Multiply-accumulates of one forward pass on one image (convolutions only).

    Used to scale a measured epoch time to the other variants (the ratio
    sweep's cost grows with the interneuron channels of every fused kernel).
    """
    config = resolve_config(variant_or_config)
    k2 = config.kernel_size**2
    size, steps = config.image_size, config.timesteps
    projection = sum(target_sizes(config.principal, config.input_gating,
                                  config.output_gating).values())
    gates = (config.input_gating + config.output_gating) * config.principal
    area1 = size**2 * 9 * 3 * config.area1_channels
    area2 = (size // 2) ** 2 * 9 * config.area1_channels * config.area2_channels
    area3_pixels, area4_pixels = (size // 4) ** 2, (size // 8) ** 2
    area3 = area3_pixels * (
        k2 * config.area2_channels * projection                    # input, once
        + (steps - 1) * k2 * config.principal * projection         # recurrent, h0 = 0
        + steps * gates)
    area4 = area4_pixels * (
        steps * k2 * config.principal * projection
        + (steps - 1) * k2 * config.principal * projection
        + steps * gates)
    return area1 + area2 + area3 + area4 + config.principal * config.num_classes


def activation_model(model: keras.Model) -> keras.Model:
    """A model from the same images to every step's rates of every cell type.

    Output: dict `area3/PN`, `area3/IG`, `area3/OG`, `area4/PN`, `area4/IG`,
    `area4/OG`, each float32 [N, T, H, W, C]. Shares weights with `model`.
    """
    check_network(model)
    outputs = {}
    for area in AREAS:
        # A functional model stores a layer's dict output flattened; repack it by key.
        rates = keras.tree.pack_sequence_as(
            dict.fromkeys(CELL_TYPES), model.get_layer(area).output)
        for cell_type in CELL_TYPES:
            outputs[population_key(area, cell_type)] = keras.ops.cast(rates[cell_type],
                                                                      "float32")
    return keras.Model(model.input, outputs, name=f"{model.name}_activations")


def effective_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """Every recurrent and inter-areal kernel with its sign applied.

    Keys: `areaN/PN->g`, `areaN/PN->f`, `areaN/PN->IG`, `areaN/PN->OG`,
    `areaN/IG->i`, `areaN/OG->o` and `areaN/input` (the x -> [g, f, IG, OG]
    kernel; for area 4 that is area-3 PN -> area 4) for N = 3, 4, and
    `readout` (area-4 PN -> logits). Conv kernels are [kh, kw, pre, post].
    """
    check_network(model)
    weights = {}
    for area in AREAS:
        for pathway, kernel in model.get_layer(area).cell.effective_kernels().items():
            weights[f"{area}/{pathway}"] = kernel
    weights["readout"] = model.get_layer("readout").effective_kernel()
    return weights
