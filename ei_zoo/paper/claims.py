"""The paper's claims C1-C6 (docs/science.md, section 5), judged on the measured zoo.

Each claim is a set of comparisons between groups of neurons, per area, with a
predicted direction. Every comparison is an effect (`ei_zoo.paper.effects`): the
difference of the two groups' population values averaged over the variant's
networks, its 95% hierarchical-bootstrap interval (networks, then neurons) and a
label against the measure's margin of practical equivalence: `holds`, `does not
hold`, `no difference`, `mixed` or `not measurable`. A claim's label combines its
rows (`effects.combine`). Every claim is read twice: as docs/science.md states it
(`SPEC`), and with the interneurons the other way (pooled IG+OG where SPEC
compares them separately, separately where SPEC pools them); SPEC's reading gives
the verdict. A claim that does not hold is reported plainly.

    samples = effects.zoo_samples(measured, thresholds)
    for claim in check_claims(combine(measured, thresholds), samples):
        print(claim.id, claim.verdict)

Every claim reads its quantities through a `Choice` (which selectivity and
density measure, which response, which stage), so the same code gives the
verdict under each choice of the sensitivity table.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo.analysis.measure import DEFAULT, DENSITY, NOT_MEASURED, Choice
from ei_zoo.analysis.perturbation import FUNCTIONAL_DROP, INDETERMINATE, NOT_FUNCTIONAL
from ei_zoo.network.config import AREAS
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.paper import effects
from ei_zoo.paper.effects import (
    DENSITY_QUANTITY,
    FAILS,
    HOLDS,
    MISSING,
    MIXED,
    NO_DIFFERENCE,
    SELECTIVITY_QUANTITY,
    Effect,
    margin_for,
)
from ei_zoo.paper.figures import ratio_rows

__all__ = ["HOLDS", "FAILS", "NO_DIFFERENCE", "MIXED", "MISSING", "Claim", "check_claims"]

MIN_RATIO_POINTS = 3
STEADY_SPREAD = 0.25  # E density "steady": (max - min) / |mean| over the ratios within this
RHO_MARGIN = 0.3      # a rank correlation within +-0.3 over 9 ratios is no trend
SELECTIVITY, DENSITY_USE = "selectivity", "density"  # what a claim's verdict depends on
SPEC, OTHER = "SPEC", "other"  # the two readings of every claim
SEPARATE = (("PN", "IG"), ("PN", "OG"))
POOLED = (("PN", "IG+OG"),)


@dataclasses.dataclass
class Claim:
    """One claim judged: SPEC's reading gives `verdict`, the other reading `other`."""

    id: str
    statement: str
    verdict: str
    evidence: list[str]
    networks: int
    uses: tuple[str, ...] = (SELECTIVITY, DENSITY_USE)
    other: str = MISSING
    readings: dict = dataclasses.field(default_factory=dict)  # reading -> what it compares
    areas: dict = dataclasses.field(default_factory=dict)     # area -> SPEC's label there

    @property
    def summary(self) -> str:
        """The verdict where the areas agree; else each area's label: `area3 holds, area4
        does not hold`."""
        labels = [self.areas[area] for area in AREAS if area in self.areas]
        if len(set(labels)) <= 1:
            return self.verdict
        return ", ".join(f"{area} {self.areas[area]}" for area in AREAS)


@dataclasses.dataclass
class Row:
    """One comparison of one area: its effect and label."""

    reading: str
    comparison: str
    area: str
    effect: Effect
    label: str
    predicted: str
    part: str  # what of the claim it tests: a quantity and a comparison


def _models(table: pd.DataFrame, variant: str) -> list[str]:
    return sorted(table.loc[table["variant"] == variant, "model"].unique())


def _effect(samples, models, area, a, b, quantity, choice, key) -> Effect:
    pairs = [(samples[model][(area, a, quantity)], samples[model][(area, b, quantity)])
             for model in models]
    return effects.effect(pairs, margin_for(choice, quantity), key)


