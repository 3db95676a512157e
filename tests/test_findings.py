"""docs/findings.md: its first page answers C1-C6 in at most 600 words, and every effect
it quotes is the one `docs/results` holds."""

import json
import re

import pandas as pd

from ei_zoo.analysis.function import function_of
from ei_zoo.paper.claims import CLAIM_VARIANTS
from ei_zoo.paper.study import STUDY_BASES

from conftest import REPO

FINDINGS = REPO / "docs" / "findings.md"
RESULTS = REPO / "docs" / "results"
EFFECT = re.compile(r"[+-]?\d+\.\d{3} \[[+-]?\d+\.\d{3}, [+-]?\d+\.\d{3}\]")


def _first_page() -> str:
    text = FINDINGS.read_text()
    return text[:text.index("<!-- end of first page -->")]


def test_the_first_page_is_short_and_answers_every_claim():
    page = _first_page()
    assert len(re.findall(r"\S+", page)) <= 600
    table = [line for line in page.splitlines() if line.startswith("| C")]
    assert [line[2:4] for line in table] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert "inconclusive" not in FINDINGS.read_text()


def test_every_quoted_effect_is_in_claims_md():
    claims = (RESULTS / "claims.md").read_text()
    quoted = EFFECT.findall(_first_page())
    assert len(quoted) >= 9
    for effect in quoted:
        assert effect in claims, f"findings.md quotes {effect}, which claims.md does not hold"


def test_quoted_labels_are_the_tables():
    """The stage labels and the signed-output labels of the first page are those of
    sensitivity.csv and design_sensitivity.csv."""
    by_claim = {row["claim"][:2]: row for _, row in
                pd.read_csv(RESULTS / "sensitivity.csv").iterrows()}
    design = {row["claim"][:2]: row for _, row in
              pd.read_csv(RESULTS / "design_sensitivity.csv").iterrows()}
    for line in (line for line in _first_page().splitlines() if line.startswith("| C")):
        claim = line[2:4]
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        stages, signed = cells[4], cells[6]
        for stage, column in (("state", "state (PN: cell state c)"),
                              ("drive", "drive (before the nonlinearity)")):
            match = re.search(rf"{stage}: ([^;]+)", stages)
            if match:
                assert match.group(1).strip() == by_claim[claim][column], (claim, stage)
        label, _, networks = signed.partition(" (")
        replicated = [column for column in design[claim].index
                      if column.startswith("signed_output (seeds") and "," not in column]
        assert design[claim][(replicated or ["signed_output"])[0]] == (
            "not measurable" if label == "not trained" else label), claim
        if networks:
            count = sum(len(list((REPO / "exported").glob(f"{variant}.signed_output-s*")))
                        for variant in CLAIM_VARIANTS[claim])
            assert networks == f"{count} network{'s' if count > 1 else ''})", claim


def test_the_signed_output_networks_are_the_exports():
    """Caveat 3 counts the exported signed-output networks of the three variants and
    quotes their range of test accuracy."""
    accuracies = [100 * json.loads((folder / "metadata.json").read_text())["test_accuracy"]
                  for variant in STUDY_BASES
                  for folder in (REPO / "exported").glob(f"{variant}.signed_output-s*")]
    assert accuracies
    assert (f"{len(accuracies)} of 9 networks trained, {min(accuracies):.2f}-"
            f"{max(accuracies):.2f}% test accuracy") in " ".join(_first_page().split())


