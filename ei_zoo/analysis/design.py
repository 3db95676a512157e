"""Design sensitivity: which of the zoo's training choices decide each claim's verdict.

The study's networks (`ei_zoo.study`: `standard`, `inh_pn` and `no_dale` at
seed 0, each with one change from recipe 2) are judged exactly as the paper's
zoo is, a change's networks standing in for their base variants; the paper's
own seed-0 networks are the `recipe 2` column. Every claim is judged twice:
under SPEC's measures, and on functional populations only. The ratio claims
C3 and C4 need the ratio sweep, which the study does not retrain: under a
change they are `not yet measurable`. One network per variant and change, so a
verdict here is that network's, not a verdict over seeds.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from ei_zoo.analysis.claims import CLAIM_VARIANTS, check_claims
from ei_zoo.analysis.measure import DEFAULT, Choice, combine
from ei_zoo.study import CHANGES, parse_study_variant

RECIPE = "recipe 2"  # the paper's zoo at seed 0: what every change departs from
FUNCTIONAL_CHOICE = Choice(functional_only=True)
SPEC_SUFFIX, FUNCTIONAL_SUFFIX, OFF_SUFFIX = "", ", functional only", ", non-functional"


def change_groups(zoo, study) -> dict[str, list]:
    """Column label -> the Measurements judged under it: `RECIPE` (the zoo's seed-0
    networks), then each change with networks, relabelled to their base variants."""
    groups = {RECIPE: [measurements for measurements in zoo if measurements.seed == 0]}
    for change in CHANGES:
        members = []
        for measurements in study:
            parsed = parse_study_variant(measurements.variant)
            if parsed is not None and parsed[1].name == change.name:
                members.append(dataclasses.replace(measurements, variant=parsed[0]))
        if members:
            groups[change.name] = members
    return groups


def design_table(zoo, study, thresholds: dict) -> pd.DataFrame:
    """One row per claim; per column of `change_groups`: the verdict under SPEC's
    measures, the verdict on functional populations only, and the claim's
    networks' non-functional populations."""
    rows = {}
    for label, measurements in change_groups(zoo, study).items():
        for choice, suffix in ((DEFAULT, SPEC_SUFFIX), (FUNCTIONAL_CHOICE, FUNCTIONAL_SUFFIX)):
            table = combine(measurements, thresholds, choice, intervals=False)
            for claim in check_claims(table, choice):
                row = rows.setdefault(claim.id, {"claim": f"{claim.id}: {claim.statement}"})
                row[label + suffix] = claim.verdict
                if choice == DEFAULT:
                    row[label + OFF_SUFFIX] = non_functional_populations(
                        table, CLAIM_VARIANTS[claim.id])
    return pd.DataFrame(list(rows.values()))


def non_functional_populations(table: pd.DataFrame, variants) -> str:
    """`variant area cell type` of every population of `variants` measured to be
    non-functional ("none"; "not measured" where no export keeps its perturbations)."""
    rows = table[table["variant"].isin(variants)].drop_duplicates(["model", "area", "cell_type"])
    if rows.empty or (rows["functional"] == "not measured").all():
        return "not measured"
    off = rows[rows["functional"] == "no"]
    return "; ".join(f"{row.variant} {row.area} {row.cell_type}"
                     for row in off.itertuples()) or "none"


def markdown(table: pd.DataFrame) -> list[str]:
    """The design-sensitivity table for `claims.md`: per change, the verdict under
    SPEC's measures / on functional populations only; then the non-functional ones."""
    labels = [column for column in table.columns
              if column != "claim" and not column.endswith((FUNCTIONAL_SUFFIX, OFF_SUFFIX))]
    shown = pd.DataFrame({"claim": table["claim"].str.split(":").str[0]})
    for label in labels:
        shown[label] = table[label] + " / " + table[label + FUNCTIONAL_SUFFIX]
    hypotheses = {change.name: change for change in CHANGES}
    lines = [
        "Each change from recipe 2 trained on `standard`, `inh_pn` and `no_dale` at seed 0 "
        "(`ei_zoo.study`); `recipe 2` is the paper's zoo at seed 0. A cell: the verdict under "
        "SPEC's measures / on functional populations only, for that one network per variant. "
        "C3 and C4 need the ratio sweep, which the study does not retrain. Table: "
        "`design_sensitivity.csv`.",
        "",
        shown.to_markdown(index=False),
        "",
        "Non-functional populations (mean clamp costs at most 1 point of test accuracy):",
        "",
    ]
    for label in labels:
        off = sorted({part for value in table[label + OFF_SUFFIX]
                      for part in value.split("; ") if part not in ("none", "not measured")})
        described = f" ({hypotheses[label].description})" if label in hypotheses else ""
        lines.append(f"- `{label}`{described}: {', '.join(off) or 'none'}.")
    return lines
