"""The paper's figures from measured tables, as PNG and SVG.

Figure 2a/2b: selectivity and connection density against the I:E ratio (log2
axis), one line per cell type, one panel per area. Figure 3a/3b: D_den
against D_sel per area, light markers per network, dark per variant mean,
one row per selectivity measure. Plus every neuron's selectivity as strips
and the density-against-threshold curves. A figure whose networks are
missing says so on the figure instead of failing.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ei_zoo.analysis.connectivity import density_curve, outgoing  # noqa: E402
from ei_zoo.analysis.perturbation import CLAMPS, FUNCTIONAL_CLAMP  # noqa: E402
from ei_zoo.hub.bundle import model_id  # noqa: E402
from ei_zoo.network.config import AREAS, CELL_TYPES
from ei_zoo.network.registry import RATIOS, ratio_name  # noqa: E402

COLOURS = {"PN": "#c0392b", "IG": "#2471a3", "OG": "#17a589"}
VARIANT_COLOURS = {"standard": "#c0392b", "inh_pn": "#2471a3", "no_dale": "#7f8c8d"}
VARIANT_LABELS = {"standard": "standard", "inh_pn": "InhPN", "no_dale": "No-Constraint"}
# Fig. 3's differences are E - I; the claims about InhPN (C5) compare PN with the
# interneurons, and PN are I there, so the two signs are opposite for InhPN.
SIGN_CONVENTION = ("E - I: excitatory minus inhibitory cell types. standard: PN - IG, OG. "
                   "InhPN: IG, OG - PN, the opposite sign of C5's PN - IG, OG.\n"
                   "No-Constraint: PN (E before the constraint was lifted) - IG, OG, as in C6. "
                   "D_sel > 0: E more selective; D_den < 0: E connections sparser.")


# Without a date and with fixed element ids, the same figure gives the same bytes:
# `reproduce` is then byte-identical run to run (matplotlib's SVG ids are random and
# its SVG and PNG carry the time and the software version otherwise).
STABLE_METADATA = {".png": {"Software": None}, ".svg": {"Date": None, "Creator": None}}


def save(figure, path: Path) -> list[Path]:
    """Write `path`.png and `path`.svg, byte-stable; return both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".svg"):
        target = path.with_suffix(suffix)
        with matplotlib.rc_context({"svg.hashsalt": path.name}):
            figure.savefig(target, dpi=150, bbox_inches="tight", metadata=STABLE_METADATA[suffix])
        written.append(target)
    plt.close(figure)
    return written


def _note_missing(figure, missing):
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6
                                          else "")
        figure.text(0.5, -0.02, f"Not yet trained or exported: {shown}", ha="center",
                    va="top", fontsize=8, color="#a04000")


def ratio_rows(table: pd.DataFrame, seed: int | None = 0) -> tuple[pd.DataFrame, list[str]]:
    """Rows of the ratio sweep (`standard` is ratio 1/4) of one seed, or of every seed
    where `seed` is None, and the seed-0 ids still missing."""
    variants = {("standard" if ratio == Fraction(1, 4) else ratio_name(ratio)): float(ratio)
                for ratio in RATIOS}
    rows = table[table["variant"].isin(variants)]
    if seed is not None:
        rows = rows[rows["seed"] == seed]
    rows = rows.copy()
    rows["ratio"] = rows["variant"].map(variants)
    present = set(table["model"])
    missing = [model_id(variant, 0) for variant in variants
               if model_id(variant, 0) not in present]
    return rows, missing


