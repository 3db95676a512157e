"""Connection density per cell type, from the effective signed weights of an
export's `connectivity.npz` (SPEC section 4).

A cell type's outgoing recurrent weights inside its area: PN's onto g, f, IG
and OG; IG's onto i; OG's onto o. Every kernel entry is one connection,
compared as |w| against one absolute threshold theta, fixed across networks.
"""

from __future__ import annotations

import numpy as np

PATHWAYS = {
    "PN": ("PN->g", "PN->f", "PN->IG", "PN->OG"),
    "IG": ("IG->i",),
    "OG": ("OG->o",),
}
THRESHOLD_QUANTILE = 0.9


def outgoing(weights: dict, area: str, cell_types) -> np.ndarray:
    """|w| of every outgoing recurrent connection of `cell_types` in `area`, flat."""
    return np.concatenate([
        np.abs(weights[f"{area}/{pathway}"]).ravel()
        for cell_type in cell_types for pathway in PATHWAYS[cell_type]
    ])


def calibrate_threshold(weights: dict, area: str, quantile: float = THRESHOLD_QUANTILE) -> float:
    """theta: the `quantile` of |w| over all recurrent weights of `area` (the reference's)."""
    return float(np.quantile(outgoing(weights, area, PATHWAYS), quantile))


def connection_density(magnitudes: np.ndarray, threshold: float) -> float:
    """Fraction of connections with |w| > threshold."""
    return float(np.mean(magnitudes > threshold))


def density_curve(magnitudes: np.ndarray, thresholds) -> np.ndarray:
    """Density at each threshold, for the threshold-sensitivity plots."""
    ordered = np.sort(magnitudes)
    above = len(ordered) - np.searchsorted(ordered, np.asarray(thresholds), side="right")
    return above / len(ordered)


def top_share(magnitudes: np.ndarray, fraction: float = 0.1) -> float:
    """Threshold-free sparseness: share of total |w| carried by the strongest `fraction`."""
    ordered = np.sort(magnitudes)[::-1]
    total = ordered.sum()
    if total == 0:
        return float("nan")
    return float(ordered[: max(1, int(round(fraction * len(ordered))))].sum() / total)
