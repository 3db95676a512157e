"""docs/findings.md: its first page answers C1-C6 in at most 600 words, and every number
it quotes is the one `docs/results` holds: each table cell by cell, each number of the
prose in the phrase that quotes it, and none left unchecked; the README's results section
says what the first page says."""

import functools
import json
import re

import numpy as np
import pandas as pd

from ei_zoo.analysis.function import function_of
from ei_zoo.paper.claims import CLAIM_VARIANTS, MIN_RATIO_POINTS
from ei_zoo.paper.study import CHANGES, RATIO_BASES, STUDY_BASES

from conftest import REPO

FINDINGS = REPO / "docs" / "findings.md"
RESULTS = REPO / "docs" / "results"
GATING = ("IG", "OG")
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
EFFECT = re.compile(r"[+-]?\d+\.\d{3} \[[+-]?\d+\.\d{3}, [+-]?\d+\.\d{3}\]")


def _signed_exports(variants) -> list:
    """The exported signed-output networks of `variants`, every seed."""
    return [folder for variant in variants
            for folder in (REPO / "exported").glob(f"{variant}.signed_output-s*")]


def _sweep_landed() -> int:
    """How many of the signed ratio sweep's networks are exported."""
    return len(_signed_exports(RATIO_BASES))


def _first_page() -> str:
    text = FINDINGS.read_text()
    return text[:text.index("<!-- end of first page -->")]


def test_the_first_page_is_short_and_answers_every_claim():
    page = _first_page()
    assert len(re.findall(r"\S+", page)) <= 600
    table = [line for line in page.splitlines() if line.startswith("| C")]
    assert [line[2:4] for line in table] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert "inconclusive" not in FINDINGS.read_text()


def test_quoted_labels_are_the_tables():
    """The stage labels and the signed-output labels of the first page are those of
    sensitivity.csv and design_sensitivity.csv."""
    by_claim = {row["claim"][:2]: row for _, row in
                pd.read_csv(RESULTS / "sensitivity.csv").iterrows()}
    design = {row["claim"][:2]: row for _, row in
              pd.read_csv(RESULTS / "design_sensitivity.csv").iterrows()}
    for claim, cells in _claim_rows(_first_page()).items():
        stages, signed = cells[4], cells[6]
        for stage, column in (("state", "state (PN: cell state c)"),
                              ("drive", "drive (before the nonlinearity)")):
            match = re.search(rf"{stage}: ([^;]+)", stages)
            if match:
                assert match.group(1).strip() == by_claim[claim][column], (claim, stage)
        label, _, networks = signed.partition(" (")
        if label.startswith("training: "):  # the ratio sweep, while it trains
            landed = _sweep_landed()
            assert label == f"training: {landed} of {len(RATIO_BASES)}", claim
            assert landed < len(RATIO_BASES)
            continue
        replicated = [column for column in design[claim].index
                      if column.startswith("signed_output (seeds") and "," not in column]
        assert design[claim][(replicated or ["signed_output"])[0]] == label, claim
        if networks:
            count = len(_signed_exports(CLAIM_VARIANTS[claim]))
            assert networks == f"{count} network{'s' if count > 1 else ''})", claim


def test_what_each_cell_type_does_is_functional_csv():
    """Section 1's table: each row's per-step clamp cost, interval, labels and other clamps
    are those of functional.csv."""
    text = FINDINGS.read_text()
    section = text[text.index("## 1. What each cell type does"):text.index("## 2.")]
    over = pd.read_csv(RESULTS / "functional.csv").set_index(["variant", "area", "cell_type"])
    rows = _table(section, "| variant | area | cell type |")
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


def _claim_rows(text: str) -> dict[str, list[str]]:
    """The cells of each row of the claims table in `text` (findings' first page, the
    README's answer), by claim."""
    return {row[0][:2]: row for row in _table(text, "| claim (paper) |")}


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
    measures = table.set_index(["model", "area", "cell_type"]).sort_index()

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
    sweep = [m for m in models if ".signed_output-" in m and m.split(".")[0] not in STUDY_BASES]
    if MIN_RATIO_POINTS - 1 <= len(sweep) < len(RATIO_BASES):  # with `standard`, its 1:4
        phrases.append(f"judged on the {len(sweep) + 1} of {len(RATIO_BASES) + 1} ratios trained "
                       f"so far")

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
    assert all(measures.loc[(m, area), "selectivity"].idxmin() == "PN"
               for m in signed for area in ("area3", "area4"))
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