def _rows(samples, models, pairs, quantity, choice, reading, claim_id, predicted) -> list[Row]:
    """One Row per (pair, area): `predicted` is "greater", "less" or "not less"."""
    name = choice.selectivity_column if quantity == SELECTIVITY_QUANTITY else choice.density
    rows = []
    for a, b in pairs:
        for area in AREAS:
            found = _effect(samples, models, area, a, b, quantity, choice,
                            f"{claim_id}/{reading}/{a}-{b}/{area}/{quantity}/{choice}")
            label = (effects.not_less(found) if predicted == "not less"
                     else effects.greater(found, -1 if predicted == "less" else 1))
            rows.append(Row(reading, f"{name}({a}) - {name}({b})", area, found, label,
                            {"greater": "> 0", "less": "< 0", "not less": ">= 0"}[predicted],
                            f"{quantity} {a}-{b}"))
    return rows


def _number(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.3f}"


def _row_table(rows: list[Row], models: list[str]) -> list[str]:
    """The evidence table: per row, each network's difference, the effect and its label."""
    lines = [f"| reading | comparison | area | {' | '.join(models)} | effect [95% interval] "
             "| margin | predicted | label |",
             "|---|---|---|" + "---|" * len(models) + "---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.reading} | {row.comparison} | {row.area} | "
                     f"{' | '.join(_number(v) for v in row.effect.per_network)} | "
                     f"{row.effect.text()} | {row.effect.margin:g} | {row.predicted} | "
                     f"{row.label} |")
    return lines


EFFECT_NOTE = (
    "Effect: the difference of population values averaged over the networks, with its 95% "
    "hierarchical bootstrap interval (networks resampled, then neurons within each); one "
    "column per network gives its own difference (n/a: a silent or uncounted population, "
    "shown and not counted). Oriented densities: larger is denser under every measure.")


def _labels(labels: dict, claim_id, statement, evidence, networks, uses, readings) -> Claim:
    """A Claim from its rows' labels, {(reading, area, part): [label, ...]}: each part of
    the claim (one comparison of selectivity or density, one trend) combined over its
    areas (`effects.combine`), the parts then joined (`effects.conjunction`)."""
    def combined(reading, areas=AREAS):
        parts = sorted({part for read, _, part in labels if read == reading})
        return effects.conjunction([effects.combine(
            label for area in areas for label in labels.get((reading, area, part), ()))
            for part in parts])

    return Claim(claim_id, statement, combined(SPEC), evidence, networks, uses, combined(OTHER),
                 readings, {area: combined(SPEC, [area]) for area in AREAS})


def _judged(claim_id, statement, rows, models, uses, readings, extra=()) -> Claim:
    labels = {}
    for row in rows:
        labels.setdefault((row.reading, row.area, row.part), []).append(row.label)
    evidence = [*extra, EFFECT_NOTE, "", *_row_table(rows, models)]
    return _labels(labels, claim_id, statement, evidence, len(models), uses, readings)


def _value(row, column) -> str:
    return (f"{row[column]:.3f} [{row[column + '_ci_low']:.3f}, "
            f"{row[column + '_ci_high']:.3f}]")


def claim_c1(table, samples, choice: Choice = DEFAULT) -> Claim:
    statement = "standard: PN more selective than IG and than OG, in area 3 and area 4"
    models = _models(table, "standard")
    readings = {SPEC: "PN against IG and against OG", OTHER: "PN against IG+OG pooled"}
    if not models:
        return Claim("C1", statement, MISSING, [], 0, (SELECTIVITY,), MISSING, readings)
    column = choice.selectivity_column
    values = ["| network | area | PN | IG | OG |", "|---|---|---|---|---|"]
    for model in models:
        for area in AREAS:
            cells = table[(table["model"] == model)
                          & (table["area"] == area)].set_index("cell_type")
            values.append(f"| {model} | {area} | " + " | ".join(
                _value(cells.loc[c], column) for c in ("PN", "IG", "OG")) + " |")
    rows = (_rows(samples, models, SEPARATE, SELECTIVITY_QUANTITY, choice, SPEC, "C1", "greater")
            + _rows(samples, models, POOLED, SELECTIVITY_QUANTITY, choice, OTHER, "C1",
                    "greater"))
    extra = [f"`{column}` per cell type [95% bootstrap interval over neurons]:", "", *values, ""]
    return _judged("C1", statement, rows, models, (SELECTIVITY,), readings, extra)