def figure_ratio_sweep(table: pd.DataFrame, folder: Path) -> list[Path]:
    """Figure 2a (selectivity) and 2b (density) against the I:E ratio."""
    rows, missing = ratio_rows(table)
    written = []
    for name, column, label in (
        ("fig2a_selectivity_vs_ratio", "selectivity", "selectivity (response skewness)"),
        ("fig2b_density_vs_ratio", "density", "connection density (fraction |w| > θ)"),
    ):
        figure, axes = plt.subplots(1, len(AREAS), figsize=(9, 3.6), sharey=True)
        for axis, area in zip(axes, AREAS):
            for cell_type in CELL_TYPES:
                points = rows[(rows["area"] == area) & (rows["cell_type"] == cell_type)]
                points = points.sort_values("ratio")
                x = np.log2(points["ratio"].to_numpy(dtype=float))
                y = points[column].to_numpy(dtype=float)
                if column == "selectivity":
                    error = [y - points["selectivity_ci_low"], points["selectivity_ci_high"] - y]
                    axis.errorbar(x, y, yerr=np.asarray(error, dtype=float), marker="o",
                                  capsize=2, color=COLOURS[cell_type], label=cell_type)
                else:
                    axis.plot(x, y, marker="o", color=COLOURS[cell_type], label=cell_type)
            ticks = [np.log2(float(r)) for r in RATIOS]
            axis.set_xticks(ticks, [str(r) for r in RATIOS], fontsize=7)
            axis.set_xlabel("I:E ratio, IG = OG per PN (log2 axis)")
            axis.set_title(area)
            axis.grid(alpha=0.3)
        axes[0].set_ylabel(label)
        axes[-1].legend(title="cell type", fontsize=8)
        if rows.empty:
            for axis in axes:
                axis.text(0.5, 0.5, "no ratio-sweep networks yet", transform=axis.transAxes,
                          ha="center", color="#a04000")
        _note_missing(figure, missing)
        written += save(figure, folder / name)
    return written


def figure_differences(tables: dict, folder: Path) -> list[Path]:
    """Figure 3a/3b: D_den against D_sel per area, for standard, InhPN and No-Constraint;
    one row of panels per selectivity measure (`tables`: measure label -> `combine` table
    under that measure), the paper's first."""
    figure, axes = plt.subplots(len(tables), len(AREAS), figsize=(9, 3.6 * len(tables)),
                                squeeze=False)
    present = set()
    for row_axes, (label, table) in zip(axes, tables.items()):
        per_area = table.drop_duplicates(["model", "area"])
        per_area = per_area[per_area["variant"].isin(VARIANT_COLOURS)]
        present |= set(per_area["variant"])
        for axis, area in zip(row_axes, AREAS):
            rows = per_area[per_area["area"] == area]
            for variant, colour in VARIANT_COLOURS.items():
                points = rows[rows["variant"] == variant]
                if points.empty:
                    continue
                axis.scatter(points["D_sel"], points["D_den"], color=colour, alpha=0.35, s=40)
                axis.scatter(points["D_sel"].mean(), points["D_den"].mean(), color=colour,
                             s=110, edgecolor="black",
                             label=f"{VARIANT_LABELS[variant]} (n={len(points)})")
            axis.axhline(0, color="black", lw=0.8)
            axis.axvline(0, color="black", lw=0.8)
            axis.set_xlabel(f"D_sel = E - I, {label}")
            axis.set_ylabel("D_den = density(E) - density(I)")
            axis.set_title(f"{area}, {label}: light = network, dark = mean", fontsize=9)
            axis.grid(alpha=0.3)
            if len(rows):
                axis.legend(fontsize=7)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.5 / figure.get_figheight()))
    figure.suptitle(SIGN_CONVENTION, fontsize=8, y=1 - 0.08 / figure.get_figheight(), va="top")
    _note_missing(figure, [VARIANT_LABELS[v] for v in VARIANT_COLOURS if v not in present])
    return save(figure, folder / "fig3_density_vs_selectivity_differences")


NEURON_STATISTICS = {"skewness": "skewness", "lifetime_sparseness": "lifetime sparseness",
                     "kurtosis": "excess kurtosis"}


