"""The explorer's HTML: a network's page, a population's page of neuron cards, the zoo's
overview (`ei_zoo.analysis.explore` computes what they show).

Every page is self-contained (style, script and data inline), so a site opens
from `file://`; every text taken from an export is escaped.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ei_zoo.analysis.perturbation import FUNCTIONAL_DROP, NOT_MEASURED, functional
from ei_zoo.network.config import CIFAR10_CLASSES

HISTOGRAM_BINS = 20
# Each neuron's measures, by the name its card and the sort menu show.
MEASURES = {
    "neuron": "neuron",
    "mean_rate": "mean rate",
    "skewness": "skewness",
    "kurtosis": "kurtosis",
    "lifetime_sparseness": "lifetime sparseness",
    "class_variance_fraction": "class variance fraction (eta²)",
    "class_selectivity_index": "class selectivity index",
}
INDEX_PAGE = "index.html"
CARD_PAGE = "model_card.html"


def thumbnail_name(population, neuron: int) -> str:
    return f"{population.area}_{population.cell_type}_{neuron:03d}.png"


def page_name(area: str, cell_type: str) -> str:
    return f"{area}_{cell_type}.html"


def drive_html(drives: pd.DataFrame | None) -> str:
    if drives is None:
        return "<p>Drive shares not measured (run `ei-zoo perturb ID --save`).</p>"
    rows = "".join(
        f"<tr><td>{html.escape(row.area)} {html.escape(row.target)}</td>"
        f"<td>{_number(row.share)}</td><td>{_number(row.drive_mean)}</td>"
        f"<td>{_number(row.drive_std)}</td><td>{_number(row.target_mean)}</td>"
        f"<td>{_number(row.target_std)}</td></tr>" for row in drives.itertuples())
    return ("<h2>What it drives</h2><p>Of each target's pre-activation, the share of its "
            "variance (over images, positions and steps) this population's contribution "
            "carries, and the contribution's mean and spread against the target's. A gate "
            "(i, o) has this one source and its bias: its share is 1, and the spread says "
            "whether the gate moves.</p><table><tr><th>target</th><th>share</th>"
            "<th>drive mean</th><th>drive std</th><th>target mean</th><th>target std</th>"
            f"</tr>{rows}</table>")


def _bars(values, labels=None, highlight=None, width=220, height=60) -> str:
    """A small inline SVG bar chart (no script, no file)."""
    values = np.nan_to_num(np.asarray(values, "float64"))
    top = values.max() if len(values) and values.max() > 0 else 1.0
    step = width / max(len(values), 1)
    bars = []
    for position, value in enumerate(values):
        bar = height * value / top
        title = f"{labels[position]}: {value:.3g}" if labels is not None else f"{value:.3g}"
        colour = "#c0392b" if position == highlight else "#4a6fa5"
        bars.append(f"<rect x='{position * step:.1f}' y='{height - bar:.1f}' "
                    f"width='{max(step - 1, 1):.1f}' height='{bar:.1f}' fill='{colour}'>"
                    f"<title>{html.escape(title)}</title></rect>")
    return (f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"role='img'>{''.join(bars)}</svg>")


def _number(value) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.3g}"


def _attribute(value) -> str:
    """A measure as the sort script reads it: a number, or empty where it is undefined."""
    return "" if pd.isna(value) else repr(float(value))


def neuron_card(population, row, labels: np.ndarray) -> str:
    neuron = int(row.neuron)
    values = population.responses[:, neuron]
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    bin_labels = [f"{low:.3g} to {high:.3g}" for low, high in zip(edges[:-1], edges[1:])]
    class_means = [values[labels == label].mean() if (labels == label).any() else 0.0
                   for label in range(len(CIFAR10_CLASSES))]
    preferred = int(row.preferred_class)
    attributes = " ".join(f"data-{name.replace('_', '-')}='{_attribute(getattr(row, name))}'"
                          for name in MEASURES)
    state = "silent" if row.silent else "near-silent" if row.near_silent else ""
    tops = ", ".join(f"#{index} ({value:.3g})" for index, value
                     in zip(population.top_indices[neuron], population.top_values[neuron]))
    measures = "".join(f"<tr><th>{html.escape(label)}</th><td>{_number(getattr(row, name))}"
                       f"</td></tr>" for name, label in MEASURES.items() if name != "neuron")
    return f"""
