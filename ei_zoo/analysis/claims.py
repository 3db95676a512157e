"""The paper's claims C1-C6 (SPEC section 5), checked against the measured table.

Each claim is a set of per-network, per-area comparisons with a predicted
sign; a comparison with an all-silent cell type (no selectivity) is left out
and shown as such. Verdict: `holds` when every comparison has the predicted sign, `does not
hold` when none has, `inconclusive` when they disagree, `not yet measurable`
when the networks it needs are not there. A claim that does not hold is
reported plainly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo.analysis.figures import ratio_rows
from ei_zoo.analysis.measure import AREAS

HOLDS, FAILS, MIXED, MISSING = "holds", "does not hold", "inconclusive", "not yet measurable"
MIN_RATIO_POINTS = 3
STEADY_SPREAD = 0.25  # E density "steady": (max - min) / mean within this


@dataclasses.dataclass
class Claim:
    id: str
    statement: str
    verdict: str
    evidence: list[str]
    networks: int


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


def _greater(left: float, right: float):
    """left > right, or None where a cell type is all silent (no selectivity to compare)."""
    return None if np.isnan(left) or np.isnan(right) else bool(left > right)


def _answer(outcome) -> str:
    return "n/a (silent)" if outcome is None else ("yes" if outcome else "no")


def _value(row) -> str:
    return (f"{row['selectivity']:.3f} [{row['selectivity_ci_low']:.3f}, "
            f"{row['selectivity_ci_high']:.3f}]")


def _cell(table, model, area, cell_type):
    return table[(table["model"] == model) & (table["area"] == area)
                 & (table["cell_type"] == cell_type)].iloc[0]


def _per_area(table: pd.DataFrame, variant: str) -> pd.DataFrame:
    return table[table["variant"] == variant].drop_duplicates(["model", "area"])


def _sign(value: float) -> str:
    return "+" if value > 0 else ("-" if value < 0 else "0")


def claim_c1(table) -> Claim:
    evidence, outcomes = ["| network | area | PN | IG | OG | PN>IG | PN>OG |",
                          "|---|---|---|---|---|---|---|"], []
    models = sorted(set(table.loc[table["variant"] == "standard", "model"]))
    for model in models:
        for area in AREAS:
            pn, ig, og = (_cell(table, model, area, c) for c in ("PN", "IG", "OG"))
            above = [_greater(pn["selectivity"], other["selectivity"]) for other in (ig, og)]
            outcomes += above
            evidence.append(f"| {model} | {area} | {_value(pn)} | {_value(ig)} | {_value(og)} "
                            f"| {_answer(above[0])} | {_answer(above[1])} |")
    return Claim("C1", "standard: PN more selective than IG and than OG, in area 3 and area 4",
                 verdict(outcomes), evidence if models else [], len(models))


def _difference_claim(table, variant, column, predicted, label):
    """Per-network, per-area values of a difference column, each tested by `predicted`."""
    rows = _per_area(table, variant)
    evidence = [f"| network | area | {label} | sign |", "|---|---|---|---|"]
    outcomes = []
    for _, row in rows.iterrows():
        outcomes.append(None if np.isnan(row[column]) else predicted(row[column]))
        evidence.append(f"| {row['model']} | {row['area']} | {row[column]:+.3f} | "
                        f"{_sign(row[column])} |")
    for area in AREAS:
        values = rows.loc[rows["area"] == area, column].to_numpy(dtype=float)
        if len(values):
            evidence.append(f"| mean of {len(values)} | {area} | {values.mean():+.3f} | "
                            f"{''.join(_sign(v) for v in values)} |")
    return verdict(outcomes), (evidence if len(rows) else []), rows["model"].nunique()


def claim_c2(table) -> Claim:
    result, evidence, networks = _difference_claim(
        table, "standard", "D_den", lambda value: value < 0,
        "D_den = density(PN) - density(IG+OG)")
    return Claim("C2", "standard: PN (E) connectivity sparser than IG/OG (I), both areas",
                 result, evidence, networks)


def _ratio_sweep(table, claim_id, statement):
    """(one row per ratio network and area, all rows, missing ids, or a 'not yet' Claim)."""
    rows, missing = ratio_rows(table)
    points = rows.drop_duplicates(["model", "area"])
    if points["model"].nunique() >= MIN_RATIO_POINTS:
        return points, rows, missing, None
    return points, rows, missing, Claim(
        claim_id, statement, MISSING,
        [f"Needs at least {MIN_RATIO_POINTS} ratio networks; missing: {', '.join(missing)}."],
        points["model"].nunique())


def claim_c3(table) -> Claim:
    statement = "ratio sweep 1/64..4: the E-I selectivity difference keeps its sign at every ratio"
    rows, _, missing, not_yet = _ratio_sweep(table, "C3", statement)
    if not_yet:
        return not_yet
    evidence = ["| ratio | area | D_sel |", "|---|---|---|"]
    evidence += [f"| {r['ratio']:g} | {r['area']} | {r['D_sel']:+.3f} |"
                 for _, r in rows.sort_values(["area", "ratio"]).iterrows()]
    if missing:
        evidence.append(f"Missing: {', '.join(missing)}.")
    result = verdict(rows["D_sel"] > 0)
    return Claim("C3", statement, result if not missing or result != HOLDS else MIXED,
                 evidence, rows["model"].nunique())


def claim_c4(table) -> Claim:
    statement = "ratio sweep: I density falls as I channels grow; E density stays steady"
    points, rows, _, not_yet = _ratio_sweep(table, "C4", statement)
    if not_yet:
        return not_yet
    evidence = ["| area | Spearman(ratio, I density) | E density range / mean |", "|---|---|---|"]
    falls, steady = [], []
    for area in AREAS:
        area_rows = rows[rows["area"] == area]
        inhibitory = area_rows[~area_rows["excitatory"]].groupby("ratio")["density"].mean()
        excitatory = area_rows[area_rows["excitatory"]].groupby("ratio")["density"].mean()
        rho = scipy.stats.spearmanr(np.log2(inhibitory.index), inhibitory.to_numpy()).statistic
        spread = float(np.ptp(excitatory.to_numpy()) / excitatory.mean())
        falls.append(rho < 0)
        steady.append(spread <= STEADY_SPREAD)
        evidence.append(f"| {area} | {rho:+.2f} | {spread:.2f} (steady if <= {STEADY_SPREAD}) |")
    return Claim("C4", statement, combine_verdicts(verdict(falls), verdict(steady)), evidence,
                 points["model"].nunique())


def _principal_claim(table, claim_id, variant, statement) -> Claim:
    more_selective, sel_evidence, networks = _difference_claim(
        table, variant, "D_sel_pn", lambda value: value > 0,
        "selectivity(PN) - selectivity(IG+OG)")
    not_sparser, den_evidence, _ = _difference_claim(
        table, variant, "D_den_pn", lambda value: value >= 0,
        "density(PN) - density(IG+OG)")
    evidence = (["Selectivity (predicted > 0):", "", *sel_evidence, "",
                 "Density (predicted >= 0, not sparser):", "", *den_evidence]
                if networks else [])
    return Claim(claim_id, statement, combine_verdicts(more_selective, not_sparser), evidence,
                 networks)


def claim_c5(table) -> Claim:
    return _principal_claim(
        table, "C5", "inh_pn",
        "inh_pn: principal (I) neurons more selective than (E) interneurons, "
        "and their connectivity is not sparser")


def claim_c6(table) -> Claim:
    return _principal_claim(
        table, "C6", "no_dale",
        "no_dale: PN more selective than interneurons; PN connectivity not sparser")


def check_claims(table: pd.DataFrame) -> list[Claim]:
    return [claim(table) for claim in (claim_c1, claim_c2, claim_c3, claim_c4, claim_c5,
                                       claim_c6)]


def report(claims: list[Claim], header: list[str] = ()) -> str:
    """The claims report as Markdown."""
    lines = ["# The paper's claims, checked against this zoo", "", *header, "",
             "| claim | verdict | networks |", "|---|---|---|"]
    lines += [f"| {c.id}: {c.statement} | **{c.verdict}** | {c.networks} |" for c in claims]
    for claim in claims:
        lines += ["", f"## {claim.id}: {claim.statement}", "", f"Verdict: **{claim.verdict}** "
                  f"({claim.networks} network(s)).", "", *claim.evidence]
    return "\n".join(lines) + "\n"
