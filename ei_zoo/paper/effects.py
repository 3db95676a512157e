"""Effect sizes for the claims: differences of population means with a hierarchical
bootstrap interval, and the labels they earn against a margin of practical equivalence.

An effect is the difference of two groups' population values (mean selectivity, or
connection density) in one area, averaged over a variant's networks. Its 95% interval
comes from a hierarchical bootstrap: the networks (seeds) are resampled with
replacement, then the neurons within each drawn network, independently in each group
(docs/science.md, section 5, "Verdicts").

    samples = zoo_samples(all_measurements, thresholds)
    pairs = [(samples[model][("area4", "PN", SELECTIVITY)],
              samples[model][("area4", "OG", SELECTIVITY)]) for model in models]
    found = effect(pairs, margin_for(DEFAULT, SELECTIVITY), key="C1/area4/PN-OG")
    label = greater(found)       # "holds", "does not hold", "no difference", "mixed"
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from ei_zoo.analysis.connectivity import gini, outgoing, pathway_keys
from ei_zoo.analysis.measure import DEFAULT, DENSITY, INTERNEURONS, SELECTIVITY, Choice
from ei_zoo.network.config import AREAS, CELL_TYPES

HOLDS, FAILS, NO_DIFFERENCE, MIXED, MISSING = (
    "holds", "does not hold", "no difference", "mixed", "not measurable")
RESAMPLES = 1000
CONFIDENCE = 0.95
SELECTIVITY_QUANTITY, DENSITY_QUANTITY = "selectivity", "density"
# Margins of practical equivalence: a difference smaller than this is smaller than what
# another seed changes in one population (median seed-to-seed SD of a population's value
# over the 3 x 3 networks of standard, inh_pn and no_dale: skewness 0.14, median
# skewness 0.19, lifetime sparseness 0.012, kurtosis 0.83, density 0.011, density per
# pathway 0.008, Gini 0.008).
MARGINS = {
    "selectivity": 0.1, "selectivity_median": 0.1, "lifetime_sparseness": 0.01,
    "kurtosis": 0.5, "density": 0.01, "density_pathway": 0.005, "gini": 0.005,
}


@dataclasses.dataclass(frozen=True)
class Sample:
    """One population value of one network and its neuron-bootstrap replicates
    (`RESAMPLES` of them; NaN where the population is silent or not counted)."""

    estimate: float
    replicates: np.ndarray


@dataclasses.dataclass(frozen=True)
class Effect:
    """A difference of population values: its mean over networks, the hierarchical 95%
    interval, each network's own difference and the margin it is judged against."""

    estimate: float
    low: float
    high: float
    per_network: tuple[float, ...]
    margin: float

    @property
    def measured(self) -> bool:
        return bool(np.isfinite(self.estimate))

    def oriented(self, direction: int) -> Effect:
        """The same effect with its sign flipped where `direction` is -1."""
        if direction == 1:
            return self
        return Effect(-self.estimate, -self.high, -self.low,
                      tuple(-value for value in self.per_network), self.margin)

    def text(self) -> str:
        if not self.measured:
            return "n/a"
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


NOT_MEASURED_SAMPLE = Sample(np.nan, np.full(RESAMPLES, np.nan))


def _rng(key: str) -> np.random.Generator:
    """A generator fixed by `key`, so that every interval is the same number in every run."""
    return np.random.default_rng(zlib.crc32(key.encode()))


def neuron_sample(values: np.ndarray, aggregate, key: str) -> Sample:
    """`aggregate` of per-neuron `values` and its value over neurons resampled with
    replacement."""
    if len(values) == 0:
        return NOT_MEASURED_SAMPLE
    drawn = values[_rng(key).integers(len(values), size=(RESAMPLES, len(values)))]
    return Sample(float(aggregate(values)), aggregate(drawn, axis=1))


