"""A neuron's response to an image, and streamed statistics of responses (SPEC section 4).

Neuron = one channel of one cell type in one area; its response to an image
is its rate at the last step (or the mean over steps), averaged over
positions (or at the centre). Training watches for silent neurons with these
definitions, the export counts them and the analysis measures selectivity
from them, so all three agree on what a response and a silent neuron are.

Skewness over 10,000 images never needs every response of every image in
memory at once: batches are merged with the pairwise update of Chan et al. /
Pebay (2008) for central moments, in float64, which stays accurate where raw
power sums would cancel.
"""

from __future__ import annotations

import numpy as np

STEPS = ("last", "mean")
POSITIONS = ("mean", "centre")


def check_options(step: str, position: str) -> None:
    """Refuse a response option SPEC section 4 does not define, naming the ones it does."""
    if step not in STEPS or position not in POSITIONS:
        raise ValueError(f"step must be one of {STEPS} and position one of {POSITIONS}; "
                         f"got {step!r}, {position!r}.")


def responses(rates, step: str = "last", position: str = "mean") -> np.ndarray:
    """[N, T, H, W, C] rates -> [N, C] responses, per the SPEC section 4 options."""
    check_options(step, position)
    rates = np.asarray(rates)
    rates = rates[:, -1] if step == "last" else rates.mean(axis=1)
    if position == "mean":
        return rates.mean(axis=(1, 2))
    return rates[:, rates.shape[1] // 2, rates.shape[2] // 2]


class RunningMoments:
    """Count, mean and the 2nd and 3rd central moment sums of each column."""

    def __init__(self, size: int):
        self.count = 0
        self.mean = np.zeros(size)
        self.m2 = np.zeros(size)
        self.m3 = np.zeros(size)

    def update(self, batch) -> None:
        """Add a batch of responses, [n, size]."""
        batch = np.asarray(batch, dtype=np.float64)
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mean_b = batch.mean(axis=0)
        centred = batch - mean_b
        m2_b = (centred**2).sum(axis=0)
        m3_b = (centred**3).sum(axis=0)
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        self.m3 = (self.m3 + m3_b + delta**3 * n_a * n_b * (n_a - n_b) / n**2
                   + 3 * delta * (n_a * m2_b - n_b * self.m2) / n)
        self.m2 = self.m2 + m2_b + delta**2 * n_a * n_b / n
        self.mean = self.mean + delta * n_b / n
        self.count = n

    @property
    def variance(self) -> np.ndarray:
        """Population variance (divided by n, as `scipy.stats.skew(bias=True)` uses)."""
        return self.m2 / self.count

    @property
    def silent(self) -> np.ndarray:
        """Columns with zero variance, by scipy's test for a precision-loss-free variance."""
        return self.variance <= (np.finfo(np.float64).eps * self.mean) ** 2

    def skewness(self) -> np.ndarray:
        """Sample skewness as `scipy.stats.skew(r, bias=True)`; NaN for silent columns."""
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = (self.m3 / self.count) / self.variance**1.5
        return np.where(self.silent, np.nan, skew)
