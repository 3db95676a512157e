"""The registry of named network variants (docs/science.md, section 2).

One name space for every network this package can build: the paper's
variants (`standard`, `inh_pn`, `no_dale` and the I:E ratio sweep
`ratio_<p>_<q>`), the design study's `<base>.<change>` variants, which
`ei_zoo.paper.study` registers, and a user's own (`register_variant`).
`get_config`, `build_model`, `create_model` and `ei-zoo train --variant`
take any registered name.

`standard`, `inh_pn` and `no_dale` differ only in their sign rule. The ratio
variants are the standard network with IG = OG = PN * p / q channels;
`ratio_1_4` has the standard network's counts.
"""

from __future__ import annotations

import difflib
import re
from fractions import Fraction

from ei_zoo.network.config import NetworkConfig

RATIOS = (
    Fraction(1, 64), Fraction(1, 32), Fraction(1, 16), Fraction(1, 8), Fraction(1, 4),
    Fraction(1, 2), Fraction(1, 1), Fraction(2, 1), Fraction(4, 1),
)
# A variant name: lower-case words joined by `_`, optionally `<base>.<change>`.
VARIANT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?")


def ratio_name(ratio: Fraction) -> str:
    """The variant name of an I:E ratio, e.g. `ratio_1_4`."""
    return f"ratio_{ratio.numerator}_{ratio.denominator}"


def _ratio_config(ratio: Fraction) -> NetworkConfig:
    principal = NetworkConfig().principal
    interneurons = principal * ratio
    if interneurons.denominator != 1:
        raise ValueError(f"Ratio {ratio} gives a fractional channel count at PN={principal}.")
    return NetworkConfig(
        variant=ratio_name(ratio),
        input_gating=int(interneurons),
        output_gating=int(interneurons),
    )


_REGISTRY: dict[str, NetworkConfig] = {
    "standard": NetworkConfig(variant="standard", dale="standard"),
    "inh_pn": NetworkConfig(variant="inh_pn", dale="inh_pn"),
    "no_dale": NetworkConfig(variant="no_dale", dale="no_dale"),
    **{ratio_name(ratio): _ratio_config(ratio) for ratio in RATIOS},
}


def register_variant(name: str, config: NetworkConfig | str = "standard",
                     **overrides) -> NetworkConfig:
    """Register a network variant under `name`, so every entry point takes that name.

    Args:
        name: lower-case letters, digits and `_`, optionally `<base>.<change>`
            (e.g. `my_net` or `standard.wide`); model ids become `<name>-s<seed>`.
        config: the `NetworkConfig` to register, or a registered name to start from.
        **overrides: `NetworkConfig` fields that replace those of `config`.

    Returns:
        The registered `NetworkConfig`, whose `variant` is `name`.

    Raises:
        ValueError: `name` is malformed, or already registered with another config.

    Example:

    ```python
    ei_zoo.register_variant("wide_ig", "standard", input_gating=32)
    model = ei_zoo.build_model("wide_ig")
    ```
    """
    if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
        raise ValueError(
            f"variant name {name!r} is not valid; use lower-case letters, digits and _, "
            "optionally <base>.<change>, e.g. 'my_net' or 'standard.wide'.")
    base = get_config(config) if isinstance(config, str) else config
    if not isinstance(base, NetworkConfig):
        raise ValueError(f"config must be a NetworkConfig or a registered variant name, "
                         f"got {type(config).__name__}.")
    registered = base.replace(**{**overrides, "variant": name})
    if _REGISTRY.get(name, registered) != registered:
        raise ValueError(
            f"variant {name!r} is already registered with another config; choose another "
            "name.")
    _REGISTRY[name] = registered
    return registered


def list_variants() -> list[str]:
    """Names of every registered variant, in registry order."""
    return list(_REGISTRY)


def get_config(name: str) -> NetworkConfig:
    """The `NetworkConfig` of a registered variant.

    Raises:
        ValueError: `name` is not registered; the message suggests the closest names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown variant {name!r}.{hint} Known variants: {', '.join(_REGISTRY)}."
        ) from None


def interneuron_ratio(config: NetworkConfig) -> Fraction:
    """I:E ratio of a config: IG (= OG) channels per PN channel."""
    return Fraction(config.input_gating, config.principal)
