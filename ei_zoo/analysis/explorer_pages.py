"""The explorer's HTML: a network's page, a population's page of neuron cards, the zoo's
overview (`ei_zoo.analysis.explore` computes what they show).

Every page is self-contained (style, script and data inline), so a site opens
from `file://`; every text taken from an export is escaped.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ei_zoo.analysis.explorer_card import markdown_html
from ei_zoo.analysis.explorer_charts import class_bars_svg, histogram_svg
from ei_zoo.analysis.perturbation import FUNCTIONAL_DROP, NOT_FUNCTIONAL, NOT_MEASURED
from ei_zoo.hub.cards import learning_curve_lines
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
SUMMARY_FIGURE = "populations.png"


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


def _number(value) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.3g}"


def _attribute(value) -> str:
    """A measure as the sort script reads it: a number, or empty where it is undefined."""
    return "" if pd.isna(value) else repr(float(value))


def rate_words(cell_type: str, config: dict) -> str:
    """What a response of `cell_type` is, per docs/network.md, for a network's config."""
    if cell_type == "PN":
        bounds = ("between -1 and 1: this network's PN output is signed"
                  if config.get("signed_principal_output") else "between 0 and 1")
        return f"its PN rate h = o·tanh(c) ({bounds})"
    return f"its {cell_type} rate, a ReLU output (0 or more, with no upper bound)"


def rate_label(cell_type: str) -> str:
    """The response axes' label."""
    return f"response = {cell_type} rate (dimensionless)"


def _top_images(population, neuron: int, labels: np.ndarray) -> str:
    """The strip of top images, each with its response below it (class in the tooltip)."""
    indices, values = population.top_indices[neuron], population.top_values[neuron]
    tops = ", ".join(f"#{index} ({value:.3g})" for index, value in zip(indices, values))
    cells = "".join(
        f"<span title='test image #{index}, {html.escape(CIFAR10_CLASSES[labels[index]])}: "
        f"response {value:.4g}'>{value:.3g}</span>" for index, value in zip(indices, values))
    return (f"<img class='top' src='images/{html.escape(thumbnail_name(population, neuron))}' "
            f"alt='top {len(indices)} test images' title='test images {tops}'>"
            f"<div class='values' style='grid-template-columns: repeat({len(indices)}, 1fr)'>"
            f"{cells}</div>")


def neuron_card(population, row, labels: np.ndarray) -> str:
    neuron, cell_type = int(row.neuron), html.escape(population.cell_type)
    values = population.responses[:, neuron]
    class_means = [values[labels == label].mean() if (labels == label).any() else 0.0
                   for label in range(len(CIFAR10_CLASSES))]
    preferred = int(row.preferred_class)
    attributes = " ".join(f"data-{name.replace('_', '-')}='{_attribute(getattr(row, name))}'"
                          for name in MEASURES)
    state = "silent" if row.silent else "near-silent" if row.near_silent else ""
    measures = "".join(f"<tr><th>{html.escape(label)}</th><td>{_number(getattr(row, name))}"
                       f"</td></tr>" for name, label in MEASURES.items() if name != "neuron")
    label = rate_label(population.cell_type)
    return f"""
<article class="neuron {state}" {attributes}>
  <h3>{cell_type} {neuron}{f' <span class="flag">{state}</span>' if state else ''}</h3>
  {_top_images(population, neuron, labels)}
  <div class="plots">
    <figure>{histogram_svg(values, HISTOGRAM_BINS, label)}
      <figcaption>Responses to {len(values):,} images; {100 * np.mean(values == 0):.0f}%
        exactly 0.</figcaption></figure>
    <figure>{class_bars_svg(class_means, CIFAR10_CLASSES, float(values.mean()),
                            preferred if preferred >= 0 else None, "mean " + label)}
      <figcaption>Mean response per class; dashed: over all images. Preferred:
        {CIFAR10_CLASSES[preferred] if preferred >= 0 else 'none'}.</figcaption></figure>
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
img.top { width: 100%; image-rendering: pixelated; display: block; }
.values { display: grid; font-size: 0.75em; text-align: center; color: #333; }
svg.chart { width: 100%; height: auto; display: block; }
.plots figure { margin: 0.3em 0; }
figcaption { font-size: 0.8em; color: #555; }
.measures { font-size: 0.85em; }
.card, .front-matter { max-width: 60em; }
.front-matter { font-size: 0.85em; margin-bottom: 1em; }
.card pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
.card img, .curve img { max-width: 100%; }
"""


def page(title: str, body: str, back: tuple[str, str] | None = None, script: str = "") -> str:
    nav = (f"<nav><a href='{html.escape(back[0])}'>&larr; {html.escape(back[1])}</a></nav>"
           if back else "")
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
    low, high = summary["drop_ci"]
    function = (f"Clamping it to zero costs {100 * summary['drop_zero']:.2f} points of test "
                f"accuracy, to each neuron's mean rate {100 * summary['drop_mean']:.2f} points, "
                f"to its mean at each step {100 * summary['drop_step_mean']:.2f} points (95% "
                f"interval {100 * low:.2f} to {100 * high:.2f}): <b>{summary['functional']}</b> "
                f"(functional: the whole interval of the per-step mean clamp's cost lies above "
                f"{100 * FUNCTIONAL_DROP:.0f} point; not functional: below it; indeterminate: "
                "it straddles the line)"
                if summary["functional"] != NOT_MEASURED
                else "functional role not measured (run `ei-zoo perturb ID --save`)")
    cards = "".join(neuron_card(population, row, labels) for row in table.itertuples())
    steps, height, width = population.grid
    body = f"""
<p>{summary['neurons']} neurons ({summary['silent']} silent, {summary['near_silent']} near-silent:
responding to fewer than 1% of the images), over {len(labels):,} CIFAR-10 test images.
A neuron's response to an image is {html.escape(rate_words(population.cell_type,
                                                          metadata.get('config', {})))}
at the last of its {steps} steps, averaged over its {height}x{width} positions: a model
neuron's activity, dimensionless, not spikes per second. {function}.</p>
{drive_html(drives)}
<h2>Neurons</h2>
<p>Each card shows the {population.top_indices.shape[1]} test images the neuron responds to
most, with each one's response below it (hover for the image's number and class); the
histogram of its responses to every image, with counts on a log axis, so that the few images
that drive a sparse neuron stay visible beside the many that leave it at or near 0; its mean
response to each CIFAR-10 class, the preferred class in red, the mean over all images dashed;
and its measures.</p>
<p><label>Sort by <select id="sort">{options}</select></label></p>
<section id="neurons">{cards}</section>"""
    return page(f"{metadata['id']}: {population.area} {population.cell_type}", body,
                 back=(INDEX_PAGE, metadata["id"]), script=SORT_SCRIPT)


