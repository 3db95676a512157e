"""What the network is: its areas and cell types, the layout of its fused kernels,
the cell's settings and the configuration that fixes every architectural choice.

The defaults are those of docs/science.md, sections 1-2; a field's description says
where a choice was left open by the paper or departs from it (the cell's
`silence_penalty`, `resting_drive` and `signed_weight_scale`; docs/network.md, "Initialisation");
nothing about the network is a hidden constant. A config round-trips through
JSON exactly, so a trained model can always be rebuilt from its `metadata.json`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
from pathlib import Path

DALE_MODES = ("standard", "inh_pn", "no_dale")

# CIFAR-10 training-set pixel statistics (0-255 scale), used inside the model.
CIFAR10_MEAN = (125.3, 123.0, 113.9)
CIFAR10_STD = (63.0, 62.1, 66.7)
CIFAR10_TRAIN_IMAGES = 50_000
CIFAR10_TEST_IMAGES = 10_000
# The label names, in TFDS's order of the labels 0-9.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                   "horse", "ship", "truck")


# The areas with E/I cell types and the cell types, in the order every table uses.
AREAS = ("area3", "area4")
CELL_TYPES = ("PN", "IG", "OG")


def population_key(area: str, cell_type: str) -> str:
    """Key of a population's rates in `activations`, e.g. `area3/PN`."""
    return f"{area}/{cell_type}"
# What the fused input and recurrent kernels of a cell project onto, in their
# channel order: the candidate g and the forget gate f (`principal` channels
# each), then the IG and OG populations.
TARGETS = ("g", "f", "IG", "OG")


def target_sizes(principal: int, input_gating: int, output_gating: int) -> dict[str, int]:
    """Channels of each of `TARGETS` in the fused kernels (2 x PN + IG + OG in all)."""
    return dict(zip(TARGETS, (principal, principal, input_gating, output_gating)))


def split_points(sizes: dict[str, int]) -> list[int]:
    """Where the fused kernels' last axis splits into `TARGETS` (for `np.split`, `ops.split`)."""
    return list(itertools.accumulate(sizes[target] for target in TARGETS))[:-1]


def target_slice(sizes: dict[str, int], target: str) -> slice:
    """The channels of one of `TARGETS` on the fused kernels' last axis (and the bias)."""
    start = sum(sizes[name] for name in TARGETS[:TARGETS.index(target)])
    return slice(start, start + sizes[target])