def count_sample(above: np.ndarray, total: np.ndarray, key: str) -> Sample:
    """A density from per-neuron counts (connections above θ, connections), resampled
    by neuron."""
    if len(above) == 0:
        return NOT_MEASURED_SAMPLE
    drawn = _rng(key).integers(len(above), size=(RESAMPLES, len(above)))
    return Sample(float(above.sum() / total.sum()),
                  above[drawn].sum(axis=1) / total[drawn].sum(axis=1))


def groups(measurements) -> dict[str, list[str]]:
    """The groups of neurons the claims compare: each cell type, IG+OG, E and I (by sign)."""
    excitatory = [c for c in CELL_TYPES if measurements.excitatory(c)]
    return {**{c: [c] for c in CELL_TYPES}, "IG+OG": list(INTERNEURONS), "E": excitatory,
            "I": [c for c in CELL_TYPES if c not in excitatory]}


def _density_counts(weights: dict, area: str, cell_types, thresholds: dict, measure: str):
    """Per presynaptic neuron: its outgoing connections above θ, and their number."""
    above, total = [], []
    for cell_type in cell_types:
        count, size = 0, 0
        for key in pathway_keys(area, [cell_type]):
            theta = (thresholds[area] if measure == "density"
                     else thresholds.get("pathways", {}).get(key))
            if theta is None:
                return np.array([]), np.array([])
            magnitudes = np.abs(weights[key])
            count = count + (magnitudes > theta).sum(axis=(0, 1, 3))
            size += magnitudes.size // magnitudes.shape[2]
        above.append(count)
        total.append(np.full(len(count), size))
    return (np.concatenate(above), np.concatenate(total)) if above else (np.array([]),) * 2


def population_samples(measurements, thresholds: dict, choice: Choice = DEFAULT) -> dict:
    """(area, group, quantity) -> Sample of one network under `choice`: selectivity per
    neuron resampled, density per presynaptic neuron resampled, oriented so that larger
    means denser under every density measure. The Gini coefficient pools every
    connection and does not split by neuron: its replicates are its value, so its
    interval reflects the networks only."""
    statistic, aggregate = SELECTIVITY[choice.selectivity]
    by_construction = (choice.density == "density_pathway"
                       and measurements.model == thresholds.get("source"))
    orientation = DENSITY[choice.density]
    samples = {}
    for area in AREAS:
        for group, cell_types in groups(measurements).items():
            counted = measurements.counted(area, cell_types, choice)
            key = f"{measurements.model}/{area}/{group}/{choice}"
            values = measurements.neurons(statistic, area, counted, choice.response,
                                          choice.exclude_near_silent, choice.stage)
            samples[(area, group, SELECTIVITY_QUANTITY)] = neuron_sample(
                values, aggregate, key + "/selectivity")
            if by_construction or not counted:
                density = NOT_MEASURED_SAMPLE
            elif choice.density == "gini":
                value = gini(outgoing(measurements.weights, area, counted))
                density = Sample(value, np.full(RESAMPLES, value))
            else:
                density = count_sample(*_density_counts(
                    measurements.weights, area, counted, thresholds, choice.density),
                    key + "/density")
            samples[(area, group, DENSITY_QUANTITY)] = Sample(
                orientation * density.estimate, orientation * density.replicates)
    return samples


def zoo_samples(all_measurements, thresholds: dict, choice: Choice = DEFAULT) -> dict:
    """model -> `population_samples` of every network under `choice`."""
    return {m.model: population_samples(m, thresholds, choice) for m in all_measurements}


def margin_for(choice: Choice, quantity: str) -> float:
    """The margin of practical equivalence of `choice`'s measure of `quantity`."""
    return MARGINS[choice.selectivity if quantity == SELECTIVITY_QUANTITY else choice.density]


def hierarchical(replicates: np.ndarray, key: str) -> np.ndarray:
    """Bootstrap values of the mean over networks: `replicates` [networks, RESAMPLES]
    holds each network's neuron-bootstrap values; networks are drawn with replacement,
    each drawn network with a neuron resample of its own."""
    rng = _rng(key)
    networks = len(replicates)
    drawn = rng.integers(networks, size=(RESAMPLES, networks))
    resample = rng.integers(RESAMPLES, size=(RESAMPLES, networks))
    return replicates[drawn, resample].mean(axis=1)


