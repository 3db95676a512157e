"""A neuron's response to an image, and streamed statistics of responses.

Docs: docs/science.md, section 4.

Neuron = one channel of one cell type in one area; its response to an image
is its rate at the last step (or the mean over steps), averaged over
positions (or at the centre). Training watches for silent neurons with these
definitions, the export counts them and the analysis measures selectivity
from them, so all three agree on what a response and a silent neuron are.

Skewness, kurtosis and lifetime sparseness over 10,000 images never need
every response of every image in memory at once: batches are merged with the
pairwise update of Chan et al. / Pebay (2008) for central moments, in
float64, which stays accurate where raw power sums would cancel.
"""

from __future__ import annotations

import itertools

import numpy as np

STEPS = ("last", "mean")
POSITIONS = ("mean", "centre")
OPTIONS = tuple(itertools.product(STEPS, POSITIONS))  # every (step, position), default first
NEAR_SILENT_FRACTION = 0.01  # responding to fewer than 1% of the images


def check_options(step: str, position: str) -> None:
    """Refuse a response option that docs/science.md (section 4) does not define."""
    if step not in STEPS or position not in POSITIONS:
        raise ValueError(f"step must be one of {STEPS} and position one of {POSITIONS}; "
                         f"got {step!r}, {position!r}.")


