"""Design sensitivity: which of the zoo's training choices decide each claim's verdict.

The study's networks (`ei_zoo.paper.study`: `standard`, `inh_pn` and `no_dale` at
seed 0, each with one change from recipe 2) are judged exactly as the paper's
zoo is, a change's networks standing in for their base variants; the paper's
own seed-0 networks are the `recipe 2` column. Every claim is judged twice:
under the default measures (docs/science.md, section 4), and on functional
populations only. The ratio claims C3 and C4 need the ratio sweep, which the
study does not retrain: under a change they are `not measurable`. A change's column
holds its seed-0 networks, so its verdict is that one network's per variant, beside recipe 2's
seed-0 networks. A change replicated at more seeds (`DesignChange.seeds`)
gets a second column over all its seeds, judged as the paper's claims are
(effect sizes with intervals over its networks, `ei_zoo.paper.effects`), beside
the paper's zoo over all its seeds: whether a seed-0 flip is the change's doing
or one seed's.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from ei_zoo.analysis.measure import DEFAULT, NOT_MEASURED, Choice
from ei_zoo.analysis.perturbation import NOT_FUNCTIONAL
from ei_zoo.analysis.tables import combine
from ei_zoo.paper.claims import CLAIM_VARIANTS, check_claims
from ei_zoo.paper.effects import zoo_samples
from ei_zoo.paper.study import CHANGES, parse_study_variant

RECIPE = "recipe 2"  # the paper's zoo at seed 0: what every change departs from
FUNCTIONAL_CHOICE = Choice(functional_only=True)
SPEC_SUFFIX, FUNCTIONAL_SUFFIX, OFF_SUFFIX = "", ", functional only", ", non-functional"
SEEDS_MARK = " (seeds "  # marks a column over every seed: `gate_open (seeds 0-2)`
ALL_FUNCTIONAL = "none"  # the non-functional populations of a column where every one acts


def seeds_label(label: str, measurements) -> str:
    """`label (seeds 0-2)`: a column over every seed of its networks."""
    seeds = sorted({m.seed for m in measurements})
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    named = f"{seeds[0]}-{seeds[-1]}" if contiguous else "+".join(map(str, seeds))
    return f"{label}{SEEDS_MARK}{named})"


def change_groups(zoo, study) -> dict[str, list]:
    """Column label -> the Measurements judged under it: `RECIPE` (the zoo's seed-0
    networks), then each change's seed-0 networks, relabelled to their base variants;
    then, if a change has networks at other seeds, the zoo over all its seeds and
    each such change over all its seeds."""
    groups = {RECIPE: [measurements for measurements in zoo if measurements.seed == 0]}
    replicated = {}
    for change in CHANGES:
        members = []
        for measurements in study:
            parsed = parse_study_variant(measurements.variant)
            if parsed is not None and parsed[1].name == change.name:
                members.append(dataclasses.replace(measurements, variant=parsed[0]))
        seed_0 = [measurements for measurements in members if measurements.seed == 0]
        if seed_0:
            groups[change.name] = seed_0
        if len(seed_0) < len(members):
            replicated[seeds_label(change.name, members)] = members
    if replicated:
        groups[seeds_label(RECIPE, zoo)] = list(zoo)
    return {**groups, **replicated}


def design_table(zoo, study, thresholds: dict) -> pd.DataFrame:
    """One row per claim; per column of `change_groups`: the verdict under the default
    measures, the verdict on functional populations only, and the claim's
    networks' non-functional populations."""
    rows = {}
    for label, measurements in change_groups(zoo, study).items():
        for choice, suffix in ((DEFAULT, SPEC_SUFFIX), (FUNCTIONAL_CHOICE, FUNCTIONAL_SUFFIX)):
            table = combine(measurements, thresholds, choice, intervals=False)
            samples = zoo_samples(measurements, thresholds, choice)
            for claim in check_claims(table, samples, choice):
                row = rows.setdefault(claim.id, {"claim": f"{claim.id}: {claim.statement}"})
                row[label + suffix] = claim.summary
                if choice == DEFAULT:
                    row[label + OFF_SUFFIX] = non_functional_populations(
                        table, CLAIM_VARIANTS[claim.id])
    return pd.DataFrame(list(rows.values()))


def non_functional_populations(table: pd.DataFrame, variants) -> str:
    """`variant area cell type` of every population of `variants` measured to be
    non-functional, with `(k of n networks)` where the variant has several (`ALL_FUNCTIONAL`;
    `NOT_MEASURED` where no export keeps its perturbations)."""
    rows = table[table["variant"].isin(variants)].drop_duplicates(["model", "area", "cell_type"])
    if rows.empty or (rows["functional"] == NOT_MEASURED).all():
        return NOT_MEASURED
    networks = rows.groupby("variant")["model"].nunique()
    off = rows[rows["functional"] == NOT_FUNCTIONAL].groupby(
        ["variant", "area", "cell_type"], sort=False)["model"].nunique()
    return "; ".join(
        f"{variant} {area} {cell_type}"
        + (f" ({count} of {networks[variant]} networks)" if networks[variant] > 1 else "")
        for (variant, area, cell_type), count in off.items()) or ALL_FUNCTIONAL


def markdown(table: pd.DataFrame) -> list[str]:
    """The design-sensitivity table for `claims.md`: per change, the verdict under
    default measures / on functional populations only; then the non-functional ones."""
    labels = [column for column in table.columns
              if column != "claim" and not column.endswith((FUNCTIONAL_SUFFIX, OFF_SUFFIX))]
    shown = pd.DataFrame({"claim": table["claim"].str.split(":").str[0]})
    for label in labels:
        shown[label] = table[label] + " / " + table[label + FUNCTIONAL_SUFFIX]
    hypotheses = {change.name: change for change in CHANGES}
    replicated = ("A `(seeds ...)` column judges a replicated change over all its networks as "
                  "the paper's claims are judged (effects averaged over the networks, with "
                  "their intervals), beside the paper's zoo over all its seeds. "
                  if any(SEEDS_MARK in label for label in labels) else "")
    lines = [
        "Each change from recipe 2 trained on `standard`, `inh_pn` and `no_dale` at seed 0 "
        "(`ei_zoo.paper.study`); `recipe 2` is the paper's zoo at seed 0. A cell: the verdict "
        "under the default measures / on functional populations only, for that one network "
        "per variant (its interval is over neurons alone), by area where the areas differ. "
        f"{replicated}C3 and C4 need the ratio sweep, which the study retrains (seed 0) only "
        "for a change with a ratio hypothesis. "
        "Table: `design_sensitivity.csv`.",
        "",
        shown.to_markdown(index=False),
        "",
        "Non-functional populations (clamped to their per-step means, they cost less than 1 "
        "point of test accuracy: the whole paired 95% interval lies below the line):",
        "",
    ]
    for label in labels:
        off = sorted({part for value in table[label + OFF_SUFFIX]
                      for part in value.split("; ") if part not in (ALL_FUNCTIONAL, NOT_MEASURED)})
        described = f" ({hypotheses[label].description})" if label in hypotheses else ""
        lines.append(f"- `{label}`{described}: {', '.join(off) or ALL_FUNCTIONAL}.")
    return lines
