"""The registry of named network variants (SPEC section 2).

`standard`, `inh_pn` and `no_dale` differ only in their sign rule. The ratio
variants `ratio_<p>_<q>` are the standard network with IG = OG = PN * p / q
channels; `ratio_1_4` has the standard network's counts.
"""

from __future__ import annotations

import difflib
from fractions import Fraction

from ei_zoo.config import NetworkConfig

RATIOS = (
    Fraction(1, 64), Fraction(1, 32), Fraction(1, 16), Fraction(1, 8), Fraction(1, 4),
    Fraction(1, 2), Fraction(1, 1), Fraction(2, 1), Fraction(4, 1),
)


def ratio_name(ratio: Fraction) -> str:
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


def list_variants() -> list[str]:
    """Names of every registered variant, in registry order."""
    return list(_REGISTRY)


def get_config(name: str) -> NetworkConfig:
    """The `NetworkConfig` of a named variant; unknown names suggest the closest."""
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