def figure_selectivity_per_neuron(all_measurements, folder: Path) -> list[Path]:
    """Every neuron's selectivity, per network and cell type, as a strip: the outliers
    that a mean over neurons hides. Near-silent neurons (responding to < 1% of the
    images) are hollow; the bar is the mean, the diamond the median."""
    groups = [(m, cell_type) for m in all_measurements for cell_type in CELL_TYPES]
    panels = [(statistic, area) for statistic in NEURON_STATISTICS for area in AREAS]
    figure, axes = plt.subplots(len(panels), 1, squeeze=False, sharex=True,
                                figsize=(max(9, 0.22 * len(groups)), 3 * len(panels)))
    jitter = np.random.default_rng(0)
    for axis, (statistic, area) in zip(axes[:, 0], panels):
        x, y, near, colours, centres = [], [], [], [], []
        for position, (measurements, cell_type) in enumerate(groups):
            moments = measurements.population(area, cell_type)
            values = getattr(moments, statistic)()
            live = np.isfinite(values)
            x.append(position + jitter.uniform(-0.25, 0.25, int(live.sum())))
            y.append(values[live])
            near.append(moments.near_silent[live])
            colours += [COLOURS[cell_type]] * int(live.sum())
            if live.any():
                centres.append((position, values[live].mean(), np.median(values[live])))
        x, y, near = np.concatenate(x), np.concatenate(y), np.concatenate(near)
        colours = np.asarray(colours)
        axis.scatter(x[~near], y[~near], s=7, c=colours[~near], alpha=0.6, lw=0)
        axis.scatter(x[near], y[near], s=12, facecolor="none", edgecolors=colours[near], lw=0.7)
        if centres:
            where, means, medians = np.asarray(centres).T
            axis.hlines(means, where - 0.35, where + 0.35, color="black", lw=1.2)
            axis.scatter(where, medians, marker="D", s=18, color="white", edgecolor="black",
                         zorder=3)
        if statistic != "lifetime_sparseness":
            axis.set_yscale("symlog", linthresh=1.0)
        axis.set_xticks(range(len(groups)),
                        [f"{m.model} {c}" for m, c in groups], rotation=90, fontsize=6)
        axis.set_ylabel(f"{NEURON_STATISTICS[statistic]}\nper neuron")
        axis.set_title(f"{area}: bar = mean, diamond = median, hollow = near-silent",
                       fontsize=8)
        axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return save(figure, folder / "fig_selectivity_per_neuron")


def figure_threshold_sensitivity(all_measurements, thresholds: dict, folder: Path,
                                 name="threshold_sensitivity") -> list[Path]:
    """Density of each cell type against the threshold θ, θ marked; one line per network."""
    figure, axes = plt.subplots(1, len(AREAS), figsize=(9, 3.6), sharey=True)
    styles = ["-", "--", ":", "-."]
    for axis, area in zip(axes, AREAS):
        magnitudes = [outgoing(m.weights, area, CELL_TYPES) for m in all_measurements]
        high = max(float(np.quantile(w, 0.999)) for w in magnitudes)
        grid = np.geomspace(high * 1e-3, high, 60)
        for index, measurements in enumerate(all_measurements):
            for cell_type in CELL_TYPES:
                curve = density_curve(outgoing(measurements.weights, area, [cell_type]), grid)
                axis.plot(grid, curve, color=COLOURS[cell_type],
                          linestyle=styles[index % len(styles)],
                          label=f"{measurements.model} {cell_type}")
        axis.axvline(thresholds[area], color="black", lw=0.8)
        axis.text(thresholds[area], 1.0, " θ", va="top")
        axis.set_xscale("log")
        axis.set_xlabel("threshold θ on |w| (absolute)")
        axis.set_title(area)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("connection density (fraction |w| > θ)")
    axes[-1].legend(fontsize=6, ncol=1 + len(all_measurements) // 4)
    return save(figure, folder / name)


def figure_perturbation(perturbation: pd.DataFrame, folder: Path,
                        per_class_models=("standard-s0", "inh_pn-s0", "no_dale-s0")
                        ) -> list[Path]:
    """Accuracy lost when each population is clamped (`ei_zoo.analysis.perturbation`): one row per
    network, a column per population and clamp; and, per class, for `per_class_models`."""
    overall = perturbation[(perturbation["class"] == "all") & (perturbation["clamp"] != "none")]
    clamps = (FUNCTIONAL_CLAMP, *(clamp for clamp in CLAMPS if clamp != FUNCTIONAL_CLAMP))
    columns = [(area, cell_type, clamp) for clamp in clamps for area in AREAS
               for cell_type in CELL_TYPES]
    models = list(dict.fromkeys(overall["model"]))
    drops = overall.set_index(["model", "area", "cell_type", "clamp"])["accuracy_drop"]
    grid = np.array([[100 * drops.get((model, *column), np.nan) for column in columns]
                     for model in models])
    figure, axis = plt.subplots(figsize=(15, 1.2 + 0.32 * len(models)))
    image = axis.imshow(grid, cmap="Reds", vmin=0, vmax=max(10.0, np.nanmax(grid)),
                        aspect="auto")
    for (row, column), value in np.ndenumerate(grid):
        axis.text(column, row, f"{value:.1f}", ha="center", va="center", fontsize=6,
                  color="white" if value > 40 else "black")
    axis.set_xticks(range(len(columns)),
                    [f"{area[-1]} {cell_type}\n{clamp}" for area, cell_type, clamp in columns],
                    fontsize=6)
    axis.set_xlabel("area (3 or 4), cell type and clamp", fontsize=8)
    axis.set_yticks(range(len(models)), models, fontsize=7)
    for boundary in range(1, len(clamps)):
        axis.axvline(boundary * len(columns) / len(clamps) - 0.5, color="black", lw=1)
    axis.set_title("Test accuracy lost (points) with each population's rates clamped to each "
                   "neuron's mean at each step (left: its information removed, its time course "
                   "kept), its mean over steps (middle) or zero (right)", fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.02, label="accuracy lost (points)")
    figure.tight_layout()
    written = save(figure, folder / "fig_perturbation")

    shown = [model for model in per_class_models if model in models]
    if not shown:
        return written
    per_class = perturbation[(perturbation["clamp"] == FUNCTIONAL_CLAMP)
                             & (perturbation["class"] != "all")]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), squeeze=False)
    for axis, model in zip(axes[0], shown):
        rows = per_class[per_class["model"] == model].set_index(
            ["area", "cell_type", "class"])["accuracy_drop"]
        populations = [(area, cell_type) for area in AREAS for cell_type in CELL_TYPES]
        grid = np.array([[100 * rows.get((area, cell_type, str(label)), np.nan)
                          for label in range(10)] for area, cell_type in populations])
        axis.imshow(grid, cmap="RdBu_r", vmin=-30, vmax=30, aspect="auto")
        axis.set_xticks(range(10), range(10), fontsize=7)
        axis.set_yticks(range(len(populations)),
                        [f"{area} {cell_type}" for area, cell_type in populations], fontsize=7)
        axis.set_xlabel("class", fontsize=8)
        axis.set_title(f"{model}: accuracy lost per class (points), per-step mean clamp",
                       fontsize=8)
    figure.tight_layout()
    return written + save(figure, folder / "fig_perturbation_per_class")