<article class="neuron {state}" {attributes}>
  <h3>{population.cell_type} {neuron}{f' <span class="flag">{state}</span>' if state else ''}</h3>
  <img class="top" src="images/{thumbnail_name(population, neuron)}"
       alt="top {len(population.top_indices[neuron])} test images" title="test images {tops}">
  <div class="plots">
    <figure>{_bars(counts, bin_labels)}
      <figcaption>responses ({len(values):,} images)</figcaption></figure>
    <figure>{_bars(class_means, CIFAR10_CLASSES, preferred if preferred >= 0 else None)}
      <figcaption>mean response by class; preferred:
        {CIFAR10_CLASSES[preferred] if preferred >= 0 else 'none'}</figcaption></figure>
  </div>
  <table class="measures">{measures}</table>
</article>"""


SORT_SCRIPT = """
const select = document.getElementById('sort');
const grid = document.getElementById('neurons');
function sortCards() {
  const key = select.value;
  const descending = key !== 'neuron';
  const cards = Array.from(grid.children);
  cards.sort((a, b) => {
    const x = parseFloat(a.dataset[key]), y = parseFloat(b.dataset[key]);
    const missing = (isNaN(x) ? 1 : 0) - (isNaN(y) ? 1 : 0);
    if (missing) return missing;
    return descending ? y - x : x - y;
  });
  cards.forEach(card => grid.appendChild(card));
}
select.addEventListener('change', sortCards);
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; }
td, th { padding: 0.2em 0.6em; text-align: left; border-bottom: 1px solid #ddd; }
#neurons { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
           gap: 1em; }
