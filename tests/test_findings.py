"""docs/findings.md: its first page answers C1-C6 in at most 600 words, and every effect
it quotes is the one `docs/results` holds."""

import functools
import json
import re

import numpy as np
import pandas as pd

from ei_zoo.analysis.function import function_of
from ei_zoo.paper.claims import CLAIM_VARIANTS
from ei_zoo.paper.study import STUDY_BASES

from conftest import REPO

FINDINGS = REPO / "docs" / "findings.md"
RESULTS = REPO / "docs" / "results"
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
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


def _section_3() -> str:
    text = FINDINGS.read_text()
    return text[text.index("## 3."):]


def _table(text: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table in `text` whose header starts with `header`."""
    lines = text[text.index(header):].split("\n\n")[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _study_tables():
    perturbation = pd.read_csv(RESULTS / "perturbation.csv")
    table = pd.concat([pd.read_csv(RESULTS / "table.csv"),
                       pd.read_csv(RESULTS / "table_study.csv")], ignore_index=True)
    return perturbation, table


def _study_models(table: pd.DataFrame) -> set[str]:
    """Recipe 2's networks of the study's bases and every study network."""
    return {model for model, variant in zip(table["model"], table["variant"])
            if variant in STUDY_BASES or "." in variant}


def test_section_3s_verdicts_are_design_sensitivity_csv():
    design = pd.read_csv(RESULTS / "design_sensitivity.csv")
    rows = _table(_section_3(), "| claim | recipe 2 (seed 0) |")
    assert [row[0] for row in rows] == [claim[:2] for claim in design["claim"]]
    labels = [column for column in design.columns if column != "claim"
              and not column.endswith((", functional only", ", non-functional"))]
    for row, (_, expected) in zip(rows, design.iterrows()):
        assert row[1:] == [f"{expected[label]} / {expected[label + ', functional only']}"
                           for label in labels], row[0]


def test_section_3s_table_a_is_perturbation_and_drive_csv():
    """Every network's interneuron clamp costs (bold where functional, italic where
    indeterminate), its area-4 mean-clamp costs, the output gate's pre-activation and
    OG's drive spread are those of perturbation.csv and drive.csv."""
    perturbation, table = _study_tables()
    drive = pd.read_csv(RESULTS / "drive.csv").set_index(["model", "area", "source", "target"])
    rows = _table(_section_3(), "| network | area-3 IG |")
    assert {row[0].strip("`") for row in rows} == _study_models(table)
    marks = {"functional": "**", "indeterminate": "*", "not functional": ""}
    for model, *steps, ig_mean, og_mean, gate, spread in rows:
        model = model.strip("`")
        function = function_of(perturbation[perturbation["model"] == model])
        for cell, population in zip(steps, [("area3", "IG"), ("area3", "OG"),
                                            ("area4", "IG"), ("area4", "OG")]):
            values = function[population]
            mark = marks[values["functional"]]
            assert cell == f"{mark}{_points(values['accuracy_drop_step_mean'])}{mark}", (
                model, population)
        assert (ig_mean, og_mean) == (_points(function[("area4", "IG")]["accuracy_drop_mean"]),
                                      _points(function[("area4", "OG")]["accuracy_drop_mean"]))
        gate_drive = drive.loc[(model, "area4", "OG", "o")]
        assert (gate, spread) == (f"{gate_drive['target_mean']:+.2f}",
                                  f"{gate_drive['drive_std']:.2f}"), model