STRUCTURAL = re.compile(
    r"\bareas?[ -]?[34](?: and [34])?\b|\bCIFAR-10\b|\bseeds?[ -]\d(?:-\d| and \d)?\b"
    r"|\bsection \d\b|#+ \d\.|\b\d\. (?=\*\*)|\brecipe 2\b|\b\d+:\d+\b|\bC[1-6]\b|\b95% "
    r"|et al\. \(\d{4}\)",
    re.IGNORECASE | re.MULTILINE)
NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?%?")


def _unchecked_numbers(text: str, phrases: list[str], tables: list[str]) -> list[str]:
    """The numbers of `text` that neither a checked phrase, a checked table nor a
    name (area 3, seed 0, section 2, recipe 2, 1:4, C1, CIFAR-10, a 95% interval, a
    citation's year, a list item's number) accounts for."""
    for header in tables:
        start = text.index(header)
        end = text.find("\n\n", start)
        text = text[:start] + text[len(text) if end < 0 else end:]
    text = re.sub(r"<!--.*?-->|`[^`]*`|\]\([^)]*\)", " ", text, flags=re.S)
    text = _normalised(text)
    for phrase in phrases:
        text = text.replace(_normalised(re.sub(r"`[^`]*`", " ", phrase)), " ")
    return NUMBER.findall(STRUCTURAL.sub(" ", text))


def _zoo_tables():
    """table.csv, functional.csv (indexed), perturbation.csv's overall rows and each zoo
    network's per-population function."""
    table = pd.read_csv(RESULTS / "table.csv")
    over = pd.read_csv(RESULTS / "functional.csv").set_index(["variant", "area", "cell_type"])
    perturbation = pd.read_csv(RESULTS / "perturbation.csv")
    overall = perturbation[perturbation["class"] == "all"]
    function = {model: function_of(perturbation[perturbation["model"] == model])
                for model in table["model"].unique()}
    return table, over, overall, function


