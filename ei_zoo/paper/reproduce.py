"""`ei-zoo reproduce`: analyse every exported network, write the figures, the
tables and the claims report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ei_zoo import data
from ei_zoo.analysis.function import function_over_seeds
from ei_zoo.analysis.measure import (
    DEFAULT,
    DENSITY,
    REFERENCE,
    RESPONSE_BATCH,
    SELECTIVITY,
    check_num_images,
    measure,
    thresholds_of,
    write_thresholds,
)
from ei_zoo.analysis.rsa import CONSISTENCY_IMAGES, population_similarity
from ei_zoo.analysis.tables import combine, pathway_table
from ei_zoo.hub import files
from ei_zoo.hub.bundle import UNTRAINED_DIR, export_folders, is_trained, read_metadata
from ei_zoo.hub.index import exported_dir
from ei_zoo.paper import sensitivity
from ei_zoo.paper.claims import check_claims
from ei_zoo.paper.design import design_table
from ei_zoo.paper.design import markdown as design_markdown
from ei_zoo.paper.effects import zoo_samples
from ei_zoo.paper.figures import (
    figure_differences,
    figure_perturbation,
    figure_ratio_sweep,
    figure_representations,
    figure_selectivity_per_neuron,
    figure_threshold_sensitivity,
)
from ei_zoo.paper.plan import PRINCIPAL_VARIANTS, departure
from ei_zoo.paper.report import report
from ei_zoo.progress import Progress

FIRST_SEEDS = ("standard-s0", "inh_pn-s0", "no_dale-s0")
# The folder `reproduce` writes whole; an earlier one is the only folder it replaces.
RESULTS = files.OutputFolder(".ei_zoo_results", "a results folder of `ei-zoo reproduce`")


def exported_models(exported: Path) -> tuple[list[Path], dict[str, str]]:
    """Export folders of the paper's zoo in `exported`, reference network first, and
    {id: why} of the other trained exports, left out of the paper's claims.

    The design study's networks (`ei_zoo.paper.study`; their metadata names a
    `design_change`) are judged apart (`study_models`); an export that is not one
    of the paper's 17 networks, or was trained otherwise (`plan.departure`: a user's
    1-epoch `ratio_1_8-s7`, say), is named and left out.
    """
    folders, left_out = [], {}
    for folder in export_folders(exported):
        metadata = read_metadata(folder)
        if "design_change" in metadata or not is_trained(metadata):
            continue
        why = departure(metadata)
        if why is None:
            folders.append(folder)
        else:
            left_out[metadata["id"]] = why
    return sorted(folders, key=lambda folder: folder.name != REFERENCE), left_out


def untrained_models(exported: Path) -> list[Path]:
    """The untrained baselines kept in `exported`'s `UNTRAINED_DIR`
    (`recipes/baselines.py`)."""
    return [folder for folder in export_folders(exported / UNTRAINED_DIR)
            if not is_trained(read_metadata(folder))]


def study_models(exported: Path) -> list[Path]:
    """Export folders of the design study in `exported`: only the design-sensitivity
    table reads them (`ei_zoo.paper.design`)."""
    return [folder for folder in export_folders(exported)
            if "design_change" in (metadata := read_metadata(folder)) and is_trained(metadata)]


def reproduce(out="results", exported=None, num_images=10_000, batch_size=RESPONSE_BATCH,
              step="last", position="mean", data_dir=None, verbose=True, kept=True) -> Path:
    """Measure every network in `exported`, then write the folder `out` whole (`RESULTS`:
    an earlier results folder is replaced, any other non-empty folder refused before any
    work; an interrupted run leaves it as it was):

    `table.csv` (one row per network, area and cell type: every selectivity and
    density measure, with the E-I and PN-interneuron differences), `pathways.csv`
    (density measures per pathway), `thresholds.json` (θ per area and per
    pathway), `sensitivity.csv` (each claim's verdict under each choice of
    measure), `design_sensitivity.csv` and `table_study.csv` where the design study's
    networks are exported (each claim's verdict under each change of recipe; each
    study network's measures, as in `table.csv`; of the rest they enter only
    `perturbation.csv`, `functional.csv` (what each population does, over
    each variant's seeds) and `drive.csv`, which measure every export),
    `table_untrained.csv` where `exported/untrained/` holds the untrained baselines
    (`claims.md` then judges every claim on them too; `perturbation_untrained.csv`,
    `functional_untrained.csv` and `drive_untrained.csv` where they keep those tables),
    `claims.md` and `figures/*.png|svg`. θ is calibrated on
    `standard-s0` when it is present. One pass over the images per network
    gives every response option; none, where the export keeps its response
    moments (`measure`; `kept=False` streams every network again).
    """
    exported = Path(exported) if exported is not None else exported_dir()
    check_num_images(num_images)
    folders, left_out = exported_models(exported)
    if not folders:
        raise FileNotFoundError(
            f"No networks of the paper's zoo in {exported}"
            + (f" (left out: {', '.join(f'{k}, {v}' for k, v in left_out.items())})"
               if left_out else "")
            + "; train them (`python recipes/paper_zoo.py`) or pass --exported.")
    if verbose:
        for identifier, why in left_out.items():
            print(f"{identifier} is left out of the paper's claims: {why}.")
    out = RESULTS.check(out)
    study, baselines = study_models(exported), untrained_models(exported)
    progress = (Progress((len(folders) + len(study) + len(baselines)) * num_images).add
                if verbose else None)
    all_measurements, study_measurements, untrained = (
        [measure(folder, num_images, batch_size, step, position, data_dir, progress=progress,
                 kept=kept) for folder in group]
        for group in (folders, study, baselines))
    reference = all_measurements[0]
    thresholds = {**thresholds_of(reference.weights), "source": reference.model}
    table = combine(all_measurements, thresholds)
    columns = sensitivity.choices(step, position)
    views = sensitivity.tables(
        all_measurements, thresholds,
        [*columns.values(), *sensitivity.SELECTIVITY_LABELS.values()], default_table=table)
    verdicts = sensitivity.sensitivity_table(views, columns)
    designs = design_table(all_measurements, study_measurements, thresholds) if study else None
    representations = _representations(folders, all_measurements,
                                       min(CONSISTENCY_IMAGES, num_images), data_dir)

    with RESULTS.writing(out) as written:
        _write_results(written, all_measurements, study_measurements, thresholds, table, views,
                       verdicts, designs, untrained, left_out)
        representations.to_csv(written / "representations.csv", index=False)
        figure_representations(representations, written / "figures")
    return out


def _representations(folders, all_measurements, num_images: int, data_dir) -> pd.DataFrame:
    """`population_similarity` of `standard`, `inh_pn` and `no_dale` over their seeds."""
    by_variant = {variant: [folder for folder, m in zip(folders, all_measurements)
                            if m.variant == variant] for variant in PRINCIPAL_VARIANTS}
    images = data.test_images(num_images, data_dir)[0]
    return population_similarity({variant: found for variant, found in by_variant.items()
                                  if found}, images)


def _write_results(out: Path, all_measurements, study_measurements, thresholds, table, views,
                   verdicts, designs: pd.DataFrame | None, untrained: list,
                   left_out: dict) -> None:
    table.to_csv(out / "table.csv", index=False)
    untrained_claims = None
    if untrained:  # the untrained baselines are there (`recipes/baselines.py`)
        untrained_table = combine(untrained, thresholds)
        untrained_table.to_csv(out / "table_untrained.csv", index=False)
        untrained_claims = check_claims(untrained_table, zoo_samples(untrained, thresholds))
    if designs is not None:  # the design study's exports are there
        designs.to_csv(out / "design_sensitivity.csv", index=False)
        combine(study_measurements, thresholds).to_csv(out / "table_study.csv", index=False)
    pathway_table(all_measurements, thresholds).to_csv(out / "pathways.csv", index=False)
    verdicts.to_csv(out / "sensitivity.csv", index=False)
    write_thresholds(out / "thresholds.json", thresholds)
    figures = out / "figures"
    figure_ratio_sweep(table, figures)
    figure_differences({label: views[choice][0]
                        for label, choice in sensitivity.SELECTIVITY_LABELS.items()}, figures)
    figure_selectivity_per_neuron(all_measurements, figures)
    shown = [m for m in all_measurements if m.model in FIRST_SEEDS] or all_measurements[:3]
    figure_threshold_sensitivity(shown, thresholds, figures)
    # What each population does is measured on every export, the study's too (after
    # the paper's zoo), from the tables the exports keep (`ei-zoo perturb ID --save`).
    perturbation = _write_function(out, [*all_measurements, *study_measurements])
    if perturbation is not None:
        figure_perturbation(perturbation, figures)
    _write_function(out, untrained, suffix="_untrained")
    header = _report_header(all_measurements, thresholds, table, left_out)
    (out / "claims.md").write_text(
        report(check_claims(*views[DEFAULT]), header, sensitivity.markdown(verdicts),
               design_markdown(designs) if designs is not None else (), untrained_claims))


def _write_function(out: Path, measurements: list, suffix: str = "") -> pd.DataFrame | None:
    """`perturbation<suffix>.csv`, `functional<suffix>.csv` and `drive<suffix>.csv` from
    the tables the networks of `measurements` keep; the perturbation table, or None where
    none keeps one."""
    drives = [m.drive for m in measurements if m.drive is not None]
    if drives:
        pd.concat(drives, ignore_index=True).to_csv(out / f"drive{suffix}.csv", index=False)
    tables = [m.perturbation for m in measurements if m.perturbation is not None]
    if not tables:
        return None
    perturbation = pd.concat(tables, ignore_index=True)
    perturbation.to_csv(out / f"perturbation{suffix}.csv", index=False)
    function_over_seeds(perturbation, {m.model: m.variant for m in measurements}).to_csv(
        out / f"functional{suffix}.csv", index=False)
    return perturbation


def _report_header(all_measurements, thresholds, table: pd.DataFrame,
                   left_out: dict) -> list[str]:
    first = all_measurements[0]
    networks = ", ".join(f"`{m.model}` ({m.test_accuracy:.1%})" if m.test_accuracy is not None
                         else f"`{m.model}`" for m in all_measurements)
    left = (["", "Left out of the paper's claims: " + "; ".join(
        f"`{identifier}` ({why})" for identifier, why in left_out.items()) + "."]
        if left_out else [])
    summary = table[["model", "area", "cell_type", "n_neurons", "n_silent",
                     "n_near_silent"]].copy()
    for column in SELECTIVITY:
        summary[column] = [f"{row[column]:.3f} [{row[column + '_ci_low']:.3f}, "
                           f"{row[column + '_ci_high']:.3f}]" for _, row in table.iterrows()]
    summary[list(DENSITY) + ["top10_share"]] = table[list(DENSITY) + ["top10_share"]]
    return [
        f"Networks ({len(all_measurements)}, test accuracy): {networks}.",
        *left,
        "",
        f"Responses: {first.num_images} CIFAR-10 test images (TFDS order), "
        f"{first.step} time step, {first.position} over positions. Per neuron, over images: "
        "skewness, excess kurtosis and lifetime sparseness (Vinje & Gallant 2000: "
        "(1 - mean(r)^2 / mean(r^2)) / (1 - 1/N), 0 = equal responses, 1 = one image only). "
        "Per cell type, over non-silent neurons [95% bootstrap interval over neurons]: "
        "`selectivity` = mean skewness (the default), `selectivity_median` = median skewness, "
        "`lifetime_sparseness` and `kurtosis` = means. `n_near_silent`: neurons that vary but "
        "respond (> 0) to fewer than 1% of the images; in `table.csv` every selectivity "
        "column also comes as `<column>_excl_near_silent`, over the neurons that are neither "
        "silent nor near-silent. Density: `density` = fraction of outgoing recurrent weights "
        f"with |w| > θ, θ = 90th percentile of |w| of `{thresholds['source']}` per area ("
        + ", ".join(f"{area} θ = {thresholds[area]:.4g}" for area in ("area3", "area4"))
        + "); `density_pathway` = the same with each pathway's own θ (90th percentile of "
        "that pathway's |w| in the θ source network), so fan-in does not enter; `gini` = "
        "Gini coefficient of |w| (no threshold; larger = sparser); `top10_share` = share of "
        "total |w| carried by the strongest 10%. Per pathway: `pathways.csv`.",
        "",
        "Figures: [Fig. 2a](figures/fig2a_selectivity_vs_ratio.png), "
        "[Fig. 2b](figures/fig2b_density_vs_ratio.png), "
        "[Fig. 3](figures/fig3_density_vs_selectivity_differences.png) (a row per "
        "selectivity measure), [selectivity of every neuron](figures/"
        "fig_selectivity_per_neuron.png), [threshold sensitivity](figures/"
        "threshold_sensitivity.png). Tables: `table.csv`, `pathways.csv`, `sensitivity.csv`.",
        "",
        summary.to_markdown(index=False, floatfmt=".3f"),
    ]
