"""The paper's claims C1-C6 (docs/science.md, section 5), checked against the measured table.

Each claim is a set of per-network, per-area comparisons with a predicted
sign. Verdict over the seeds of a variant: `holds` when every network has the
predicted sign in every area the claim names, `does not hold` when none has,
`inconclusive` when they disagree, `not yet measurable` when the networks it
needs are not there. A comparison with an all-silent cell type (no
selectivity) is shown and left out of the count. A claim that does not hold
is reported plainly.

Every claim reads its quantities through a `Choice` (which selectivity and
density measure, which response), so the same code gives the verdict under
each choice of the sensitivity table.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo.analysis.measure import DEFAULT, DENSITY, NOT_MEASURED, Choice
from ei_zoo.network.config import AREAS
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.paper.figures import ratio_rows

HOLDS, FAILS, MIXED, MISSING = "holds", "does not hold", "inconclusive", "not yet measurable"
MIN_RATIO_POINTS = 3
STEADY_SPREAD = 0.25  # E density "steady": (max - min) / |mean| within this
SELECTIVITY, DENSITY_USE = "selectivity", "density"  # what a claim's verdict depends on
SEED_INTERVAL = ("Mean over the networks of the variant with a 95% t interval "
                 "(n - 1 degrees of freedom; none for one network). Signs: one per network "
                 "in column order; n/a = silent population, shown and not counted.")


@dataclasses.dataclass
class Claim:
    id: str
    statement: str
    verdict: str
    evidence: list[str]
    networks: int
    uses: tuple[str, ...] = (SELECTIVITY, DENSITY_USE)


def verdict(outcomes) -> str:
    outcomes = [bool(o) for o in outcomes if o is not None]
    if not outcomes:
        return MISSING
    if all(outcomes):
        return HOLDS
    if not any(outcomes):
        return FAILS
    return MIXED


def combine_verdicts(*verdicts) -> str:
    if MISSING in verdicts:
        return MISSING
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    return MIXED


def seed_interval(values) -> tuple[float, float, float]:
    """Mean over networks and its 95% t interval (n - 1 df); no interval for n = 1.

    With 3 seeds a bootstrap over networks has 10 distinct resamples and can
    never reach beyond the observed range; the t interval is the honest width.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if len(values) == 1:
        return (mean, np.nan, np.nan)
    if np.ptp(values) == 0:
        return (mean, mean, mean)
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=mean,
                                       scale=scipy.stats.sem(values))
    return mean, float(low), float(high)


def _outcome(value: float, predicted):
    """`predicted(value)`, or None where the value is missing (silent population)."""
    return None if np.isnan(value) else bool(predicted(value))


def _sign(value: float) -> str:
    if np.isnan(value):
        return "n/a"
    return "+" if value > 0 else ("-" if value < 0 else "0")


def _number(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:+.3f}"


def _mean_cell(values) -> str:
    mean, low, high = seed_interval(values)
    if np.isnan(mean):
        return "n/a"
    if np.isnan(low):
        return f"{mean:+.3f} (one network)"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _per_network(table: pd.DataFrame, variant: str, choice: Choice) -> pd.DataFrame:
    """One row per (network, area) of `variant`: the difference columns, and PN - IG,
    PN - OG of the chosen selectivity."""
    rows = table[table["variant"] == variant]
    by_type = rows.set_index(["model", "area", "cell_type"])[choice.selectivity_column].unstack()
    frame = rows.drop_duplicates(["model", "area"]).set_index(["model", "area"])[
        ["D_sel", "D_den", "D_sel_pn", "D_den_pn"]].copy()
    if len(frame):
        frame["PN-IG"] = by_type["PN"] - by_type["IG"]
        frame["PN-OG"] = by_type["PN"] - by_type["OG"]
    return frame


def _comparisons(frame: pd.DataFrame, comparisons) -> tuple[dict, list[str]]:
    """Outcomes per comparison and the evidence table: per-network values, their mean
    with a 95% t interval and the per-seed signs, per area.

    `comparisons`: (column of `frame`, label, predicted test, predicted text).
    """
    models = sorted(frame.index.get_level_values("model").unique())
    lines = [SEED_INTERVAL, "",
             f"| comparison | area | {' | '.join(models)} | mean [95% t interval] | signs "
             "| predicted |", "|---|---|" + "---|" * len(models) + "---|---|---|"]
    outcomes = {}
    for column, label, predicted, predicted_text in comparisons:
        outcomes[column] = []
        for area in AREAS:
            values = [float(frame.loc[(model, area), column]) for model in models]
            outcomes[column] += [_outcome(value, predicted) for value in values]
            lines.append(f"| {label} | {area} | {' | '.join(_number(v) for v in values)} | "
                         f"{_mean_cell(values)} | {' '.join(_sign(v) for v in values)} | "
                         f"{predicted_text} |")
    return outcomes, lines


def _value(row, column) -> str:
    return (f"{row[column]:.3f} [{row[column + '_ci_low']:.3f}, "
            f"{row[column + '_ci_high']:.3f}]")


