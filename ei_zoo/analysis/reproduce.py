"""`ei-zoo reproduce`: analyse every exported network, write the figures, the
tables and the claims report.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from ei_zoo.analysis.claims import check_claims, report
from ei_zoo.analysis.figures import (
    figure_differences,
    figure_ratio_sweep,
    figure_threshold_sensitivity,
)
from ei_zoo.analysis.measure import (
    REFERENCE,
    combine,
    measure,
    thresholds_of,
    write_thresholds,
)

FIRST_SEEDS = ("standard-s0", "inh_pn-s0", "no_dale-s0")


def exported_models(exported: Path) -> list[Path]:
    """Export folders in `exported`, reference network first."""
    folders = sorted(folder for folder in exported.iterdir()
                     if not folder.name.startswith(".") and (folder / "metadata.json").is_file())
    return sorted(folders, key=lambda folder: folder.name != REFERENCE)


def reproduce(out="results", exported=None, num_images=10_000, batch_size=250, step="last",
              position="mean", data_dir=None, verbose=True) -> Path:
    """Measure every network in `exported`, then write into `out`:

    `table.csv` (one row per network, area and cell type, with the E-I and
    PN-interneuron differences), `thresholds.json`, `claims.md` and
    `figures/*.png|svg`. θ is calibrated on `standard-s0` when it is present.
    """
    from ei_zoo.zoo import exported_dir

    exported = Path(exported) if exported is not None else exported_dir()
    folders = exported_models(exported) if exported.is_dir() else []
    if not folders:
        raise FileNotFoundError(
            f"No exported models in {exported}; train some (`ei-zoo train`) or pass --exported.")
    out = Path(out)
    progress = keras.utils.Progbar(len(folders) * num_images, unit_name="image",
                                   verbose=1 if verbose else 0)
    all_measurements = [
        measure(folder, num_images, batch_size, step, position, data_dir,
                progress=lambda count: progress.add(count))
        for folder in folders
    ]
    reference = all_measurements[0]
    thresholds = {**thresholds_of(reference.weights), "source": reference.model}
    table = combine(all_measurements, thresholds)

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    write_thresholds(out / "thresholds.json", thresholds)
    figures = out / "figures"
    figure_ratio_sweep(table, figures)
    figure_differences(table, figures)
    shown = [m for m in all_measurements if m.model in FIRST_SEEDS] or all_measurements[:3]
    figure_threshold_sensitivity(shown, thresholds, figures)
    header = _report_header(all_measurements, thresholds, table)
    (out / "claims.md").write_text(report(check_claims(table), header))
    return out


def _report_header(all_measurements, thresholds, table: pd.DataFrame) -> list[str]:
    first = all_measurements[0]
    networks = ", ".join(f"`{m.model}` ({m.test_accuracy:.1%})" if m.test_accuracy is not None
                         else f"`{m.model}`" for m in all_measurements)
    summary = table[["model", "area", "cell_type", "n_neurons", "n_silent", "selectivity",
                     "selectivity_ci_low", "selectivity_ci_high", "density", "top10_share"]]
    return [
        f"Networks ({len(all_measurements)}, test accuracy): {networks}.",
        "",
        f"Responses: {first.num_images} CIFAR-10 test images (TFDS order), "
        f"{first.step} time step, {first.position} over positions. Selectivity: skewness "
        "over images, mean over non-silent neurons [95% bootstrap interval]. Density: "
        "fraction of outgoing recurrent weights with |w| > θ, θ = 90th percentile of |w| "
        f"of `{thresholds['source']}` per area: "
        + ", ".join(f"{area} θ = {thresholds[area]:.4g}" for area in ("area3", "area4"))
        + ". `top10_share`: share of total |w| carried by the strongest 10% (no threshold).",
        "",
        "Figures: [Fig. 2a](figures/fig2a_selectivity_vs_ratio.png), "
        "[Fig. 2b](figures/fig2b_density_vs_ratio.png), "
        "[Fig. 3](figures/fig3_density_vs_selectivity_differences.png), "
        "[threshold sensitivity](figures/threshold_sensitivity.png). Table: `table.csv`.",
        "",
        summary.to_markdown(index=False, floatfmt=".3f"),
    ]
