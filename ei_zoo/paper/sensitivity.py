"""Does a verdict survive the choice of measure? One verdict per claim and choice.

The first column is docs/science.md, section 4's measure (mean skewness, one absolute θ
per area, the asked-for response); every other column changes one choice
from it: the selectivity measure, near-silent neurons left out, the stage at which
selectivity is read (the PN state c or every drive, `ei_zoo.analysis.stages`), the
density measure, or the response option. All response options come from the same
streamed pass over the images (`Measurements.moments`), so no column costs
another pass.
"""

from __future__ import annotations

import pandas as pd

from ei_zoo.analysis.measure import DEFAULT, Choice
from ei_zoo.analysis.tables import combine
from ei_zoo.network.responses import OPTIONS
from ei_zoo.paper.claims import MISSING, check_claims
from ei_zoo.paper.effects import zoo_samples

STEP_LABELS = {"last": "last step", "mean": "mean over steps"}
POSITION_LABELS = {"mean": "spatial mean", "centre": "centre position"}
NOT_USED = "—"
ROBUST = "robust"
FUNCTIONAL_ONLY = "functional populations only"
SELECTIVITY_LABELS = {  # the measures Figure 3 also shows, one row of panels each
    "mean skewness": DEFAULT,
    "median skewness": Choice(selectivity="selectivity_median"),
    "lifetime sparseness": Choice(selectivity="lifetime_sparseness"),
    "kurtosis": Choice(selectivity="kurtosis"),
}


def response_label(step: str, position: str) -> str:
    return f"{STEP_LABELS[step]}, {POSITION_LABELS[position]}"


def choices(step: str = "last", position: str = "mean") -> dict[str, Choice]:
    """Column label -> Choice: the default measures first, then one change at a time."""
    columns = {f"default: mean skewness, θ absolute, {response_label(step, position)}": DEFAULT}
    columns.update({label: choice for label, choice in SELECTIVITY_LABELS.items()
                    if choice != DEFAULT})
    columns["mean skewness, near-silent excluded"] = Choice(exclude_near_silent=True)
    columns["state (PN: cell state c)"] = Choice(stage="state")
    columns["drive (before the nonlinearity)"] = Choice(stage="drive")
    columns["θ per pathway"] = Choice(density="density_pathway")
    columns["Gini of weights"] = Choice(density="gini")
    columns[FUNCTIONAL_ONLY] = Choice(functional_only=True)
    columns.update({response_label(*option): Choice(response=option)
                    for option in OPTIONS if option != (step, position)})
    return columns


def tables(all_measurements, thresholds: dict, wanted, default_table: pd.DataFrame | None = None
           ) -> dict[Choice, tuple[pd.DataFrame, dict]]:
    """The `combine` table (no per-population intervals: verdicts need none) and the
    effect samples (`ei_zoo.paper.effects.zoo_samples`) under each wanted Choice;
    `default_table`, where given, stands for the default choice's table."""
    return {choice: (default_table if choice == DEFAULT and default_table is not None
                     else combine(all_measurements, thresholds, choice, intervals=False),
                     zoo_samples(all_measurements, thresholds, choice))
            for choice in set(wanted)}


def sensitivity_table(tables_by_choice: dict[Choice, tuple[pd.DataFrame, dict]],
                      columns: dict[str, Choice]) -> pd.DataFrame:
    """One row per claim, one column per choice (the verdict, or `—` where the claim
    does not use what that choice changes), and `robust`: the same verdict in every
    column that can measure the claim ("—" where none can)."""
    rows = {}
    for label, choice in columns.items():
        for claim in check_claims(*tables_by_choice[choice], choice):
            row = rows.setdefault(claim.id, {"claim": f"{claim.id}: {claim.statement}"})
            applies = not choice.changes or choice.changes & set(claim.uses)
            row[label] = claim.summary if applies else NOT_USED
    for row in rows.values():
        verdicts = {row[label] for label in columns} - {NOT_USED, MISSING}
        row[ROBUST] = NOT_USED if not verdicts else ("yes" if len(verdicts) == 1 else "no")
    return pd.DataFrame(list(rows.values()))


def markdown(table: pd.DataFrame) -> list[str]:
    """The sensitivity table and its legend, as the top of `claims.md`."""
    return [
        "The first verdict column uses the default measures (docs/science.md, section 4); "
        "every other column changes one choice from it. "
        f"`{NOT_USED}`: the claim does not use what that column changes. "
        "`robust`: the same verdict in every column that can measure the claim "
        "(`not measurable` columns do not count). "
        "Each verdict is SPEC's reading, labelled by effect size and interval as the rule "
        "above says.",
        "",
        table.to_markdown(index=False),
        "",
        "Under `θ per pathway` the θ source network is left out of the density comparisons "
        "(its pathways are at density 0.1 by construction).",
    ]