def claim_c1(table, choice: Choice = DEFAULT) -> Claim:
    statement = "standard: PN more selective than IG and than OG, in area 3 and area 4"
    frame = _per_network(table, "standard", choice)
    if frame.empty:
        return Claim("C1", statement, MISSING, [], 0, (SELECTIVITY,))
    column = choice.selectivity_column
    values = ["| network | area | PN | IG | OG |", "|---|---|---|---|---|"]
    for (model, area), _ in frame.iterrows():
        cells = table[(table["model"] == model) & (table["area"] == area)].set_index("cell_type")
        values.append(f"| {model} | {area} | "
                      + " | ".join(_value(cells.loc[c], column) for c in ("PN", "IG", "OG"))
                      + " |")
    outcomes, differences = _comparisons(frame, [
        ("PN-IG", f"{column}(PN) - {column}(IG)", lambda v: v > 0, "> 0"),
        ("PN-OG", f"{column}(PN) - {column}(OG)", lambda v: v > 0, "> 0"),
    ])
    evidence = [f"`{column}` per cell type [95% bootstrap interval over neurons]:", "",
                *values, "", *differences]
    return Claim("C1", statement, verdict(outcomes["PN-IG"] + outcomes["PN-OG"]), evidence,
                 frame.index.get_level_values("model").nunique(), (SELECTIVITY,))


def claim_c2(table, choice: Choice = DEFAULT) -> Claim:
    statement = "standard: PN (E) connectivity sparser than IG/OG (I), both areas"
    frame = _per_network(table, "standard", choice)
    if frame.empty:
        return Claim("C2", statement, MISSING, [], 0, (DENSITY_USE,))
    outcomes, evidence = _comparisons(frame, [
        ("D_den", f"D_den = {choice.density}(PN) - {choice.density}(IG+OG)"
         + (", oriented" if DENSITY[choice.density] < 0 else ""), lambda v: v < 0, "< 0"),
    ])
    return Claim("C2", statement, verdict(outcomes["D_den"]), evidence,
                 frame.index.get_level_values("model").nunique(), (DENSITY_USE,))


def _ratio_sweep(table, claim_id, statement, uses):
    """(one row per ratio network and area, all rows, missing ids, or a 'not yet' Claim)."""
    rows, missing = ratio_rows(table, seed=None)
    points = rows.drop_duplicates(["model", "area"])
    if points["model"].nunique() >= MIN_RATIO_POINTS:
        return points, rows, missing, None
    return points, rows, missing, Claim(
        claim_id, statement, MISSING,
        [f"Needs at least {MIN_RATIO_POINTS} ratio networks; missing: {', '.join(missing)}."],
        points["model"].nunique(), uses)


def claim_c3(table, choice: Choice = DEFAULT) -> Claim:
    statement = "ratio sweep 1/64..4: the E-I selectivity difference keeps its sign at every ratio"
    points, _, missing, not_yet = _ratio_sweep(table, "C3", statement, (SELECTIVITY,))
    if not_yet:
        return not_yet
    evidence = [f"D_sel = {choice.selectivity_column}(E) - {choice.selectivity_column}(I), "
                "predicted > 0 at every ratio, in every network:", "",
                "| ratio | network | area | D_sel | sign |", "|---|---|---|---|---|"]
    evidence += [f"| {r['ratio']:g} | {r['model']} | {r['area']} | {_number(r['D_sel'])} | "
                 f"{_sign(r['D_sel'])} |"
                 for _, r in points.sort_values(["area", "ratio", "model"]).iterrows()]
    if missing:
        evidence.append(f"Missing: {', '.join(missing)}.")
    result = verdict(_outcome(value, lambda v: v > 0) for value in points["D_sel"])
    return Claim("C3", statement, result if not missing or result != HOLDS else MIXED,
                 evidence, points["model"].nunique(), (SELECTIVITY,))


def claim_c4(table, choice: Choice = DEFAULT) -> Claim:
    statement = "ratio sweep: I density falls as I channels grow; E density stays steady"
    points, rows, _, not_yet = _ratio_sweep(table, "C4", statement, (DENSITY_USE,))
    if not_yet:
        return not_yet
    # Oriented so that "falls" means "gets sparser" under every density measure.
    density = rows[choice.density] * DENSITY[choice.density]
    evidence = [f"Density measure: `{choice.density}`"
                + (" (negated: a larger Gini is sparser)" if DENSITY[choice.density] < 0
                   else "") + "; networks of one ratio averaged.", "",
                "| area | Spearman(ratio, I density) | E density range / mean |",
                "|---|---|---|"]
    falls, steady = [], []
    for area in AREAS:
        in_area = rows["area"] == area
        inhibitory = density[in_area & ~rows["excitatory"]].groupby(rows["ratio"]).mean()
        excitatory = density[in_area & rows["excitatory"]].groupby(rows["ratio"]).mean()
        rho = (scipy.stats.spearmanr(np.log2(inhibitory.index), inhibitory.to_numpy()).statistic
               if np.ptp(inhibitory.to_numpy()) > 0 else np.nan)  # constant: no trend to rank
        spread = float(np.ptp(excitatory.to_numpy()) / abs(excitatory.mean()))
        falls.append(_outcome(rho, lambda v: v < 0))
        steady.append(_outcome(spread, lambda v: v <= STEADY_SPREAD))
        evidence.append(f"| {area} | {rho:+.2f} | {spread:.2f} (steady if <= {STEADY_SPREAD}) |")
    return Claim("C4", statement, combine_verdicts(verdict(falls), verdict(steady)), evidence,
                 points["model"].nunique(), (DENSITY_USE,))