def _claims_rows(claim: str) -> list[list[str]]:
    """The table rows of `claim`'s section of claims.md."""
    text = (RESULTS / "claims.md").read_text()
    section = text[text.index(f"## {claim}:"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def _design_counts(design: pd.DataFrame, claim: str, area: str, label: str) -> tuple:
    """(how many of the seed-0 recipe changes give `label` in `area`, how many can
    judge the claim): the changes of recipe 2, not `signed_output`'s own column."""
    row = design.set_index(design["claim"].str[:2]).loc[claim]
    changes = [change.name for change in CHANGES if change.name != "signed_output"
               and change.name in design.columns]
    labels = [row[name] for name in changes if row[name] != "not measurable"]

    def in_area(value: str) -> str:
        match = re.search(rf"{area} ([a-z ]+?)(?:,|$)", value)
        return match.group(1) if match else value
    return sum(in_area(value) == label for value in labels), len(labels)


@functools.cache
def _first_page_phrases() -> tuple[str, ...]:
    table, over, overall, _ = _zoo_tables()
    design = pd.read_csv(RESULTS / "design_sensitivity.csv")
    intact = overall[(overall["clamp"] == "none") & overall["model"].isin(table["model"])]
    ratios = {v for v in table["variant"] if v not in STUDY_BASES}
    phrases = [
        f"We trained {table['model'].nunique()} E/I convolutional recurrent networks",
        f"{len(ratios)} other I:E ratios at seed 0; "
        f"{_range(100 * intact['accuracy'], digits=1, joint='-')}% test accuracy)",
        f"({table['n_images'].iloc[0]:,} test images)"]
    holds, changes = _design_counts(design, "C1", "area3", "holds")
    fails, _ = _design_counts(design, "C1", "area4", "does not hold")
    phrases.append(f"area 3 holds under {holds} of {changes} changes; area 4 fails under {fails}")
    c5, c5_changes = _design_counts(design, "C5", "area4", "does not hold")
    phrases.append(f"area 4 fails under {c5} of {c5_changes} changes")
    c6, c6_changes = _design_counts(design, "C6", "area3", "does not hold")
    assert c6 == c6_changes
    phrases.append(f"fails under all {c6} changes")
    spec = [row for row in _claims_rows("C3") if row[0] == "SPEC" and len(row) == 8]
    area4 = [row for row in spec if row[4] == "area4"]
    fails = sum(row[7] == "does not hold" for row in area4)
    leading = [row[2] for row in spec if row[4] == "area3" and row[7] == "holds"]
    ratio = {"1/64": "1:64", "1/2": "1:2"}
    phrases.append(f"E less selective than I there at {fails} of {len(area4)} ratios; in area 3 "
                   f"E lead from {ratio[leading[0]]} to {ratio[leading[-1]]}")
    for claim in ("C1", "C2", "C5", "C6"):
        count = len(_signed_exports(CLAIM_VARIANTS[claim]))
        phrases.append(f"({count} networks)")
    landed = _sweep_landed()
    if landed < len(RATIO_BASES):
        phrases.append(f"| training: {landed} of {len(RATIO_BASES)} |")
    og = over.loc[("standard", "area4", "OG")]
    skewness = table[(table["variant"] == "standard") & (table["area"] == "area4")
                     & (table["cell_type"] == "OG")]["selectivity"].mean()
    phrases.append(f"`standard`'s area-4 OG (skewness {skewness:.2f}) cost "
                   f"{_points(og['points_lost_step_mean'] / 100)} ± "
                   f"{og['points_lost_step_mean_sd']:.1f} points")
    sizes = table[table["model"] == "standard-s0"].set_index(["area", "cell_type"])["n_neurons"]
    assert sizes[("area3", "IG")] == sizes[("area4", "OG")]
    phrases.append(f"{sizes[('area3', 'IG')]} IG and {sizes[('area3', 'OG')]} OG per area in "
                   f"`standard`, three seeds per variant: many \"mixed\" rows are differences "
                   f"{sizes[('area3', 'IG')]} neurons cannot pin down")
    accuracies = [100 * json.loads((folder / "metadata.json").read_text())["test_accuracy"]
                  for folder in _signed_exports(STUDY_BASES)]
    phrases.append(f"{len(accuracies)} of 9 networks trained, {min(accuracies):.2f}-"
                   f"{max(accuracies):.2f}% test accuracy")
    signed = over.loc[[f"{variant}.signed_output" for variant in STUDY_BASES]]
    assert set(signed["functional"]) <= {"functional", "indeterminate"}
    return tuple(phrases)


def test_the_first_pages_effects_are_their_claims():
    """Each effect a row of the first page quotes is in its own claim's section of
    claims.md."""
    assert len(EFFECT.findall(_first_page())) >= 9
    for line in (line for line in _first_page().splitlines() if line.startswith("| C")):
        rows = _claims_rows(line[2:4])
        for effect in EFFECT.findall(line):
            assert any(effect in row for row in rows), (line[2:4], effect)


@functools.cache
def _section_1_phrases() -> tuple[str, ...]:
    from ei_zoo.analysis.perturbation import FUNCTIONAL_DROP

    table, over, overall, function = _zoo_tables()
    phrases = [f"measured test accuracy on the {table['n_images'].iloc[0]:,} test images",
               f"lies above {100 * FUNCTIONAL_DROP:.0f} point"]
    bases = table[table["variant"].isin(STUDY_BASES)]
    pn = overall[overall["model"].isin(bases["model"]) & (overall["cell_type"] == "PN")
                 & (overall["clamp"] == "step_mean")]
    assert set(pn["accuracy"]) == {0.1}
    eta = bases[bases["cell_type"] == "PN"].groupby(["variant", "area"])[
        "class_variance_fraction"].mean()
    phrases.append(
        f"every network to chance (10%); their class variance fraction rises from area 3 "
        f"({_range(eta[:, 'area3'], joint='-')}) to area 4 ({_range(eta[:, 'area4'], joint='-')})")

    def row(variant, area, cell_type):
        return over.loc[(variant, area, cell_type)]

    ig4 = row("standard", "area4", "IG")
    phrases.append(
        f"area-4 IG cost {ig4['points_lost_mean']:.1f} points under the mean clamp but "
        f"{ig4['points_lost_step_mean']:.1f} ± {ig4['points_lost_step_mean_sd']:.1f} under "
        f"the per-step clamp ({ig4['points_lost_zero']:.1f} under zero)")
    ig3, og3 = row("standard", "area3", "IG"), row("standard", "area3", "OG")
    seeds = [100 * function[m][("area3", "IG")]["accuracy_drop_step_mean"]
             for m in sorted(bases[bases["variant"] == "standard"]["model"].unique())]
    assert ig3["per_network"] == "functional, functional, functional"
    assert ig3["functional"] == "indeterminate"
    phrases.append(
        f"({ig3['points_lost_step_mean']:.1f} and {og3['points_lost_step_mean']:.1f} points; "
        f"every seed functional, though the seeds spread area-3 IG from {min(seeds):.1f} to "
        f"{max(seeds):.1f}")
    standard = bases[bases["variant"] == "standard"]
    means = standard.groupby(["area", "cell_type"])[
        ["selectivity", "lifetime_sparseness", "class_selectivity_index"]].mean()
    assert (means.idxmax() == ("area4", "OG")).all()
    og4 = means.loc[("area4", "OG")]
    phrases.append(
        f"(skewness {og4['selectivity']:.2f}, lifetime sparseness "
        f"{og4['lifetime_sparseness']:.2f}, CSI {og4['class_selectivity_index']:.2f})")
    off = row("standard", "area4", "OG")
    assert off["per_network"] == "not functional, not functional, not functional"
    phrases.append(f"({_points(off['points_lost_step_mean'] / 100)} ± "
                   f"{off['points_lost_step_mean_sd']:.1f} points, not functional at every seed)")
    drive = pd.read_csv(RESULTS / "drive.csv").set_index(["model", "area", "source", "target"])
    gate = drive.loc[("standard-s0", "area4", "OG", "o")]
    phrases.append(
        f"(mean {gate['drive_mean']:.3f}, standard deviation {gate['drive_std']:.2f}) is small "
        f"against the gate's learned bias ({gate['target_mean'] - gate['drive_mean']:+.2f})")
    inh = bases[bases["variant"] == "inh_pn"].groupby(["area", "cell_type"])[
        ["selectivity", "lifetime_sparseness", "class_selectivity_index"]].mean()
    og3 = row("inh_pn", "area3", "OG")
    area4 = inh.loc["area4"].loc[["IG", "OG"]]
    assert {f"{value:.2f}" for value in area4["lifetime_sparseness"]} == {"0.00"}
    phrases += [
        f"their skewness of {inh.loc[('area3', 'IG'), 'selectivity']:.2f}",
        f"zeroing them costs {og3['points_lost_zero']:.1f} points, clamping them to their "
        f"per-step means {og3['points_lost_step_mean']:.1f}",
        f"(lifetime sparseness 0.00, CSI {_range(area4['class_selectivity_index'], joint='-')})"]
    nd = {(a, c): row("no_dale", a, c) for a in ("area3", "area4") for c in ("IG", "OG")}
    for population in (("area4", "IG"), ("area4", "OG")):
        assert sorted(nd[population]["per_network"].split(", ")) == [
            "functional", "indeterminate", "indeterminate"]
    phrases.append(
        f"({nd[('area3', 'IG')]['points_lost_step_mean']:.1f} and "
        f"{nd[('area3', 'OG')]['points_lost_step_mean']:.1f} points); area-4 IG and OG cost "
        f"{nd[('area4', 'IG')]['points_lost_step_mean']:.1f} and "
        f"{nd[('area4', 'OG')]['points_lost_step_mean']:.1f} points")
    # The ratio sweep (standard is its 1:4).
    sweep = sorted(m for m, v in zip(table["model"], table["variant"])
                   if v not in ("inh_pn", "no_dale"))
    ratio = {m: table[table["model"] == m]["variant"].iloc[0] for m in sweep}
    og = {m: function[m][("area4", "OG")] for m in sweep}
    assert not any(values["functional"] == "functional" for values in og.values())
    small = [m for m in sweep if ratio[m] not in ("ratio_2_1", "ratio_4_1")]
    two, four = (next(m for m in sweep if ratio[m] == name) for name in ("ratio_2_1", "ratio_4_1"))
    og_sizes = table[(table["area"] == "area4") & (table["cell_type"] == "OG")].set_index(
        "model")["n_neurons"]
    phrases.append(
        f"they cost at most {max(100 * og[m]['accuracy_drop_mean'] for m in small):.1f} points "
        f"from 1:64 to 1:1, then {100 * og[two]['accuracy_drop_mean']:.1f} at 2:1 and "
        f"{100 * og[four]['accuracy_drop_mean']:.1f} at 4:1 ({og_sizes[two]} and "
        f"{og_sizes[four]} OG); under the per-step clamp "
        f"{_points(og[two]['accuracy_drop_step_mean'])} and "
        f"{_points(og[four]['accuracy_drop_step_mean'])}")
    ig = [function[m][("area4", "IG")] for m in sweep]
    assert all(values["functional"] == "functional" for values in ig)
    ig_costs = [100 * values["accuracy_drop_step_mean"] for values in ig]
    phrases.append(f"Area-4 IG are functional at every ratio "
                   f"({_range(ig_costs, digits=1, joint='-')} points under the per-step clamp)")
    return tuple(phrases)


def test_section_1s_measures_are_table_csv():
    """Section 1's table: skewness, class variance fraction and CSI are table.csv's means
    over each variant's seeds."""
    text = FINDINGS.read_text()
    section = text[text.index("## 1. What each cell type does"):text.index("## 2.")]
    table = pd.read_csv(RESULTS / "table.csv")
    means = table.groupby(["variant", "area", "cell_type"])[
        ["selectivity", "class_variance_fraction", "class_selectivity_index"]].mean()
    rows = _table(section, "| variant | area | cell type |")
    assert len(rows) == 18
    for variant, area, cell_type, *_, skewness, eta, csi in rows:
        expected = means.loc[(variant, f"area{area}", cell_type)]
        assert [skewness, eta, csi] == [f"{value:.2f}" for value in expected], (
            variant, area, cell_type)


def _section_2() -> str:
    text = FINDINGS.read_text()
    return text[text.index("## 2. Claim by claim"):text.index("## 3.")]


def test_section_2s_labels_are_sensitivity_csv():
    sensitivity = pd.read_csv(RESULTS / "sensitivity.csv")
    default = sensitivity.columns[1]
    rows = _table(_section_2(), "| claim | default measures |")
    assert [row[0][:2] for row in rows] == [claim[:2] for claim in sensitivity["claim"]]
    for (claim, labels, functional, _), (_, expected) in zip(rows, sensitivity.iterrows()):
        assert labels.replace("area ", "area") == expected[default], claim
        assert functional.replace("area ", "area") == expected[
            "functional populations only"], claim


def test_section_2s_consistency_table_is_representations_csv():
    """Each population's RDM similarity between seeds, per variant."""
    similarity = pd.read_csv(RESULTS / "representations.csv")
    same = similarity[similarity["population"] == similarity["other"]].set_index(
        ["variant", "population"])["similarity"]
    rows = _table(_section_2(), "| population | `standard` |")
    assert len(rows) == 6
    for population, *cells in rows:
        assert cells == [f"{same[(variant, population.replace('area ', 'area'))]:.2f}"
                         for variant in STUDY_BASES], population


@functools.cache
def _section_2_phrases() -> tuple[str, ...]:
    from ei_zoo.analysis.rsa import CONSISTENCY_IMAGES

    table, over, _, function = _zoo_tables()
    standard = table[(table["variant"] == "standard")]
    area3 = standard[(standard["area"] == "area3") & (standard["cell_type"] == "PN")]
    assert (area3["D_den"].abs() < 0.01).all()
    area4 = standard[(standard["area"] == "area4") & (standard["cell_type"] == "PN")]
    assert (area4["D_den"] < 0).all()
    phrases = ["area 3 within 0.01 of zero either way", "D_den < 0 in all seeds"]
    sweep = table[~table["variant"].isin(("inh_pn", "no_dale"))]
    assert (sweep[(sweep["area"] == "area4") & (sweep["cell_type"] == "PN")]["D_sel"] < 0).all()
    phrases.append("D_sel < 0 at every ratio")
    no_dale = sorted(table[table["variant"] == "no_dale"]["model"].unique())
    costs = [100 * function[m][("area4", c)]["accuracy_drop_step_mean"]
             for m in no_dale for c in ("IG", "OG")]
    assert not any(function[m][p]["functional"] == "not functional" for m in no_dale
                   for p in function[m])
    phrases.append(f"indeterminate at two, {_range(costs, digits=1, joint='-')} points)")

    # What training creates.
    untrained = pd.read_csv(RESULTS / "table_untrained.csv")
    untrained = untrained.sort_values("seed")

    def skew(variant, area, cell_type, data=untrained):
        rows = data[(data["variant"] == variant) & (data["area"] == area)
                    & (data["cell_type"] == cell_type)]
        return [f"{value:.2f}" for value in rows["selectivity"]]
    phrases.append(
        f"(skewness {', '.join(skew('standard', 'area3', 'PN'))} over the seeds, against IG "
        f"{', '.join(skew('standard', 'area3', 'IG'))} and OG "
        f"{', '.join(skew('standard', 'area3', 'OG'))})")
    four = untrained[(untrained["variant"] == "standard") & (untrained["area"] == "area4")]
    assert (four["selectivity"] < 0).all()
    pn, gating = (four[four["cell_type"] == "PN"]["selectivity"],
                  four[four["cell_type"] != "PN"]["selectivity"])
    phrases.append(f"(PN {pn.max():.2f} to {pn.min():.2f}, IG and OG {gating.max():.2f} to "
                   f"{gating.min():.2f})")
    dense = untrained[untrained["density"] > 0]
    assert set(zip(dense["variant"], dense["area"], dense["cell_type"])) <= {
        ("no_dale", "area4", "IG"), ("no_dale", "area4", "OG")}
    phrases += ["(density 0, except",
                f"area-4 interneurons, {_range(dense['density'], joint='-')})"]
    perturbation = pd.read_csv(RESULTS / "perturbation_untrained.csv")
    overall = perturbation[perturbation["class"] == "all"]
    intact = 100 * overall[overall["clamp"] == "none"]["accuracy"]
    interneurons = [values for _, one in perturbation.groupby("model")
                    for (_, cell_type), values in function_of(one).items() if cell_type != "PN"]
    labels = [values["functional"] for values in interneurons]
    largest = max(100 * values["accuracy_drop_step_mean"] for values in interneurons)
    phrases.append(
        f"the networks score {intact.min():.2f}-{intact.max():.2f}% (chance 10%), and of "
        f"their {len(labels)} interneuron populations {labels.count('functional')} are "
        f"functional under the per-step clamp (at most {largest:.2f} points), "
        f"{labels.count('indeterminate')} indeterminate and "
        f"{labels.count('not functional')} not functional")
    pn = overall[(overall["cell_type"] == "PN") & (overall["clamp"] != "none")]
    assert set(pn["accuracy"]) == {0.1}
    phrases.append("Clamping PN, which every image passes through, leaves each network at chance")

    # Representations.
    similarity = pd.read_csv(RESULTS / "representations.csv")
    same = similarity[similarity["population"] == similarity["other"]].set_index(
        ["variant", "population"])["similarity"]
    inh = same["inh_pn"]
    interneurons = inh[[p for p in inh.index if not p.endswith("PN")]]
    others = interneurons.drop("area3 OG")
    phrases += [
        f"Representational similarity over {CONSISTENCY_IMAGES} test images",
        f"area-4 OG ({same[('standard', 'area4 OG')]:.2f})",
        f"({others.max():.2f} to {others.min():.2f}; only its area-3 OG, a bias, reach "
        f"{interneurons['area3 OG']:.2f})"]
    assert same[("standard", "area4 OG")] == same["standard"].min()

    # Matched stages.
    def values(variant, area, cell_type, column):
        rows = table[(table["variant"] == variant) & (table["area"] == area)
                     & (table["cell_type"] == cell_type)]
        return rows[column]

    def span(*args):
        return _range(values(*args), joint="-")
    phrases += [
        f"area 4 {span('standard', 'area4', 'PN', 'selectivity_state')} (rate "
        f"{span('standard', 'area4', 'PN', 'selectivity')}), area 3 "
        f"{span('standard', 'area3', 'PN', 'selectivity_state')}",
        f"(area-4 IG {span('standard', 'area4', 'IG', 'selectivity_state')})",
        f"({span('standard', 'area4', 'OG', 'selectivity_state')})",
        f"({span('no_dale', 'area3', 'PN', 'selectivity_state')} against at most "
        f"{max(values('no_dale', 'area3', c, 'selectivity_state').max() for c in GATING):.2f})",
        f"PN ({span('no_dale', 'area4', 'PN', 'selectivity_state')}) beat OG "
        f"({span('no_dale', 'area4', 'OG', 'selectivity_state')}) but not IG "
        f"({span('no_dale', 'area4', 'IG', 'selectivity_state')})"]
    drive3 = pd.concat([values("standard", "area3", c, "selectivity_drive")
                        for c in ("PN", "IG", "OG")])
    phrases += [
        f"in `standard` area 3 {_range(drive3)} for every population, area 4 PN "
        f"{span('standard', 'area4', 'PN', 'selectivity_drive')} against IG "
        f"{span('standard', 'area4', 'IG', 'selectivity_drive')}; area-4 OG's drive is the "
        f"most skewed ({span('standard', 'area4', 'OG', 'selectivity_drive')})"]
    return tuple(phrases)


def test_every_quoted_phrase_is_in_findings():
    """Every number of findings.md's prose, in the phrase that quotes it, computed from
    docs/results."""
    text = _normalised(FINDINGS.read_text())
    for phrase in (*_first_page_phrases(), *_section_1_phrases(), *_section_2_phrases(),
                   *_section_3_phrases()):
        assert _normalised(phrase) in text, phrase


def test_every_number_of_findings_is_checked():
    """No number of findings.md escapes a check: each is in a table whose every cell a
    test checks, in a checked phrase, or a name (area 3, seed 0, 1:4, C1)."""
    tables = ["| claim | recipe 2 (seed 0) |", "| network | area-3 IG |",
              "| network | test accuracy, % |", "| variant | area | cell type |",
              "| population | `standard` |"]
    effects = tuple(EFFECT.findall(_first_page()))
    phrases = (*_first_page_phrases(), *_section_1_phrases(), *_section_2_phrases(),
               *_section_3_phrases(), *effects)
    assert _unchecked_numbers(FINDINGS.read_text(), phrases, tables) == []


def test_the_readmes_answer_is_the_first_page():
    """The README's results section says what findings.md's first page says: the same
    label per claim, the same deciding numbers, and no number the first page lacks."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## The answer"):]
    section = section[:section.index("\n## ")]
    ours, theirs = _claim_rows(section), _claim_rows(_first_page())
    assert list(ours) == list(theirs) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    for claim, cells in ours.items():
        label = re.match(r"\*\*([^.;*]+)", theirs[claim][1]).group(1).lower()
        assert cells[1].split(":")[0] == label, claim
        assert set(EFFECT.findall(cells[2])) <= set(EFFECT.findall(theirs[claim][2])), claim
    prose = STRUCTURAL.sub(" ", re.sub(r"`[^`]*`|\]\([^)]*\)", " ", section))
    numbers = set(NUMBER.findall(STRUCTURAL.sub(" ", _first_page())))
    assert set(NUMBER.findall(prose)) - numbers == set()