@dataclasses.dataclass(frozen=True, kw_only=True)
class CellSettings:
    """The E/I cell's settings (`ei_zoo.network.layers.EIConvLSTMCell`), declared once.

    `NetworkConfig` has them as fields (it extends this class); the cell and
    the area take them as constructor arguments of the same names
    (`CELL_SETTINGS`), keep them as `cell.settings` and write them into their
    `get_config`. So a new setting is a field here, an argument of the two
    layers and its use in the cell.

    The silence penalty's weight is a setting of the cell, not of training:
    the loss is computed inside the cell's step from pre-activations only the
    cell sees, as Keras's `activity_regularizer` is a layer's own setting; it
    adds nothing at inference, and a network reloaded to be fine-tuned keeps
    the penalty it was trained with.

    Attributes:
        resting_drive: target mean pre-activation of g, IG and OG at
            initialisation. Positive, so every area is active at rest and
            inhibitory input has activity to suppress (docs/science.md, section 2).
        forget_bias: target mean pre-activation of the forget gate at init.
        gate_drive: target mean pre-activation of the input and output gates at
            init; 0 starts them half open.
        signed_weight_scale: init range of sign-constrained magnitudes as a
            fraction of the free (He) init's range; small, so the mean drive of
            non-negative rates through non-negative weights starts O(1)
            (`ei_zoo.network.cell.weight_initializer` explains). No effect on
            `no_dale`, whose weights are all free.
        silence_penalty: weight of the loss that returns a silent ReLU channel
            (g, IG, OG) of areas 3-4 to its threshold during training
            (`ei_zoo.network.cell.silence_loss`); zero for every channel that fires
            anywhere in the batch. Without it, `standard`'s area-4 OG fall
            silent in the first epoch (docs/silent-units.md). 0 turns it off.
        signed_principal_output: the plain ConvLSTM form (docs/science.md,
            section 2), not the default: g uses tanh, so the cell state and the
            PN output may be negative.
    """

    resting_drive: float = 0.5
    forget_bias: float = 1.0
    gate_drive: float = 0.0
    signed_weight_scale: float = 0.1
    silence_penalty: float = 1.0
    signed_principal_output: bool = False

    def __post_init__(self):
        self.check_cell_settings()

    def check_cell_settings(self) -> None:
        """A one-line ValueError for a setting no cell can be built with."""
        name_of = type(self).__name__
        # A string here would only fail deep inside a layer at build time.
        for name in ("resting_drive", "forget_bias", "gate_drive", "signed_weight_scale",
                     "silence_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"{name_of}.{name}={value!r} must be a finite number.")
        if self.signed_weight_scale <= 0:
            raise ValueError(
                f"{name_of}.signed_weight_scale={self.signed_weight_scale!r} must be > 0 "
                "(0 would start every signed weight at zero)."
            )
        if self.silence_penalty < 0:
            raise ValueError(
                f"{name_of}.silence_penalty={self.silence_penalty!r} must be >= 0 "
                "(0 turns the penalty off).")
        if not isinstance(self.signed_principal_output, bool):
            raise ValueError(
                f"{name_of}.signed_principal_output={self.signed_principal_output!r} "
                "must be true or false."
            )

    def cell_settings(self) -> dict:
        """The `CELL_SETTINGS` of this config, by name (what the cell takes)."""
        return {name: getattr(self, name) for name in CELL_SETTINGS}


CELL_SETTINGS = tuple(field.name for field in dataclasses.fields(CellSettings))


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkConfig(CellSettings):
    """Everything needed to build one E/I network: the fields below and the cell's
    settings (`CellSettings`).

    Attributes:
        variant: registry name this config came from (free text for custom ones).
        dale: sign rule, one of `standard` (PN excitatory, IG/OG inhibitory),
            `inh_pn` (the reverse) or `no_dale` (no sign constraint).
        principal, input_gating, output_gating: channels per cell type in each
            recurrent area (areas 3 and 4 have the same counts).
        area1_channels, area2_channels: feedforward front-end widths.
        kernel_size: spatial size of the recurrent-area kernels (3 = 3x3).
        timesteps: number of recurrent steps T.
        num_classes: readout width.
        image_size: input height and width.
        front_end_norm: `batch` puts BatchNormalization after the area 1-2
            convolutions (allowed there, never in areas 3-4: docs/science.md, section 1),
            `none` leaves them plain.
        pixel_mean, pixel_std: per-channel statistics used to normalise raw
            0-255 pixels inside the model.
    """

    variant: str = "standard"
    dale: str = "standard"
    principal: int = 64
    input_gating: int = 16
    output_gating: int = 16
    area1_channels: int = 32
    area2_channels: int = 64
    kernel_size: int = 3
    timesteps: int = 4
    num_classes: int = 10
    image_size: int = 32
    front_end_norm: str = "batch"
    pixel_mean: tuple[float, float, float] = CIFAR10_MEAN
    pixel_std: tuple[float, float, float] = CIFAR10_STD

    def __post_init__(self):
        # Lists from JSON become tuples, so configs compare and hash by value.
        for name in ("pixel_mean", "pixel_std"):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, tuple(float(v) for v in value))
            except (TypeError, ValueError):
                raise ValueError(
                    f"NetworkConfig.{name}={value!r} needs 3 numbers (R, G, B)."
                ) from None
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the first bad field and what it accepts."""
        # The variant names the model's folder and archive (`<variant>-s<seed>`).
        if (not isinstance(self.variant, str) or not self.variant or self.variant.startswith(".")
                or "/" in self.variant or "\\" in self.variant):
            raise ValueError(
                f"NetworkConfig.variant={self.variant!r} must be a name usable as a folder "
                "name (no '/', '\\' or leading '.'), e.g. 'standard'."
            )
        if self.dale not in DALE_MODES:
            raise ValueError(
                f"NetworkConfig.dale={self.dale!r} is not a Dale mode; use one of {DALE_MODES}."
            )
        positive = (
            "principal", "input_gating", "output_gating", "area1_channels",
            "area2_channels", "kernel_size", "timesteps", "num_classes", "image_size",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"NetworkConfig.{name}={value!r} must be a positive integer."
                )
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"NetworkConfig.kernel_size={self.kernel_size} must be odd so 'same' "
                "padding is centred; use 1, 3, 5, ..."
            )
        if self.image_size % 8:
            raise ValueError(
                f"NetworkConfig.image_size={self.image_size} must be a multiple of 8 "
                "(three 2x poolings before the readout)."
            )
        self.check_cell_settings()
        if self.front_end_norm not in ("batch", "none"):
            raise ValueError(
                f"NetworkConfig.front_end_norm={self.front_end_norm!r}; use 'batch' or 'none'."
            )
        for name in ("pixel_mean", "pixel_std"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"NetworkConfig.{name} needs 3 values (R, G, B).")
        if not all(math.isfinite(v) for v in self.pixel_mean + self.pixel_std):
            raise ValueError("NetworkConfig.pixel_mean and pixel_std must be finite numbers.")
        if min(self.pixel_std) <= 0:
            raise ValueError("NetworkConfig.pixel_std values must be positive.")

    @property
    def signs(self) -> dict[str, int | None]:
        """Sign of each cell type's outgoing weights; None means free (no Dale)."""
        return cell_type_signs(self.dale)

    def replace(self, **changes) -> NetworkConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(
                f"Unknown NetworkConfig field(s) {unknown}; known fields: "
                f"{[f.name for f in dataclasses.fields(self)]}."
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["pixel_mean"] = list(self.pixel_mean)
        values["pixel_std"] = list(self.pixel_std)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> NetworkConfig:
        if not isinstance(values, dict):
            raise ValueError(
                f"A NetworkConfig must be a JSON object, got {type(values).__name__}."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown NetworkConfig field(s) {unknown}; known fields: {sorted(known)}."
            )
        try:
            return cls(**values)
        except TypeError as error:  # e.g. a list where a number belongs
            raise ValueError(f"Malformed NetworkConfig: {error}") from None

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> NetworkConfig:
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or not text.lstrip().startswith(("{", "[")):
            path = Path(text_or_path)
            if not path.is_file():
                raise FileNotFoundError(
                    f"No config file at {path}; pass a JSON string or an existing file."
                )
            text = path.read_text()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Config is not valid JSON ({error}); fix the JSON text.") from None
        return cls.from_dict(values)


def cell_type_signs(dale: str) -> dict[str, int | None]:
    """docs/science.md, section 2's sign table: outgoing-weight sign per cell type."""
    if dale == "standard":
        return {"PN": 1, "IG": -1, "OG": -1}
    if dale == "inh_pn":
        return {"PN": -1, "IG": 1, "OG": 1}
    if dale == "no_dale":
        return {"PN": None, "IG": None, "OG": None}
    raise ValueError(f"Unknown Dale mode {dale!r}; use one of {DALE_MODES}.")