def claim_c2(table, samples, choice: Choice = DEFAULT) -> Claim:
    statement = "standard: PN (E) connectivity sparser than IG/OG (I), both areas"
    models = _models(table, "standard")
    readings = {SPEC: "PN against IG+OG pooled", OTHER: "PN against IG and against OG"}
    if not models:
        return Claim("C2", statement, MISSING, [], 0, (DENSITY_USE,), MISSING, readings)
    rows = (_rows(samples, models, POOLED, DENSITY_QUANTITY, choice, SPEC, "C2", "less")
            + _rows(samples, models, SEPARATE, DENSITY_QUANTITY, choice, OTHER, "C2", "less"))
    return _judged("C2", statement, rows, models, (DENSITY_USE,), readings)


def _ratio_sweep(table, claim_id, statement, uses, readings):
    """(ratio -> its networks, missing ids, or a 'not yet' Claim)."""
    rows, missing = ratio_rows(table, seed=None)
    by_ratio = {Fraction(ratio).limit_denominator(): sorted(group["model"].unique())
                for ratio, group in rows.groupby("ratio")}
    if len(by_ratio) >= MIN_RATIO_POINTS:
        return by_ratio, missing, None
    return by_ratio, missing, Claim(
        claim_id, statement, MISSING,
        [f"Needs at least {MIN_RATIO_POINTS} ratio networks; missing: {', '.join(missing)}."],
        sum(map(len, by_ratio.values())), uses, MISSING, readings)


def claim_c3(table, samples, choice: Choice = DEFAULT) -> Claim:
    statement = "ratio sweep 1/64..4: the E-I selectivity difference keeps its sign at every ratio"
    readings = {SPEC: "E against I (IG+OG) pooled", OTHER: "E (PN) against IG and against OG"}
    by_ratio, missing, not_yet = _ratio_sweep(table, "C3", statement, (SELECTIVITY,), readings)
    if not_yet:
        return not_yet
    name = choice.selectivity_column
    lines = [EFFECT_NOTE, "", "| reading | comparison | ratio | networks | area | "
             "effect [95% interval] | margin | label |", "|---|---|---|---|---|---|---|---|"]
    labels = {}
    for reading, pairs in ((SPEC, (("E", "I"),)), (OTHER, SEPARATE)):
        for a, b in pairs:
            for area in AREAS:
                for ratio, models in by_ratio.items():
                    found = _effect(samples, models, area, a, b, SELECTIVITY_QUANTITY, choice,
                                    f"C3/{reading}/{a}-{b}/{area}/{ratio}/{choice}")
                    label = effects.greater(found)
                    labels.setdefault((reading, area, f"{a}-{b}"), []).append(label)
                    lines.append(f"| {reading} | {name}({a}) - {name}({b}) | {ratio} | "
                                 f"{len(models)} | {area} | {found.text()} | {found.margin:g} "
                                 f"| {label} |")
    if missing:  # "at every ratio" cannot hold while ratios are missing
        lines.append(f"Missing: {', '.join(missing)}; counted as one mixed row.")
        for key in labels:
            labels[key].append(MIXED)
    return _labels(labels, "C3", statement, lines, sum(map(len, by_ratio.values())),
                   (SELECTIVITY,), readings)