def interval(values: np.ndarray) -> tuple[float, float]:
    """The percentile interval at `CONFIDENCE`."""
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def basic_interval(estimate: float, values: np.ndarray) -> tuple[float, float]:
    """The basic (reverse percentile) interval, 2 x estimate - the percentile interval:
    for a statistic that resampling biases, as the range of noisy means is biased up."""
    low, high = interval(values)
    return 2 * estimate - high, 2 * estimate - low


def effect(pairs, margin: float, key: str) -> Effect:
    """The effect `a - b` over networks from one (a, b) pair of Samples per network;
    networks where either group is not measured are left out."""
    kept = [(a, b) for a, b in pairs if np.isfinite(a.estimate) and np.isfinite(b.estimate)]
    per_network = tuple(a.estimate - b.estimate for a, b in pairs)
    if not kept:
        return Effect(np.nan, np.nan, np.nan, per_network, margin)
    replicates = np.stack([a.replicates - b.replicates for a, b in kept])
    low, high = interval(hierarchical(replicates, key))
    return Effect(float(np.mean([a.estimate - b.estimate for a, b in kept])), low, high,
                  per_network, margin)


def greater(found: Effect, direction: int = 1) -> str:
    """The label of a predicted difference (`direction` +1: a > b; -1: a < b):

    holds: the interval lies beyond 0 on the predicted side and the estimate beyond the
    margin; does not hold: the same on the other side; mixed: networks disagree beyond
    the margin, or the estimate is beyond it but the interval reaches 0; no difference:
    the estimate lies within the margin and no network departs beyond it the other way.
    """
    if not found.measured:
        return MISSING
    e = found.oriented(direction)
    if e.low > 0 and e.estimate >= e.margin:
        return HOLDS
    if e.high < 0 and e.estimate <= -e.margin:
        return FAILS
    networks = [value for value in e.per_network if np.isfinite(value)]
    if networks and max(networks) > e.margin and min(networks) < -e.margin:
        return MIXED
    return NO_DIFFERENCE if abs(e.estimate) < e.margin else MIXED


def not_less(found: Effect) -> str:
    """The label of a predicted "a is not below b": holds when the interval excludes a
    deficit beyond the margin; does not hold when a lies below b (the interval below 0,
    the estimate beyond the margin); mixed otherwise."""
    if not found.measured:
        return MISSING
    if found.low > -found.margin:
        return HOLDS
    if found.high < 0 and found.estimate <= -found.margin:
        return FAILS
    return MIXED


def at_most(value: float, low: float, high: float, limit: float) -> str:
    """The label of a predicted "value <= limit": holds when the whole interval is, does
    not hold when none of it is, mixed otherwise."""
    if not np.isfinite(value):
        return MISSING
    if high <= limit:
        return HOLDS
    return FAILS if low > limit else MIXED


def combine(labels) -> str:
    """A claim's label from its rows' (not-measurable rows shown, not counted): holds
    when every row holds, no difference when every row finds none, does not hold when
    no row holds or is mixed and at least one does not hold, mixed otherwise."""
    labels = [label for label in labels if label != MISSING]
    if not labels:
        return MISSING
    if all(label == HOLDS for label in labels):
        return HOLDS
    if all(label == NO_DIFFERENCE for label in labels):
        return NO_DIFFERENCE
    if FAILS in labels and HOLDS not in labels and MIXED not in labels:
        return FAILS
    return MIXED


def conjunction(labels) -> str:
    """The label of a claim made of parts that must all hold (parts not measurable shown,
    not counted): does not hold if a part does not, no difference if a part finds none,
    holds if every part holds, mixed otherwise; not measurable if no part is measured."""
    labels = [label for label in labels if label != MISSING]
    if not labels:
        return MISSING
    for label in (FAILS, NO_DIFFERENCE):
        if label in labels:
            return label
    return HOLDS if all(label == HOLDS for label in labels) else MIXED