def test_what_each_cell_type_does_is_functional_csv():
    """Section 1's table: each row's per-step clamp cost, interval, labels and other clamps
    are those of functional.csv."""
    text = FINDINGS.read_text()
    section = text[text.index("## 1. What each cell type does"):text.index("## 2.")]
    over = pd.read_csv(RESULTS / "functional.csv").set_index(["variant", "area", "cell_type"])
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith(("| standard |", "| inh_pn |", "| no_dale |"))]
    assert len(rows) == 3 * 2 * 3
    for variant, area, cell_type, cost, interval, label, seeds, mean, zero, *_ in rows:
        row = over.loc[(variant, f"area{area}", cell_type)]
        assert cost == (f"{row['points_lost_step_mean']:.1f} ± "
                        f"{row['points_lost_step_mean_sd']:.1f}"), (variant, area, cell_type)
        assert interval == (f"[{row['points_lost_step_mean_ci_low']:.1f}, "
                            f"{row['points_lost_step_mean_ci_high']:.1f}]")
        assert label.strip("*") == row["functional"]
        labels = row["per_network"].split(", ")
        assert seeds == ", ".join(f"{labels.count(name)} {name}" for name in (
            "functional", "indeterminate", "not functional") if labels.count(name))
        assert (mean, zero) == (f"{row['points_lost_mean']:.1f}", f"{row['points_lost_zero']:.1f}")


def test_what_the_untrained_interneurons_do_is_perturbation_untrained_csv():
    """Section 2's untrained bullet: the accuracy range, the interneurons' labels and
    their largest cost are those of perturbation_untrained.csv."""
    perturbation = pd.read_csv(RESULTS / "perturbation_untrained.csv")
    overall = perturbation[perturbation["class"] == "all"]
    intact = 100 * overall[overall["clamp"] == "none"]["accuracy"]
    interneurons = [values for _, table in perturbation.groupby("model")
                    for (_, cell_type), values in function_of(table).items()
                    if cell_type != "PN"]
    labels = [values["functional"] for values in interneurons]
    largest = max(100 * values["accuracy_drop_step_mean"] for values in interneurons)
    text = " ".join(FINDINGS.read_text().split())
    assert (f"the networks score {intact.min():.2f}-{intact.max():.2f}% (chance 10%), and of "
            f"their {len(labels)} interneuron populations {labels.count('functional')} are "
            f"functional under the per-step clamp (at most {largest:.2f} points), "
            f"{labels.count('indeterminate')} indeterminate and "
            f"{labels.count('not functional')} not functional") in text
    pn = overall[(overall["cell_type"] == "PN") & (overall["clamp"] != "none")]
    assert "Clamping PN, which every image passes through, leaves each network at chance" in text
    assert set(pn["accuracy"]) == {0.1}


def _points(value: float) -> str:
    text = f"{100 * value:.1f}"
    return "0.0" if text == "-0.0" else text


def test_the_design_studys_function_table_is_perturbation_and_drive_csv():
    """Section 3's table: each network's area-4 OG and IG costs under the per-step clamp
    (bold where functional) and the mean clamp, and the output gate's pre-activation and
    OG's drive spread, are those of perturbation.csv and drive.csv."""
    text = FINDINGS.read_text()
    section = text[text.index("## 3."):]
    perturbation = pd.read_csv(RESULTS / "perturbation.csv")
    drive = pd.read_csv(RESULTS / "drive.csv").set_index(["model", "area", "source", "target"])
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| `")]
    signed = {path.name for path in (REPO / "exported").glob("*.signed_output-s*")}
    assert len(rows) >= 34 and signed <= {row[0].strip("`") for row in rows}
    for model, og_step, og_mean, gate, spread, ig_step, ig_mean in rows:
        model = model.strip("`")
        function = function_of(perturbation[perturbation["model"] == model])
        og, ig = function[("area4", "OG")], function[("area4", "IG")]
        for cell, values in ((og_step, og), (ig_step, ig)):
            cost = cell.removesuffix(" (all silent)")
            bold = cost.startswith("**")
            assert cost.strip("*") == _points(values["accuracy_drop_step_mean"]), model
            assert bold == (values["functional"] == "functional"), model
        assert (og_mean, ig_mean) == (_points(og["accuracy_drop_mean"]),
                                      _points(ig["accuracy_drop_mean"])), model
        gate_drive = drive.loc[(model, "area4", "OG", "o")]
        assert (gate, spread) == (f"{gate_drive['target_mean']:+.2f}",
                                  f"{gate_drive['drive_std']:.2f}"), model