def _ratio_means(samples, by_ratio, area, group, key) -> tuple[np.ndarray, np.ndarray]:
    """Per ratio: the oriented density of `group` averaged over the ratio's networks, and
    its hierarchical bootstrap values [ratios, RESAMPLES]."""
    estimates, replicates = [], []
    for ratio, models in by_ratio.items():
        found = [samples[model][(area, group, DENSITY_QUANTITY)] for model in models]
        estimates.append(np.mean([sample.estimate for sample in found]))
        replicates.append(effects.hierarchical(
            np.stack([sample.replicates for sample in found]), f"{key}/{ratio}"))
    return np.array(estimates), np.stack(replicates)


def _spearman(log_ratios: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Spearman's rho of each column of `values` [ratios, k] against the ratios."""
    x = scipy.stats.rankdata(log_ratios)
    y = scipy.stats.rankdata(values, axis=0)
    x, y = x - x.mean(), y - y.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x @ y) / np.sqrt((x ** 2).sum() * (y ** 2).sum(axis=0))


def claim_c4(table, samples, choice: Choice = DEFAULT) -> Claim:
    statement = "ratio sweep: I density falls as I channels grow; E density stays steady"
    readings = {SPEC: "I density pooled (IG+OG)", OTHER: "IG and OG density separately"}
    by_ratio, _, not_yet = _ratio_sweep(table, "C4", statement, (DENSITY_USE,), readings)
    if not_yet:
        return not_yet
    log_ratios = np.log2([float(ratio) for ratio in by_ratio])
    lines = [f"Density measure: `{choice.density}`"
             + (" (negated: a larger Gini is sparser)" if DENSITY[choice.density] < 0 else "")
             + "; networks of one ratio averaged. Intervals: 95% hierarchical bootstrap "
             "(networks of a ratio, then neurons); for the range / mean, which resampling "
             "biases upward, the basic (reverse percentile) interval.", "",
             "| reading | quantity | area | value [95% interval] | predicted | label |",
             "|---|---|---|---|---|---|"]
    labels = {}
    for area in AREAS:
        for reading, group in ((SPEC, "I"), (OTHER, "IG"), (OTHER, "OG")):
            estimates, replicates = _ratio_means(samples, by_ratio, area, group,
                                                 f"C4/{group}/{area}/{choice}")
            rho = (float(_spearman(log_ratios, estimates[:, None])[0])
                   if np.ptp(estimates) > 0 else np.nan)  # constant: no trend to rank
            low, high = effects.interval(np.nan_to_num(_spearman(log_ratios, replicates)))
            found = Effect(rho, low, high, (), RHO_MARGIN)
            label = effects.greater(found, -1)
            labels.setdefault((reading, area, f"falls {group}"), []).append(label)
            lines.append(f"| {reading} | Spearman(ratio, {group} density) | {area} | "
                         f"{found.text()} | < 0 (margin {RHO_MARGIN:g}) | {label} |")
        estimates, replicates = _ratio_means(samples, by_ratio, area, "E",
                                             f"C4/E/{area}/{choice}")
        with np.errstate(invalid="ignore"):  # no E weight above θ (untrained): NaN
            spread = float(np.ptp(estimates) / abs(estimates.mean()))
            low, high = effects.basic_interval(
                spread, np.ptp(replicates, axis=0) / np.abs(replicates.mean(axis=0)))
        low = max(low, 0.0)
        label = effects.at_most(spread, low, high, STEADY_SPREAD)
        for reading in (SPEC, OTHER):
            labels[(reading, area, "steady")] = [label]
        lines.append(f"| both | E density range / mean | {area} | {spread:.3f} "
                     f"[{low:.3f}, {high:.3f}] | <= {STEADY_SPREAD} | {label} |")
    return _labels(labels, "C4", statement, lines, sum(map(len, by_ratio.values())),
                   (DENSITY_USE,), readings)