def _principal_claim(table, choice, claim_id, variant, statement) -> Claim:
    frame = _per_network(table, variant, choice)
    if frame.empty:
        return Claim(claim_id, statement, MISSING, [], 0)
    outcomes, evidence = _comparisons(frame, [
        ("D_sel_pn", f"{choice.selectivity_column}(PN) - {choice.selectivity_column}(IG+OG)",
         lambda v: v > 0, "> 0 (more selective)"),
        ("D_den_pn", f"{choice.density}(PN) - {choice.density}(IG+OG)"
         + (", oriented" if DENSITY[choice.density] < 0 else ""),
         lambda v: v >= 0, ">= 0 (not sparser)"),
    ])
    return Claim(claim_id, statement,
                 combine_verdicts(verdict(outcomes["D_sel_pn"]), verdict(outcomes["D_den_pn"])),
                 evidence, frame.index.get_level_values("model").nunique())


def claim_c5(table, choice: Choice = DEFAULT) -> Claim:
    return _principal_claim(
        table, choice, "C5", "inh_pn",
        "inh_pn: principal (I) neurons more selective than (E) interneurons, "
        "and their connectivity is not sparser")


def claim_c6(table, choice: Choice = DEFAULT) -> Claim:
    return _principal_claim(
        table, choice, "C6", "no_dale",
        "no_dale: PN more selective than interneurons; PN connectivity not sparser")


CLAIMS = (claim_c1, claim_c2, claim_c3, claim_c4, claim_c5, claim_c6)


# The variants each claim is judged on.
RATIO_VARIANTS = tuple("standard" if ratio == Fraction(1, 4) else ratio_name(ratio)
                       for ratio in RATIOS)
CLAIM_VARIANTS = {"C1": ("standard",), "C2": ("standard",), "C3": RATIO_VARIANTS,
                  "C4": RATIO_VARIANTS, "C5": ("inh_pn",), "C6": ("no_dale",)}


def check_claims(table: pd.DataFrame, choice: Choice = DEFAULT) -> list[Claim]:
    """Every claim's verdict on `table` (a `combine` output made with the same `choice`);
    each claim's evidence ends by naming its networks' non-functional populations."""
    claims = [claim(table, choice) for claim in CLAIMS]
    for claim in claims:
        claim.evidence += ["", non_functional(table, CLAIM_VARIANTS[claim.id])]
    return claims


def non_functional(table: pd.DataFrame, variants) -> str:
    """The populations of `variants`' networks that are not functional, in one sentence."""
    rows = table[table["variant"].isin(variants)].drop_duplicates(["model", "area", "cell_type"])
    measured = rows[rows["functional"] != NOT_MEASURED] if "functional" in rows else rows[:0]
    if measured.empty:
        return ("Function not measured in these exports (`ei-zoo perturb ID --save` keeps it), "
                "so the `functional populations only` verdict counts every population.")
    off = measured[measured["functional"] == "no"]
    if off.empty:
        return (f"Every population of these {measured['model'].nunique()} networks is "
                "functional (its mean clamp costs more than 1 point of test accuracy).")
    groups = off.groupby(["area", "cell_type"], sort=False)["model"].apply(list)
    return ("Not functional (mean clamp costs at most 1 point of test accuracy; counted under "
            "every column but `functional populations only`): "
            + "; ".join(f"{area} {cell_type} in {', '.join(models)}"
                        for (area, cell_type), models in groups.items()) + ".")


def report(claims: list[Claim], header: list[str] = (), sensitivity: list[str] = (),
           design: list[str] = ()) -> str:
    """The claims report as Markdown: the verdicts first, then how robust they are to
    the choice of measure and (`design`) to the zoo's training choices, the networks
    and measures, and each claim's numbers."""
    lines = ["# The paper's claims, checked against this zoo", "",
             "| claim | verdict | networks |", "|---|---|---|"]
    lines += [f"| {c.id}: {c.statement} | **{c.verdict}** | {c.networks} |" for c in claims]
    lines += ["", "## Does each verdict survive the choice of measure?", "", *sensitivity]
    if design:
        lines += ["", "## Which of the zoo's design choices decide each verdict?", "", *design]
    lines += ["", "## Networks and measures", "", *header]
    for claim in claims:
        lines += ["", f"## {claim.id}: {claim.statement}", "", f"Verdict: **{claim.verdict}** "
                  f"({claim.networks} network(s)).", "", *claim.evidence]
    return "\n".join(lines) + "\n"