.neuron { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em; }
.neuron.silent, .neuron.near-silent { background: #f3f3f3; }
.neuron h3 { margin: 0 0 0.4em 0; font-size: 1em; }
.flag { color: #a33; font-weight: normal; font-size: 0.85em; }
img.top { width: 100%; image-rendering: pixelated; }
.plots figure { margin: 0.3em 0; }
figcaption { font-size: 0.8em; color: #555; }
.measures { font-size: 0.85em; }
pre.card { white-space: pre-wrap; }
"""


def page(title: str, body: str, back: tuple[str, str] | None = None, script: str = "") -> str:
    nav = f"<nav><a href='{back[0]}'>&larr; {html.escape(back[1])}</a></nav>" if back else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body>{nav}<h1>{html.escape(title)}</h1>
{body}
{f'<script>{script}</script>' if script else ''}
</body></html>
"""


def population_page(metadata: dict, population, table: pd.DataFrame,
                     summary: dict, labels: np.ndarray, drives: pd.DataFrame | None) -> str:
    options = "".join(f"<option value='{_dataset_key(name)}'>{html.escape(label)}</option>"
                      for name, label in MEASURES.items())
    function = (f"Clamping it to zero costs {100 * summary['drop_zero']:.2f} points of test "
                f"accuracy, to each neuron's mean rate {100 * summary['drop_mean']:.2f} points: "
                f"functional: <b>{summary['functional']}</b> (criterion: the mean clamp costs "
                f"more than {100 * FUNCTIONAL_DROP:.0f} point)"
                if summary["functional"] != NOT_MEASURED
                else "functional role not measured (run `ei-zoo perturb ID --save`)")
    cards = "".join(neuron_card(population, row, labels) for row in table.itertuples())
    body = f"""
<p>{summary['neurons']} neurons ({summary['silent']} silent, {summary['near_silent']} near-silent:
responding to fewer than 1% of the images), over {len(labels):,} CIFAR-10 test images.
A response is the rate at the last step, averaged over positions. {function}.</p>
{drive_html(drives)}
<h2>Neurons</h2>
<p><label>Sort by <select id="sort">{options}</select></label></p>
<section id="neurons">{cards}</section>"""
    return page(f"{metadata['id']}: {population.area} {population.cell_type}", body,
                 back=(INDEX_PAGE, metadata["id"]), script=SORT_SCRIPT)


def _dataset_key(name: str) -> str:
    """`data-class-variance-fraction` is `dataset.classVarianceFraction` in the page."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def network_page(metadata: dict, summaries: pd.DataFrame, figures, num_images: int,
                  zoo_link: str | None) -> str:
    rows = "".join(
        f"<tr><td><a href='{row.page}'>{row.area} {row.cell_type}</a></td><td>{row.neurons}</td>"
        f"<td>{row.silent}</td><td>{row.near_silent}</td><td>{_number(row.mean_rate)}</td>"
        f"<td>{_number(row.lifetime_sparseness)}</td><td>{_number(row.class_variance_fraction)}"
        f"</td><td>{_number(100 * row.drop_mean)}</td><td>{row.functional}</td></tr>"
        for row in summaries.itertuples())
    accuracy = metadata.get("test_accuracy")
    facts = (f"variant <b>{html.escape(str(metadata.get('variant')))}</b>, seed "
             f"{metadata.get('seed')}, recipe {metadata.get('recipe_version', 1)}, test accuracy "
             f"{'—' if accuracy is None else f'{100 * accuracy:.2f}%'}")
    pictures = "".join(f"<figure><img src='{name}' alt='{html.escape(caption)}'>"
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                       for name, caption in figures)
    body = f"""
<p>{facts}. <a href='{CARD_PAGE}'>Model card</a>.</p>
<h2>Populations</h2>
<table><tr><th>population</th><th>neurons</th><th>silent</th><th>near-silent</th>
<th>mean rate</th><th>lifetime sparseness (median)</th><th>class variance fraction (median)</th>
<th>mean-clamp accuracy drop (points)</th><th>functional</th></tr>{rows}</table>
<p>Measured on the first {num_images:,} CIFAR-10 test images.</p>
<h2>Figures</h2>{pictures}"""
    return page(metadata["id"], body, back=(zoo_link, "all networks") if zoo_link else None)


def zoo_row(metadata: dict, drops_by_population: dict) -> str:
    silent = metadata.get("silent_units", {})
    silent_names = [f"{area} {cell_type} ({count})" for area, counts in silent.items()
                    for cell_type, count in counts.items() if count]
    idle = ([key.replace("/", " ") for key, drops in drops_by_population.items()
             if functional(drops["mean"]) == "no"] if drops_by_population else [NOT_MEASURED])
    accuracy = metadata.get("test_accuracy")
    identifier = html.escape(metadata["id"])  # an id is a name (`is_model_id`); escaped anyway
    return (f"<tr><td><a href='{identifier}/{INDEX_PAGE}'>{identifier}</a></td>"
            f"<td>{html.escape(str(metadata.get('variant')))}</td><td>{metadata.get('seed')}</td>"
            f"<td>{metadata.get('recipe_version', 1)}</td>"
            f"<td>{'—' if accuracy is None else f'{100 * accuracy:.2f}%'}</td>"
            f"<td>{', '.join(silent_names) or 'none'}</td><td>{', '.join(idle) or 'none'}</td>"
            f"<td><a href='{identifier}/{CARD_PAGE}'>card</a></td></tr>")


def zoo_page(rows: list[str], num_images: int) -> str:
    body = f"""
<table><tr><th>model</th><th>variant</th><th>seed</th><th>recipe</th><th>test accuracy</th>
<th>silent neurons</th><th>non-functional populations (mean clamp costs &le;
{100 * FUNCTIONAL_DROP:.0f} point)</th><th>model card</th></tr>{''.join(rows)}</table>
<p>Each network's pages: measured on the first {num_images:,} CIFAR-10 test images.</p>"""
    return page("ei_zoo: every network", body)