def test_section_3s_table_b_is_table_and_table_study_csv():
    """Every network's test accuracy (perturbation.csv, intact) and PN / IG / OG
    skewness, lifetime sparseness, density and silent neurons per area."""
    perturbation, table = _study_tables()
    intact = perturbation[(perturbation["clamp"] == "none") & (perturbation["class"] == "all")]
    accuracy = dict(zip(intact["model"], intact["accuracy"]))
    rows = _table(_section_3(), "| network | test accuracy, % |")
    assert {row[0].strip("`") for row in rows} == _study_models(table)
    columns = [("area3", "selectivity"), ("area4", "selectivity"),
               ("area4", "lifetime_sparseness"), ("area3", "density"), ("area4", "density"),
               ("area3", "n_silent"), ("area4", "n_silent")]
    for model, percent, *cells in rows:
        model = model.strip("`")
        assert float(percent) == round(100 * accuracy[model], 2), model
        network = table[table["model"] == model].set_index(["area", "cell_type"])
        for cell, (area, column) in zip(cells, columns, strict=True):
            quoted = cell.split(" / ")
            for value, cell_type in zip(quoted, ("PN", "IG", "OG"), strict=True):
                expected = network.loc[(area, cell_type), column]
                if value == "silent":
                    assert pd.isna(expected), (model, area, cell_type, column)
                else:
                    digits = len(value.partition(".")[2])
                    assert float(value) == round(float(expected), digits), (
                        model, area, cell_type, column)


def _range(values, sign: str = "", digits: int = 2, joint: str = " to ") -> str:
    low, high = min(values), max(values)
    return f"{low:{sign}.{digits}f}{joint}{high:{sign}.{digits}f}"