def _principal_claim(table, samples, choice, claim_id, variant, statement) -> Claim:
    models = _models(table, variant)
    readings = {SPEC: "PN against IG+OG pooled", OTHER: "PN against IG and against OG"}
    if not models:
        return Claim(claim_id, statement, MISSING, [], 0, readings=readings)
    rows = []
    for reading, pairs in ((SPEC, POOLED), (OTHER, SEPARATE)):
        rows += _rows(samples, models, pairs, SELECTIVITY_QUANTITY, choice, reading, claim_id,
                      "greater")
        rows += _rows(samples, models, pairs, DENSITY_QUANTITY, choice, reading, claim_id,
                      "not less")
    return _judged(claim_id, statement, rows, models, (SELECTIVITY, DENSITY_USE), readings)


def claim_c5(table, samples, choice: Choice = DEFAULT) -> Claim:
    return _principal_claim(
        table, samples, choice, "C5", "inh_pn",
        "inh_pn: principal (I) neurons more selective than (E) interneurons, "
        "and their connectivity is not sparser")


def claim_c6(table, samples, choice: Choice = DEFAULT) -> Claim:
    return _principal_claim(
        table, samples, choice, "C6", "no_dale",
        "no_dale: PN more selective than interneurons; PN connectivity not sparser")


CLAIMS = (claim_c1, claim_c2, claim_c3, claim_c4, claim_c5, claim_c6)


# The variants each claim is judged on.
RATIO_VARIANTS = tuple("standard" if ratio == Fraction(1, 4) else ratio_name(ratio)
                       for ratio in RATIOS)
CLAIM_VARIANTS = {"C1": ("standard",), "C2": ("standard",), "C3": RATIO_VARIANTS,
                  "C4": RATIO_VARIANTS, "C5": ("inh_pn",), "C6": ("no_dale",)}


def check_claims(table: pd.DataFrame, samples: dict, choice: Choice = DEFAULT) -> list[Claim]:
    """Every claim judged on `table` (a `combine` output) and `samples` (model ->
    `effects.population_samples`), both made with `choice`; each claim's evidence ends
    by naming its networks' non-functional populations.

    Raises:
        KeyError: a network of `table` has no samples.
    """
    claims = [claim(table, samples, choice) for claim in CLAIMS]
    for claim in claims:
        claim.evidence += ["", non_functional(table, CLAIM_VARIANTS[claim.id])]
    return claims


def non_functional(table: pd.DataFrame, variants) -> str:
    """The populations of `variants`' networks that are not functional, and those whose
    function is indeterminate, in one sentence."""
    rows = table[table["variant"].isin(variants)].drop_duplicates(["model", "area", "cell_type"])
    measured = rows[rows["functional"] != NOT_MEASURED] if "functional" in rows else rows[:0]
    if measured.empty:
        return ("Function not measured in these exports (`ei-zoo perturb ID --save` keeps it), "
                "so the `functional populations only` verdict counts every population.")
    line = f"{100 * FUNCTIONAL_DROP:g} point of test accuracy"
    parts = []
    for label, words in (
            (NOT_FUNCTIONAL, f"Not functional (clamped to its per-step means it costs less than "
                             f"{line}, the whole paired 95% interval below the line; counted "
                             "under every column but `functional populations only`)"),
            (INDETERMINATE, f"indeterminate (the interval straddles {line}; counted)")):
        groups = measured[measured["functional"] == label].groupby(
            ["area", "cell_type"], sort=False)["model"].apply(list)
        if len(groups):
            parts.append(words + ": " + "; ".join(
                f"{area} {cell_type} in {', '.join(models)}"
                for (area, cell_type), models in groups.items()))
    if not parts:
        return (f"Every population of these {measured['model'].nunique()} networks is "
                f"functional (clamped to its per-step means it costs more than {line}, the "
                "whole paired 95% interval above the line).")
    return ". ".join(part[0].upper() + part[1:] for part in parts) + "."
