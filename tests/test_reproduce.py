"""ei_zoo.paper.reproduce: figures, tables and a report; the design study left out."""

import re
import shutil

import pandas as pd
import pytest

from ei_zoo.analysis import (
    perturb,
)
from ei_zoo.analysis.check import compare_results
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import CLASS_TUNING, PERTURBATION
from ei_zoo.hub.export import export_model
from ei_zoo.hub.measured import write_measured
from ei_zoo.paper.reproduce import RESULTS, reproduce

from conftest import REPO


def test_reproduce_writes_figures_and_a_report_with_numbers(trained_tiny, cifar_dir, tmp_path):
    exported = tmp_path / "exported"
    for seed in (0, 1):
        export_model(trained_tiny[0], exported / f"standard-s{seed}", metadata={"seed": seed})
    out = reproduce(tmp_path / "results", exported, num_images=100, data_dir=cifar_dir,
                    verbose=False)
    for name in ("fig2a_selectivity_vs_ratio", "fig2b_density_vs_ratio",
                 "fig3_density_vs_selectivity_differences", "fig_selectivity_per_neuron",
                 "threshold_sensitivity"):
        for suffix in (".png", ".svg"):
            assert (out / "figures" / f"{name}{suffix}").stat().st_size > 1000
    table = pd.read_csv(out / "table.csv")
    assert set(table["model"]) == {"standard-s0", "standard-s1"}
    assert {"D_sel", "D_den", "D_sel_pn", "D_den_pn", "n_near_silent", "lifetime_sparseness",
            "gini", "density_pathway"} <= set(table.columns)
    assert len(pd.read_csv(out / "pathways.csv")) == 2 * 2 * 6
    representations = pd.read_csv(out / "representations.csv")
    assert set(representations["variant"]) == {"standard"} and len(representations) == 36
    assert (out / "figures" / "fig_representations.png").stat().st_size > 1000
    verdicts = pd.read_csv(out / "sensitivity.csv")
    assert verdicts["claim"].str[:2].tolist() == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert "robust" in verdicts.columns and "Gini of weights" in verdicts.columns
    text = (out / "claims.md").read_text()
    # The short verdict table first, then the sensitivity table, then the long numbers.
    assert (text.index("| claim | verdict (SPEC's reading) | area3 | area4 |")
            < text.index("How a label is given") < text.index("| robust")
            < text.index("## Networks and measures") < text.index("## C1:"))
    for claim_id in ("C1", "C2", "C3", "C4", "C5", "C6"):
        assert f"## {claim_id}:" in text
    c1 = text.split("## C1:")[1].split("## C2:")[0]
    assert "standard-s1" in c1 and re.search(r"\| -?\d+\.\d{3} \[-?\d+\.\d{3}, ", c1)
    assert "not measurable" in text.split("## C5:")[1] and "inconclusive" not in text