@functools.cache
def _section_3_phrases() -> tuple[str, ...]:
    """Every number section 3's prose quotes, computed from docs/results (and recipe 2's
    training settings, for the weight decay), in the phrase that quotes it; asserting on
    the way each qualitative statement beside them."""
    perturbation, table = _study_tables()
    drive = pd.read_csv(RESULTS / "drive.csv")
    design = pd.read_csv(RESULTS / "design_sensitivity.csv")
    models = sorted(_study_models(table))
    function = {model: function_of(perturbation[perturbation["model"] == model])
                for model in models}
    gate = drive[(drive["area"] == "area4") & (drive["source"] == "OG")
                 & (drive["target"] == "o")].set_index("model")
    measures = table.set_index(["model", "area", "cell_type"])

    def group(prefix: str) -> list[str]:
        return [model for model in models if re.fullmatch(rf"{re.escape(prefix)}-s\d", model)]

    def cost(model, area, cell_type, clamp="step_mean") -> str:
        return _points(function[model][(area, cell_type)][f"accuracy_drop_{clamp}"])

    def acts(model, area, cell_type) -> bool:
        return function[model][(area, cell_type)]["functional"] == "functional"

    def measure(model, area, cell_type, column, digits=2) -> str:
        return f"{measures.loc[(model, area, cell_type), column]:.{digits}f}"

    intact = perturbation[(perturbation["clamp"] == "none") & (perturbation["class"] == "all")]
    study = intact[intact["model"].isin([m for m in models if "." in m])]["accuracy"] * 100
    phrases = [f"Their test accuracy is {_range(study, joint='-')}%"]

    # Where standard's output gate rests; which area-4 OG act.
    recipe, opened, closed = (group(name) for name in (
        "standard", "standard.gate_open", "standard.gate_closed"))
    phrases.append(
        f"Under recipe 2 it rests at {_range(gate.loc[recipe, 'target_mean'], '+')} (table A: "
        f"the gate's mean pre-activation), started open at "
        f"{_range(gate.loc[opened, 'target_mean'], '+')}, started closed at "
        f"{_range(gate.loc[closed, 'target_mean'], '+')}.")
    assert not any(acts(model, "area4", "OG") for model in recipe)
    acting = []
    for start in (opened, closed):
        found = [model for model in start if acts(model, "area4", "OG")]
        assert len(found) == 1 and gate.loc[found[0], "drive_std"] == gate.loc[
            start, "drive_std"].max()
        acting.append(found[0])
    phrases += [
        f"(`{acting[0]}`, {cost(acting[0], 'area4', 'OG')} points; `{acting[1]}`, "
        f"{cost(acting[1], 'area4', 'OG')}), the one where their drive to the gate varies "
        f"most (spread {gate.loc[acting[0], 'drive_std']:.2f} and "
        f"{gate.loc[acting[1], 'drive_std']:.2f})",
        "its area-4 IG cost " + _listed([cost(m, "area4", "IG") for m in closed])
        + " points against recipe 2's " + _listed([cost(m, "area4", "IG") for m in recipe]),
    ]
    # Under gate_closed, area-4 IG act and beat PN.
    assert all(acts(m, "area4", "IG") and measures.loc[(m, "area4", "IG"), "selectivity"]
               > measures.loc[(m, "area4", "PN"), "selectivity"] for m in closed)
    phrases.append(
        "(mean skewness " + _listed([measure(m, "area4", "IG", "selectivity") for m in closed])
        + " against " + _listed([measure(m, "area4", "PN", "selectivity") for m in closed]))

    # inh_pn's tonic OG hold its output gate open.
    unsigned = [m for m in models if m.startswith("inh_pn") and "signed_output" not in m]
    rows = gate.loc[unsigned]
    phrases.append(
        f"In its {len(unsigned)} networks with unsigned PN output the output gate's mean "
        f"pre-activation is {_range(rows['target_mean'], '+')}: OG's drive to it, "
        f"{_range(rows['drive_mean'], '+')}, plus a learned bias of "
        f"{_range(rows['target_mean'] - rows['drive_mean'], '+')}.")
    assert not any(acts(m, "area4", c) for m in unsigned for c in ("IG", "OG"))
    functional = [(m, a, c) for m in unsigned for a, c in (("area3", "IG"), ("area3", "OG"))
                  if acts(m, a, c)]
    assert functional == [("inh_pn.gate_closed-s0", "area3", "OG")]
    phrases.append(f"`inh_pn.gate_closed-s0`'s area-3 OG ({cost(*functional[0])} points)")
    tonic = {measure(m, "area4", c, "lifetime_sparseness")
             for m in group("inh_pn.gate_closed") for c in ("IG", "OG")}
    assert tonic == {"0.00"}
    phrases.append("lifetime sparseness stays 0.00 at all three seeds")

    # no_dale's OG move the gate.
    no_dale = [m for m in models if m.startswith("no_dale")]
    standard_unsigned = [m for m in models if m.startswith("standard")
                         and "signed_output" not in m]
    phrases.append(
        f"spread of {_range(gate.loc[no_dale, 'drive_std'], joint='-')} in every `no_dale` "
        f"network (`standard` with unsigned PN output: at most "
        f"{gate.loc[standard_unsigned, 'drive_std'].max():.2f})")
    starts = group("no_dale.gate_open") + group("no_dale.gate_closed")
    assert len(starts) == 6 and all(acts(m, "area4", "OG") for m in starts)
    c6 = design.set_index(design["claim"].str[:2]).loc["C6"]
    assert {c6[column] for column in design.columns if column != "claim"
            and not column.endswith(", non-functional")} <= {"does not hold", "not measurable"}

    # Without the silence penalty.
    silent = measures.loc[("standard.no_silence_penalty-s0", "area4", "OG")]
    phrases.append(f"({silent['n_silent']} of {silent['n_neurons']})")
    phrases.append(
        f"(OG {measure('standard.no_silence_penalty-s0', 'area3', 'OG', 'selectivity')}, PN "
        f"{measure('standard.no_silence_penalty-s0', 'area3', 'PN', 'selectivity')} against "
        f"{measure('standard-s0', 'area3', 'OG', 'selectivity')} and "
        f"{measure('standard-s0', 'area3', 'PN', 'selectivity')} in `standard-s0`")
    populations = [(a, c) for a in ("area3", "area4") for c in ("PN", "IG", "OG")]
    assert all(acts("no_dale.no_silence_penalty-s0", *p) for p in populations)
    assert not any(all(acts(m, *p) for p in populations) for m in group("no_dale"))

    # resting_drive_0.
    phrases.append(
        "keep a lifetime sparseness of "
        + " and ".join(measure("inh_pn.resting_drive_0-s0", "area4", c, "lifetime_sparseness")
                       for c in ("IG", "OG")))

    # Weight decay: AdamW shrinks a weight by learning rate x decay at every step.
    import tensorflow as tf

    from ei_zoo.training.fit import learning_rate_schedule
    from ei_zoo.training.settings import TrainingConfig
    config = TrainingConfig(**json.loads(
        (REPO / "exported" / "standard-s0" / "metadata.json").read_text())["training"])
    steps = config.epochs * config.steps_per_epoch
    total = float(np.sum(tf.vectorized_map(learning_rate_schedule(config), tf.range(steps))))
    decay = config.weight_decay
    phrases.append(
        f"recipe 2's learning rates add up to {total:.1f} over its {steps:,} steps, so a decay "
        f"of {decay:.0e}".replace("e-0", "e-") + f" shrinks an untouched weight by "
        f"{100 * decay * total:.2f}% over the whole training (five times: "
        f"{500 * decay * total:.1f}%)")
    seeds = {(a, c): measures.loc[[(m, a, c) for m in recipe], "density"]
             for a, c in populations}
    outside = {}
    for model in ("standard.weight_decay_0-s0", "standard.weight_decay_5x-s0"):
        for population, values in seeds.items():
            density = measures.loc[(model, *population), "density"]
            if not values.min() - 0.01 <= density <= values.max() + 0.01:
                outside.setdefault(population, []).append(density)
    assert list(outside) == [("area4", "OG")]
    og = seeds[("area4", "OG")]
    phrases.append("every population's density stays within 0.01 of")
    phrases.append(f"({outside[('area4', 'OG')][0]:.3f} and {outside[('area4', 'OG')][1]:.3f} "
                   f"against {og.min():.3f}-{og.max():.3f})")

    # Signed PN output.
    signed = [m for m in models if ".signed_output-" in m and m.split(".")[0] in STUDY_BASES]
    pn = {area: [measures.loc[(m, area, "PN"), "selectivity"] for m in signed]
          for area in ("area3", "area4")}
    phrases.append(
        f"PN's mean skewness is {_range(pn['area3'])} in area 3 and {_range(pn['area4'])} in "
        f"area 4 over its {NUMBERS[len(signed)]} networks")
    standard_signed, inh_pn_signed = group("standard.signed_output"), group("inh_pn.signed_output")
    assert all(acts(m, "area4", "OG") for m in standard_signed)
    assert all(acts(m, "area3", c) for m in inh_pn_signed for c in ("IG", "OG"))
    og_costs = [100 * function[m][("area4", "OG")]["accuracy_drop_step_mean"]
                for m in standard_signed]
    phrases.append(f"functional at all three seeds ({_range(og_costs, digits=1, joint='-')} "
                   f"points), the output gate resting below zero "
                   f"({_range(gate.loc[standard_signed, 'target_mean'])})")
    return tuple(phrases)


