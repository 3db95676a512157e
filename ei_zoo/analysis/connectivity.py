"""Connection density per cell type, from the effective signed weights of an
export's `connectivity.npz` (docs/science.md, section 4).

A cell type's outgoing recurrent weights inside its area: PN's onto g, f, IG
and OG; IG's onto i; OG's onto o. Every kernel entry is one connection,
compared as |w| against one absolute threshold theta, fixed across networks
(the density of docs/science.md, section 4). One theta mixes fan-in with
sparseness (PN's kernels are 3x3x64 per target, a gate's 1x1x16), so two
measures leave that out: each
pathway against its own theta (`density_pathway`), and the Gini coefficient
of |w|, which needs no threshold.
"""

from __future__ import annotations

import numpy as np

PATHWAYS = {
    "PN": ("PN->g", "PN->f", "PN->IG", "PN->OG"),
    "IG": ("IG->i",),
    "OG": ("OG->o",),
}
THRESHOLD_QUANTILE = 0.9


def pathway_keys(area: str, cell_types) -> list[str]:
    """`connectivity.npz` keys of the outgoing recurrent pathways of `cell_types` in `area`."""
    return [f"{area}/{pathway}" for cell_type in cell_types for pathway in PATHWAYS[cell_type]]


def outgoing(weights: dict, area: str, cell_types) -> np.ndarray:
    """|w| of every outgoing recurrent connection of `cell_types` in `area`, flat."""
    return np.concatenate([np.abs(weights[key]).ravel()
                           for key in pathway_keys(area, cell_types)])


def calibrate_threshold(weights: dict, area: str, quantile: float = THRESHOLD_QUANTILE) -> float:
    """theta: the `quantile` of |w| over all recurrent weights of `area` (the reference's)."""
    return float(np.quantile(outgoing(weights, area, PATHWAYS), quantile))


def pathway_threshold(weights: dict, key: str, quantile: float = THRESHOLD_QUANTILE) -> float:
    """One pathway's own theta: the `quantile` of its |w| (in the reference network)."""
    return float(np.quantile(np.abs(weights[key]), quantile))


def pathway_density(weights: dict, area: str, cell_types, pathway_thresholds: dict) -> float:
    """Fraction of connections with |w| above their own pathway's theta, pooled over
    the pathways of `cell_types`; NaN where `pathway_thresholds` is empty."""
    keys = pathway_keys(area, cell_types)
    if not all(key in pathway_thresholds for key in keys):
        return float("nan")
    above = sum(int((np.abs(weights[key]) > pathway_thresholds[key]).sum()) for key in keys)
    return above / sum(weights[key].size for key in keys)


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


def gini(magnitudes: np.ndarray) -> float:
    """Gini coefficient of |w| (0: all equal, (n-1)/n: one connection carries all).

    From the sorted values, G = sum((2i - n - 1) x_i) / (n sum(x)), i = 1..n,
    which equals the mean absolute difference over all pairs / (2 mean).
    """
    ordered = np.sort(np.asarray(magnitudes, dtype=np.float64).ravel())
    total = ordered.sum()
    if total == 0:
        return float("nan")
    n = len(ordered)
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * ordered).sum() / (n * total))


def weight_measures(weights: dict, area: str, cell_types, thresholds: dict) -> dict:
    """Every density measure of the pooled outgoing weights of `cell_types` in `area`:
    `thresholds` holds theta per area and, under "pathways", per pathway key."""
    magnitudes = outgoing(weights, area, cell_types)
    return {
        "density": connection_density(magnitudes, thresholds[area]),
        "density_pathway": pathway_density(weights, area, cell_types,
                                           thresholds.get("pathways", {})),
        "gini": gini(magnitudes),
        "top10_share": top_share(magnitudes),
    }