def figure_representations(similarity: pd.DataFrame, folder: Path) -> list[Path]:
    """Per variant, the RDM similarity of every two populations (`ei_zoo.analysis.rsa.
    population_similarity`): on the diagonal a population's consistency across seeds,
    off it two populations' likeness within a network."""
    variants = list(dict.fromkeys(similarity["variant"]))
    figure, axes = plt.subplots(1, len(variants), figsize=(5.0 * len(variants), 4.2),
                                squeeze=False, gridspec_kw={"wspace": 0.45})
    for axis, variant in zip(axes[0], variants):
        rows = similarity[similarity["variant"] == variant]
        populations = list(dict.fromkeys(rows["population"]))
        values = rows.set_index(["population", "other"])["similarity"]
        grid = np.array([[values.get((a, b), np.nan) for b in populations] for a in populations])
        image = axis.imshow(grid, cmap="viridis", vmin=0, vmax=1)
        for (row, column), value in np.ndenumerate(grid):
            axis.text(column, row, "—" if np.isnan(value) else f"{value:.2f}", ha="center",
                      va="center", fontsize=7, color="black" if value > 0.6 else "white")
        axis.set_xticks(range(len(populations)), populations, rotation=90, fontsize=7)
        axis.set_yticks(range(len(populations)), populations, fontsize=7)
        axis.set_title(f"{variant}: RDM similarity (r)", fontsize=9)
    figure.colorbar(image, ax=list(axes[0]), fraction=0.02, label="Pearson r of the RDMs")
    figure.suptitle("Last step, 500 test images. Diagonal: a population's consistency across "
                    "seeds; off the diagonal: two populations within a network (mean over "
                    "networks)", fontsize=8)
    return save(figure, folder / "fig_representations")