def test_reproduce_leaves_out_the_study_and_is_checkable(trained_tiny, cifar_dir, tmp_path,
                                                         monkeypatch, capsys):
    """The design study's networks stay out of the claims; `compare_results` tells CPU
    rounding from a real difference; an interrupted run leaves its --out as it was."""
    exported = tmp_path / "exported"
    export_model(trained_tiny[0], exported / "standard-s0", metadata={"seed": 0})
    export_model(trained_tiny[0], exported / "standard.gate_open-s0",
                 metadata={"seed": 0, "id": "standard.gate_open-s0",
                           "design_change": {"name": "gate_open"}})
    table, tuning = perturb(exported / "standard.gate_open-s0", 50, data_dir=cifar_dir,
                            verbose=False)
    write_measured(exported / "standard.gate_open-s0", {PERTURBATION: table, CLASS_TUNING: tuning})
    out = reproduce(tmp_path / "results", exported, num_images=100, data_dir=cifar_dir,
                    verbose=False)
    assert set(pd.read_csv(out / "table.csv")["model"]) == {"standard-s0"}
    # What each population does is tabled for every export that keeps it, the study's too.
    assert set(pd.read_csv(out / "perturbation.csv")["model"]) == {"standard.gate_open-s0"}
    assert (out / "figures" / "fig_perturbation.png").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exported", "results"]
    # The study enters the design-sensitivity table and its own table of measures alone.
    assert "recipe 2" in pd.read_csv(out / "design_sensitivity.csv").columns
    study = pd.read_csv(out / "table_study.csv")
    assert set(study["model"]) == {"standard.gate_open-s0"}
    assert list(study.columns) == list(pd.read_csv(out / "table.csv").columns)
    assert "## Which of the zoo's design choices decide each verdict?" in (
        out / "claims.md").read_text()
    # Run to run, the same bytes: tables, report and figures (SVG and PNG).
    again = reproduce(tmp_path / "again", exported, num_images=100, data_dir=cifar_dir,
                      verbose=False)
    written = sorted(path.relative_to(out) for path in out.rglob("*") if path.is_file())
    assert len(written) > 10 and written == sorted(
        path.relative_to(again) for path in again.rglob("*") if path.is_file())
    assert [path for path in written
            if (out / path).read_bytes() != (again / path).read_bytes()] == []
    shutil.rmtree(again)

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    compared, differences = compare_results(out, copy)
    assert compared > 500 and differences == []
    table = pd.read_csv(copy / "table.csv")
    table.loc[0, "selectivity"] += 0.001  # rounding of the kind another CPU gives
    table.to_csv(copy / "table.csv", index=False)
    assert compare_results(out, copy)[1] == []
    table.loc[1, "selectivity"] += 0.5
    table.to_csv(copy / "table.csv", index=False)
    verdicts = pd.read_csv(copy / "sensitivity.csv")
    verdicts.iloc[0, 1] = "holds" if verdicts.iloc[0, 1] != "holds" else "does not hold"
    verdicts.to_csv(copy / "sensitivity.csv", index=False)
    functional = pd.read_csv(copy / "functional.csv")
    functional.loc[0, "functional"] = "a label of another version"
    functional.to_csv(copy / "functional.csv", index=False)
    differences = compare_results(out, copy)[1]
    assert len(differences) == 3, differences
    assert differences[0].startswith("table.csv: standard-s0, standard, area3: selectivity")
    assert differences[1].startswith("sensitivity.csv: C1")
    assert differences[2].startswith("functional.csv: standard, area3, PN: functional")

    # The command line: the verdicts alone on stdout, then the check against `out`.
    assert cli_main(["reproduce", "--exported", str(exported), "--out", str(tmp_path / "cli"),
                     "--images", "100", "--data-dir", cifar_dir, "--check", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "# The paper's claims, checked against this zoo" and len(printed) < 20
    assert re.fullmatch(r"All [\d,]+ numbers and labels agree with .*results \(numbers within "
                        r"rtol 0\.02 or atol 0\.01\)\.", printed[-1]), printed
    assert cli_main(["reproduce", "--exported", str(exported), "--out", str(tmp_path / "cli"),
                     "--images", "100", "--data-dir", cifar_dir, "--check", str(copy)]) == 1
    assert "3 of " in capsys.readouterr().out
    shutil.rmtree(tmp_path / "cli")

    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ei_zoo.paper.reproduce.figure_threshold_sensitivity", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(out, exported, num_images=50, data_dir=cifar_dir, verbose=False)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy", "exported", "results"]
    monkeypatch.undo()

    # Run again on the paper's zoo alone: `out` is replaced whole, so no table or figure
    # of the study's networks stays beside claims that were made without them.
    alone = tmp_path / "alone"
    shutil.copytree(exported / "standard-s0", alone / "standard-s0")
    reproduce(out, alone, num_images=50, data_dir=cifar_dir, verbose=False)
    written = {path.relative_to(out).as_posix() for path in out.rglob("*")}
    assert {"claims.md", "table.csv", "figures/fig2a_selectivity_vs_ratio.png"} <= written
    assert not written & {"perturbation.csv", "design_sensitivity.csv",
                          "figures/fig_perturbation.png", "figures/fig_perturbation.svg"}
    # A file of the user's put in it is never lost: the next run is refused before any work.
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"results holds notes\.txt, which is not part of a "
                                         r"results folder of `ei-zoo reproduce`"):
        reproduce(out, alone, num_images=50, data_dir="/nowhere", verbose=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_the_committed_results_can_be_written_again_in_place():
    """`ei-zoo reproduce --out docs/results` regenerates them: they are a results folder
    whose marker lists every file there."""
    assert RESULTS.check(REPO / "docs" / "results") == REPO / "docs" / "results"


def test_untrained_baselines_are_judged_beside_the_zoo_and_never_as_it(trained_tiny, cifar_dir,
                                                                       tmp_path):
    """Baselines in `exported/untrained/` get their own table and claims column; an
    untrained export among the zoo's networks is left out of the claims."""
    exported = tmp_path / "exported"
    export_model(trained_tiny[0], exported / "standard-s0", metadata={"seed": 0})
    untrained = {"trained": False, "epochs": 0, "trained_counterpart": "standard-s0"}
    baseline = export_model(trained_tiny[0], exported / "untrained" / "standard-s0",
                            metadata={"seed": 0, **untrained})
    export_model(trained_tiny[0], exported / "standard-s1", metadata={"seed": 1, **untrained})
    table, tuning = perturb(baseline, 50, data_dir=cifar_dir, verbose=False)
    write_measured(baseline, {PERTURBATION: table, CLASS_TUNING: tuning})
    out = reproduce(tmp_path / "results", exported, num_images=100, data_dir=cifar_dir,
                    verbose=False)
    assert set(pd.read_csv(out / "table.csv")["model"]) == {"standard-s0"}
    assert set(pd.read_csv(out / "table_untrained.csv")["model"]) == {"standard-s0"}
    # What the baselines' populations do, in tables of their own (their ids are the
    # trained networks'); the trained standard-s0 keeps none.
    assert set(pd.read_csv(out / "perturbation_untrained.csv")["model"]) == {"standard-s0"}
    assert set(pd.read_csv(out / "functional_untrained.csv")["variant"]) == {"standard"}
    assert not (out / "perturbation.csv").exists()
    text = (out / "claims.md").read_text()
    assert "| networks | untrained | emerges with training |" in text
    assert "`untrained`: the same claim on the untrained baselines" in text
    assert "# standard-s0 (untrained)" in (baseline / "README.md").read_text()
    assert "**untrained**" in (baseline / "README.md").read_text()


def test_a_users_networks_are_named_and_left_out_of_the_papers_claims(trained_tiny, cifar_dir,
                                                                      tmp_path, capsys):
    exported = tmp_path / "exported"
    export_model(trained_tiny[0], exported / "standard-s0", metadata={"seed": 0})
    export_model(trained_tiny[0], exported / "ratio_1_8-s7", metadata={"seed": 7})
    quick = {"epochs": 1, "seed": 0, "limit": 2048}
    export_model(trained_tiny[0], exported / "inh_pn-s0",
                 metadata={"seed": 0, "training": quick})
    out = reproduce(tmp_path / "results", exported, num_images=100, data_dir=cifar_dir)
    assert set(pd.read_csv(out / "table.csv")["model"]) == {"standard-s0"}
    printed = capsys.readouterr().out
    assert "ratio_1_8-s7 is left out of the paper's claims: not a network of the paper's zoo" \
        in printed
    text = (out / "claims.md").read_text()
    assert ("Left out of the paper's claims: `inh_pn-s0` (trained with other settings "
            "(epochs 1, limit 2048))") in text
    assert "`ratio_1_8-s7` (not a network of the paper's zoo)" in text
    users = tmp_path / "users"  # a folder holding the user's network alone
    shutil.copytree(exported / "ratio_1_8-s7", users / "ratio_1_8-s7")
    with pytest.raises(FileNotFoundError, match="No networks of the paper's zoo .*ratio_1_8-s7"):
        reproduce(tmp_path / "again", users, num_images=100, data_dir=cifar_dir, verbose=False)