def _listed(values: list[str]) -> str:
    return ", ".join(values[:-1]) + " and " + values[-1]


def _normalised(text: str) -> str:
    return " ".join(text.split())


def test_section_3s_prose_quotes_the_csvs():
    section = _normalised(_section_3())
    for phrase in _section_3_phrases():
        assert _normalised(phrase) in section, phrase


STRUCTURAL = re.compile(
    r"\bareas?[ -][34](?: and [34])?\b|\bseeds?[ -]\d(?:-\d| and \d)?\b|\bsection \d\b"
    r"|^#+ \d\.|\brecipe 2\b|\b\d+:\d+\b|\bC[1-6]\b", re.IGNORECASE | re.MULTILINE)
NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?%?")


def _unchecked_numbers(text: str, phrases: list[str], tables: list[str]) -> list[str]:
    """The numbers of `text` that neither a checked phrase, a checked table nor a
    structural name (area 3, seed 0, section 2, recipe 2, 1:4, C1) accounts for."""
    for header in tables:
        start = text.index(header)
        end = text.find("\n\n", start)
        text = text[:start] + text[len(text) if end < 0 else end:]
    text = re.sub(r"<!--.*?-->|`[^`]*`|\]\([^)]*\)", " ", text, flags=re.S)
    text = _normalised(text)
    for phrase in phrases:
        text = text.replace(_normalised(re.sub(r"`[^`]*`", " ", phrase)), " ")
    return NUMBER.findall(STRUCTURAL.sub(" ", text))


def test_every_number_of_section_3_is_checked():
    tables = ["| claim | recipe 2 (seed 0) |", "| network | area-3 IG |",
              "| network | test accuracy, % |"]
    assert _unchecked_numbers(_section_3(), _section_3_phrases(), tables) == []