def _over_positions(rates: np.ndarray, position: str) -> np.ndarray:
    """[N, T, H, W, C] -> [N, T, C]: mean over positions, or the centre position."""
    if position == "mean":
        return rates.mean(axis=(2, 3))
    return rates[:, :, rates.shape[2] // 2, rates.shape[3] // 2]


def _over_steps(per_step: np.ndarray, step: str) -> np.ndarray:
    """[N, T, C] -> [N, C]: the last step, or the mean over steps."""
    return per_step[:, -1] if step == "last" else per_step.mean(axis=1)


def responses(rates, step: str = "last", position: str = "mean") -> np.ndarray:
    """[N, T, H, W, C] rates -> [N, C] responses, per the options of docs/science.md, section 4."""
    check_options(step, position)
    return _over_steps(_over_positions(np.asarray(rates), position), step)


def all_responses(rates) -> dict:
    """{(step, position): [N, C] responses} for every option, as `responses` computes
    them, from one reduction over positions per position option."""
    rates = np.asarray(rates)
    by_position = {position: _over_positions(rates, position) for position in POSITIONS}
    return {(step, position): _over_steps(by_position[position], step)
            for step, position in OPTIONS}


class RunningMoments:
    """Count, mean, the 2nd to 4th central moment sums and the count of positive
    responses of each column: all that skewness, kurtosis, lifetime sparseness
    and near-silence need, from one pass."""

    def __init__(self, size: int):
        self.count = 0
        self.mean = np.zeros(size)
        self.m2 = np.zeros(size)
        self.m3 = np.zeros(size)
        self.m4 = np.zeros(size)
        self.positive = np.zeros(size, dtype=np.int64)

    def update(self, batch) -> None:
        """Add a batch of responses, [n, size]."""
        batch = np.asarray(batch, dtype=np.float64)
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mean_b = batch.mean(axis=0)
        centred = batch - mean_b
        squared = centred * centred
        m2_b = squared.sum(axis=0)
        m3_b = (squared * centred).sum(axis=0)
        m4_b = (squared * squared).sum(axis=0)
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        self.m4 = (self.m4 + m4_b + delta**4 * n_a * n_b * (n_a**2 - n_a * n_b + n_b**2) / n**3
                   + 6 * delta**2 * (n_a**2 * m2_b + n_b**2 * self.m2) / n**2
                   + 4 * delta * (n_a * m3_b - n_b * self.m3) / n)
        self.m3 = (self.m3 + m3_b + delta**3 * n_a * n_b * (n_a - n_b) / n**2
                   + 3 * delta * (n_a * m2_b - n_b * self.m2) / n)
        self.m2 = self.m2 + m2_b + delta**2 * n_a * n_b / n
        self.mean = self.mean + delta * n_b / n
        self.count = n
        self.positive += (batch > 0).sum(axis=0)

    def columns(self, start: int, stop: int) -> RunningMoments:
        """The statistics of columns start..stop-1 alone (one update can feed many sets)."""
        part = RunningMoments(0)
        part.count = self.count
        for name in ("mean", "m2", "m3", "m4", "positive"):
            setattr(part, name, getattr(self, name)[start:stop].copy())
        return part

    @property
    def variance(self) -> np.ndarray:
        """Population variance (divided by n, as `scipy.stats.skew(bias=True)` uses)."""
        return self.m2 / self.count

    @property
    def silent(self) -> np.ndarray:
        """Columns with zero variance, by scipy's test for a precision-loss-free variance."""
        return self.variance <= (np.finfo(np.float64).eps * self.mean) ** 2

    @property
    def near_silent(self) -> np.ndarray:
        """Columns that vary but respond (> 0) to fewer than 1% of the images.

        Their skewness and kurtosis are large whatever their tuning (one image
        in N gives a skewness near sqrt(N)), so a mean over neurons can be
        theirs alone; a silent column is counted as silent, not here.
        """
        return ~self.silent & (self.positive < NEAR_SILENT_FRACTION * self.count)

    def _unless_silent(self, values) -> np.ndarray:
        return np.where(self.silent, np.nan, values)

    def skewness(self) -> np.ndarray:
        """Sample skewness as `scipy.stats.skew(r, bias=True)`; NaN for silent columns."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._unless_silent((self.m3 / self.count) / self.variance**1.5)

    def kurtosis(self) -> np.ndarray:
        """Excess kurtosis as `scipy.stats.kurtosis(r, bias=True)`; NaN for silent columns."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._unless_silent((self.m4 / self.count) / self.variance**2 - 3.0)

    def lifetime_sparseness(self) -> np.ndarray:
        """Vinje & Gallant (2000) / Rolls & Tovee: (1 - mean(r)^2 / mean(r^2)) / (1 - 1/N).

        0 for equal responses to every image, 1 for a response to one image
        only (for rates >= 0); NaN for silent columns. 1 - mean^2/mean(r^2)
        is variance / mean(r^2), which needs no subtraction of near-equal terms.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.variance / (self.variance + self.mean**2)
            return self._unless_silent(ratio / (1.0 - 1.0 / self.count))


MOMENT_FIELDS = ("mean", "m2", "m3", "m4", "positive")


def moments_to_arrays(moments: dict, batch_size: int) -> dict[str, np.ndarray]:
    """{(step, position): {"area3/PN": RunningMoments}} as flat arrays for an `.npz`:
    "<step>|<position>|<key>|<field>", with the image count and the batch size they
    were merged in (another batching rounds differently in the last bits)."""
    arrays = {f"{step}|{position}|{key}|{field}": getattr(running, field)
              for (step, position), by_key in moments.items()
              for key, running in by_key.items() for field in MOMENT_FIELDS}
    # One stream: every column saw every image, so any column's count is the count.
    count = next(iter(next(iter(moments.values())).values())).count
    return {**arrays, "count": np.array(count), "batch_size": np.array(batch_size)}


def moments_from_arrays(arrays) -> tuple[dict, int]:
    """`moments_to_arrays` read back: (moments, batch size)."""
    moments = {}
    for name in arrays:
        if name in ("count", "batch_size"):
            continue
        step, position, key, field = name.split("|")
        running = moments.setdefault((step, position), {}).setdefault(key, RunningMoments(0))
        running.count = int(arrays["count"])
        setattr(running, field, np.array(arrays[name]))
    return moments, int(arrays["batch_size"])


def stream_moments(batches, progress=None) -> dict:
    """Streamed moments of every response option of every array in `batches`.

    `batches` yields {key: [N, T, H, W, C] array}; returns {(step, position): {key:
    RunningMoments}}, every column updated together as one RunningMoments per batch
    (so batches merge in one order); memory stays one batch deep. `progress(n)` is
    called with each batch's size.
    """
    running, layout = None, None
    for arrays in batches:
        per_key = {key: all_responses(values) for key, values in arrays.items()}
        if running is None:  # column ranges of every (option, key) in one row of statistics
            widths = [(option, key, per_key[key][option].shape[1])
                      for option in OPTIONS for key in sorted(per_key)]
            stops = np.cumsum([width for _, _, width in widths])
            layout = [(option, key, stop - width, stop)
                      for (option, key, width), stop in zip(widths, stops)]
            running = RunningMoments(int(stops[-1]))
        running.update(np.concatenate([per_key[key][option] for option, key, _, _ in layout],
                                      axis=1))
        if progress is not None:
            progress(len(next(iter(per_key.values()))[OPTIONS[0]]))
    moments = {option: {} for option in OPTIONS}
    for option, key, start, stop in layout:
        moments[option][key] = running.columns(start, stop)
    return moments


def population_moments(activations, batches) -> dict[str, RunningMoments]:
    """Streamed moments of every population's responses (`ei_zoo.network.responses`) over
    `batches` of images; `activations` is `activation_model(model)`."""
    moments = {}
    for images in batches:
        for key, rates in activations.predict_on_batch(images).items():
            values = responses(rates)
            moments.setdefault(key, RunningMoments(values.shape[1])).update(values)
    return moments


def silent_units(activations, batches) -> dict[str, dict[str, int]]:
    """Silent neurons per area and cell type over `batches` of images:
    {"area3": {"PN": count, ...}, ...}; `activations` is `activation_model(model)`.

    A neuron is silent when its response has zero variance over the images,
    the definition the analysis uses.
    """
    counts = {}
    for key, moments in population_moments(activations, batches).items():
        area, cell_type = key.split("/")
        counts.setdefault(area, {})[cell_type] = int(moments.silent.sum())
    return counts

