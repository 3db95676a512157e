"""docs/findings.md: its first page answers C1-C6 in at most 600 words, and every effect
it quotes is the one `docs/results` holds."""

import json
import re

import pandas as pd

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
        label = signed.split(" (")[0]
        assert design[claim]["signed_output"] == (
            "not measurable" if label == "not trained" else label), claim


def test_the_signed_output_accuracy_is_the_exports():
    page = _first_page()
    metadata = json.loads((REPO / "exported" / "standard.signed_output-s0" / "metadata.json")
                          .read_text())
    assert f"`standard.signed_output-s0`, {100 * metadata['test_accuracy']:.2f}%" in page
