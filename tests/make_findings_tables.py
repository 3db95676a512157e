"""Rewrite the design study's tables of docs/findings.md (section 3) from docs/results:
each claim under each change (`design_sensitivity.csv`), what each network's
interneurons do (`perturbation.csv`, `drive.csv`) and each network's measures
(`table.csv`, `table_study.csv`).

    python tests/make_findings_tables.py

Run it after `ei-zoo reproduce --out docs/results` when a study network lands;
tests/test_findings.py checks every cell of the three tables against the CSVs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ei_zoo.analysis.perturbation import function_of
from ei_zoo.paper.study import CHANGES, STUDY_BASES, parse_study_variant

DOCS = Path(__file__).resolve().parents[1] / "docs"
FINDINGS, RESULTS = DOCS / "findings.md", DOCS / "results"
FUNCTION_HEADER = ("| network | area-3 IG | area-3 OG | area-4 IG | area-4 OG | area-4 IG, "
                   "mean clamp | area-4 OG, mean clamp | output gate, mean pre-activation | "
                   "OG drive, std |")
INTERNEURONS = (("area3", "IG"), ("area3", "OG"), ("area4", "IG"), ("area4", "OG"))
MEASURES_HEADER = ("| network | test accuracy, % | skewness, area 3 | skewness, area 4 | "
                   "lifetime sparseness, area 4 | density, area 3 | density, area 4 | "
                   "silent, area 3 | silent, area 4 |")
CELL_TYPES = ("PN", "IG", "OG")
VERDICT_HEADER = "| claim | recipe 2 (seed 0) |"
FUNCTIONAL_ONLY, NON_FUNCTIONAL = ", functional only", ", non-functional"


def network_order(model: str) -> tuple:
    """Recipe 2's networks of a variant first, then each change in the study's order;
    `standard`, `inh_pn`, `no_dale`, then the ratio sweep; seeds in order."""
    variant, _, seed = model.rpartition("-s")
    parsed = parse_study_variant(variant)
    base, change = (variant, -1) if parsed is None else (
        parsed[0], [c.name for c in CHANGES].index(parsed[1].name))
    rank = STUDY_BASES.index(base) if base in STUDY_BASES else len(STUDY_BASES)
    return rank, base, change, int(seed)


def points(value: float) -> str:
    text = f"{100 * value:.1f}"
    return "0.0" if text == "-0.0" else text


def function_rows(perturbation: pd.DataFrame, drive: pd.DataFrame, models) -> list[str]:
    """Per network: each interneuron population's per-step clamp cost (**functional**,
    *indeterminate*, plain: not functional), area 4's mean-clamp costs, and where the
    output gate rests and how much OG's drive to it varies."""
    rows = [FUNCTION_HEADER, "|---" * 9 + "|"]
    marks = {"functional": "**", "indeterminate": "*", "not functional": ""}
    for model in models:
        function = function_of(perturbation[perturbation["model"] == model])
        steps = [f"{marks[function[population]['functional']]}"
                 f"{points(function[population]['accuracy_drop_step_mean'])}"
                 f"{marks[function[population]['functional']]}" for population in INTERNEURONS]
        means = [points(function[population]["accuracy_drop_mean"])
                 for population in INTERNEURONS[2:]]
        gate = drive[(drive["model"] == model) & (drive["area"] == "area4")
                     & (drive["source"] == "OG") & (drive["target"] == "o")].iloc[0]
        rows.append(f"| `{model}` | " + " | ".join(steps + means) + " | "
                    f"{gate['target_mean']:+.2f} | {gate['drive_std']:.2f} |")
    return rows


def triplet(rows: pd.DataFrame, column: str, digits: int) -> str:
    values = rows.set_index("cell_type").loc[list(CELL_TYPES), column]
    return " / ".join("silent" if pd.isna(value) else
                      (f"{value:.0f}" if digits == 0 else f"{value:.{digits}f}")
                      for value in values)


def measures_rows(table: pd.DataFrame, accuracy: dict, models) -> list[str]:
    rows = [MEASURES_HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for model in models:
        network = table[table["model"] == model]
        area = {name: network[network["area"] == name] for name in ("area3", "area4")}
        rows.append(
            f"| `{model}` | {100 * accuracy[model]:.2f} | "
            f"{triplet(area['area3'], 'selectivity', 2)} | "
            f"{triplet(area['area4'], 'selectivity', 2)} | "
            f"{triplet(area['area4'], 'lifetime_sparseness', 2)} | "
            f"{triplet(area['area3'], 'density', 3)} | {triplet(area['area4'], 'density', 3)} | "
            f"{triplet(area['area3'], 'n_silent', 0)} | {triplet(area['area4'], 'n_silent', 0)} |")
    return rows


def verdict_rows(design: pd.DataFrame) -> list[str]:
    """A row per claim, a column per change: default measures / functional only."""
    labels = [column for column in design.columns
              if column != "claim" and not column.endswith((FUNCTIONAL_ONLY, NON_FUNCTIONAL))]
    header = ["recipe 2 (seed 0)" if label == "recipe 2" else label for label in labels]
    rows = ["| claim | " + " | ".join(header) + " |", "|---" * (len(labels) + 1) + "|"]
    for _, row in design.iterrows():
        rows.append(f"| {row['claim'][:2]} | " + " | ".join(
            f"{row[label]} / {row[label + FUNCTIONAL_ONLY]}" for label in labels) + " |")
    return rows


def replace_table(text: str, header: str, rows: list[str]) -> str:
    """`text` with the table that starts with `header`'s first two cells replaced."""
    start = text.index(" | ".join(header.split(" | ")[:2]))
    end = text.find("\n\n", start)
    end = len(text.rstrip("\n")) if end < 0 else end
    return text[:start] + "\n".join(rows) + text[end:]


def main() -> None:
    perturbation = pd.read_csv(RESULTS / "perturbation.csv")
    drive = pd.read_csv(RESULTS / "drive.csv")
    table = pd.concat([pd.read_csv(RESULTS / "table.csv"),
                       pd.read_csv(RESULTS / "table_study.csv")], ignore_index=True)
    table = table[[network_order(model)[1] in STUDY_BASES or "." in variant
                   for model, variant in zip(table["model"], table["variant"])]]
    intact = perturbation[(perturbation["clamp"] == "none") & (perturbation["class"] == "all")]
    accuracy = dict(zip(intact["model"], intact["accuracy"]))
    models = sorted(set(table["model"]), key=network_order)
    text = FINDINGS.read_text()
    text = replace_table(text, VERDICT_HEADER,
                         verdict_rows(pd.read_csv(RESULTS / "design_sensitivity.csv")))
    text = replace_table(text, FUNCTION_HEADER, function_rows(perturbation, drive, models))
    text = replace_table(text, MEASURES_HEADER, measures_rows(table, accuracy, models))
    FINDINGS.write_text(text)
    print(f"6 claims; {len(models)} networks in each network table")


if __name__ == "__main__":
    main()