def _dataset_key(name: str) -> str:
    """`data-class-variance-fraction` is `dataset.classVarianceFraction` in the page."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def network_page(metadata: dict, summaries: pd.DataFrame, num_images: int,
                  zoo_link: str | None) -> str:
    """The network's page: its facts, its populations, their figure, its learning curve."""
    rows = "".join(
        f"<tr><td><a href='{row.page}'>{row.area} {row.cell_type}</a></td><td>{row.neurons}</td>"
        f"<td>{row.silent}</td><td>{row.near_silent}</td><td>{_number(row.mean_rate)}</td>"
        f"<td>{_number(row.lifetime_sparseness)}</td><td>{_number(row.class_variance_fraction)}"
        f"</td><td>{_number(100 * row.drop_step_mean)}</td><td>{row.functional}</td></tr>"
        for row in summaries.itertuples())
    body = f"""
<p>{_facts(metadata)}. <a href='{CARD_PAGE}'>Model card</a>.</p>
<h2>Populations</h2>
<table><tr><th>population</th><th>neurons</th><th>silent</th><th>near-silent</th>
<th>mean rate</th><th>lifetime sparseness (median)</th><th>class variance fraction (median)</th>
<th>per-step mean clamp: accuracy drop (points)</th><th>functional</th></tr>{rows}</table>
<p>Measured on the first {num_images:,} CIFAR-10 test images. A rate is a model neuron's
activity, dimensionless: the PN rate h = o·tanh(c), the IG and OG rates ReLU outputs
(docs/network.md); the mean rate is over images and neurons, the medians over the
neurons that are not silent. The per-step mean clamp's drop is the test accuracy (on the
10,000 test images) lost when every neuron of the population is held, at each step, at its
mean over the images (<code>ei-zoo perturb</code>); a population is functional when the
whole paired 95% interval of that drop lies above {100 * FUNCTIONAL_DROP:.0f} point, not
functional when it lies below, indeterminate when it straddles the line.</p>
<figure><img src='{SUMMARY_FIGURE}' alt='lifetime sparseness and skewness per population'>
<figcaption>Over each population's neurons, not silent: lifetime sparseness (0: the same
response to every image, 1: a response to one image only) and skewness of the responses; a
box spans the middle half of the neurons, its line is their median, its whiskers reach the
farthest neurons within 1.5 box heights of it, circles are the neurons beyond.</figcaption>
</figure>
<h2>Learning curve</h2>
<div class='curve'>{markdown_html(chr(10).join(learning_curve_lines(metadata)))}</div>"""
    return page(metadata["id"], body, back=(zoo_link, "all networks") if zoo_link else None)


def _facts(metadata: dict) -> str:
    accuracy = metadata.get("test_accuracy")
    return (f"variant <b>{html.escape(str(metadata.get('variant')))}</b>, seed "
            f"{html.escape(str(metadata.get('seed')))}, recipe "
            f"{html.escape(str(metadata.get('recipe_version', 1)))}, test accuracy "
            f"{'—' if accuracy is None else f'{100 * accuracy:.2f}%'}")


def zoo_row(metadata: dict, drops_by_population: dict) -> str:
    silent = metadata.get("silent_units", {})
    silent_names = [f"{area} {cell_type} ({count})" for area, counts in silent.items()
                    for cell_type, count in counts.items() if count]
    idle = ([key.replace("/", " ") for key, drops in drops_by_population.items()
             if drops["functional"] == NOT_FUNCTIONAL] if drops_by_population else [NOT_MEASURED])
    accuracy = metadata.get("test_accuracy")
    identifier = html.escape(metadata["id"])  # an id is a name (`is_model_id`); escaped anyway
    cells = [str(metadata.get("variant")), str(metadata.get("seed")),
             str(metadata.get("recipe_version", 1)),
             "—" if accuracy is None else f"{100 * accuracy:.2f}%",
             ", ".join(silent_names) or "none", ", ".join(idle) or "none"]
    return (f"<tr><td><a href='{identifier}/{INDEX_PAGE}'>{identifier}</a></td>"
            + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
            + f"<td><a href='{identifier}/{CARD_PAGE}'>card</a></td></tr>")


def zoo_page(rows: list[str], num_images: int) -> str:
    body = f"""
<table><tr><th>model</th><th>variant</th><th>seed</th><th>recipe</th><th>test accuracy</th>
<th>silent neurons</th><th>populations not functional (per-step mean clamp costs less
than {100 * FUNCTIONAL_DROP:.0f} point, 95% interval)</th><th>model card</th></tr>
{''.join(rows)}</table>
<p>Each network's pages: measured on the first {num_images:,} CIFAR-10 test images.</p>"""
    return page("ei_zoo: every network", body)
