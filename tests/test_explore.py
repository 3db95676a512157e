"""The neuron explorer (issue 22): its streamed top-k, its pages, and the site in a real
browser (Debian's chromium; `.ci/run` installs it, so in CI this never skips)."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ei_zoo import analysis
from ei_zoo.analysis.explore import (
    INDEX_PAGE,
    SITE,
    TopImages,
    explore,
    explore_zoo,
    page_name,
)
from ei_zoo.analysis.explorer_card import card_html
from ei_zoo.analysis.explorer_charts import histogram_svg
from ei_zoo.analysis.explorer_pages import network_page, zoo_row
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import DRIVE, LEARNING_CURVE, read_metadata
from ei_zoo.hub.export import export_model
from ei_zoo.hub.measured import write_measured
from ei_zoo.network.config import AREAS, CELL_TYPES, CIFAR10_CLASSES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGES = 300
TOP = 4


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 7), min_size=1, max_size=5),
       st.integers(0, 2**16))
def test_top_images_streamed_batch_by_batch_equal_the_top_of_all_images(k, batches, seed):
    rng = np.random.default_rng(seed)
    neurons = 3
    total = sum(batches)
    responses = rng.integers(0, 4, (total, neurons)).astype("float32")  # ties, on purpose
    images = rng.integers(0, 256, (total, 32, 32, 3), dtype=np.uint8)
    top = TopImages(neurons, k)
    first = 0
    for size in batches:
        top.update(responses[first:first + size], images[first:first + size], first)
        first += size
    order = np.argsort(-responses.T, axis=1, kind="stable")[:, :k]  # earlier image wins a tie
    np.testing.assert_array_equal(top.indices, order)
    np.testing.assert_array_equal(top.values, np.take_along_axis(responses.T, order, axis=1))
    np.testing.assert_array_equal(top.images, images[order])


def test_a_histogram_counts_on_a_log_axis_so_one_image_shows_beside_thousands():
    values = np.zeros(9_000)
    values[-1] = 1.0
    svg = histogram_svg(values, bins=10, x_label="response")
    heights = [float(height) for height in re.findall(r"<rect [^>]*height='([0-9.]+)'", svg)]
    assert len(heights) == 10 and heights[1:-1] == [0.0] * 8
    assert heights[-1] > 0.05 * heights[0], "a bin of one image must be a visible bar"
    labels = re.findall(r"<text [^>]*>([^<]*)</text>", svg)
    assert {"1", "10", "100", "1,000", "10,000", "images (log)", "response", "0"} \
        <= set(labels)


HOSTILE_CARD = """---
license: <b>mine</b>
tags:
- '<script>alert(1)</script>'
---
# A card <script>alert(2)</script>

<img src=x onerror=alert(3)> [run](javascript:alert(4)) [also](JaVa\tScript:alert(5))
![picture](learning_curve.png) [paper](https://example.org/paper)

| area | neurons |
|---|---|
| area3 | 64 |
"""


def test_a_model_card_is_rendered_with_its_front_matter_as_a_table_and_nothing_raw():
    page = card_html(HOSTILE_CARD)
    assert "<script" not in page and "<b>" not in page and "onerror=alert(3)>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "javascript:" not in page.lower() and "script:alert(5)" not in page.lower()
    assert "<th>license</th><td>&lt;b&gt;mine&lt;/b&gt;</td>" in page
    assert "---" not in page and "license:" not in page
    assert '<img alt="picture" src="learning_curve.png" />' in page
    assert '<a href="https://example.org/paper">paper</a>' in page
    assert "<td>area3</td>" in page and "<h1>A card" in page


def test_pages_escape_what_an_export_says():
    metadata = {"id": "standard-s0", "variant": "<i>v</i>", "seed": "<b>0</b>",
                "recipe_version": "<u>2</u>", "config": {},
                "silent_units": {"<em>area3</em>": {"PN": 1}}}
    written = network_page(metadata, pd.DataFrame(), 10, None) + zoo_row(metadata, {})
    for tag in ("<i>", "<b>0", "<u>", "<em>"):
        assert tag not in written


@pytest.fixture(scope="module")
def measured_export(tiny_export, cifar_dir, tmp_path_factory):
    """A copy of the tiny export that keeps its drive table (as `ei-zoo perturb --save`)."""
    folder = shutil.copytree(tiny_export, tmp_path_factory.mktemp("measured") / "standard-s0")
    write_measured(folder, {DRIVE: analysis.drive(folder, 100, data_dir=cifar_dir)})
    return folder


@pytest.fixture(scope="module")
def site(measured_export, cifar_dir, tmp_path_factory):
    """The explorer of the tiny export on the first test images, written by the CLI."""
    out = tmp_path_factory.mktemp("explorer") / "standard-s0"
    assert cli_main(["explore", str(measured_export), "--images", str(IMAGES), "--top", str(TOP),
                     "--data-dir", cifar_dir, "--out", str(out)]) == 0
    return out


def _sizes(export):
    cell_types = read_metadata(export)["cell_types"]
    return {(area, cell_type): cell_types[area][cell_type]["channels"]
            for area in AREAS for cell_type in CELL_TYPES}


def test_explore_writes_a_page_per_population_and_a_strip_per_neuron(site, tiny_export):
    assert (site / SITE.marker).is_file() and (site / INDEX_PAGE).is_file()
    index = (site / INDEX_PAGE).read_text()
    for (area, cell_type), size in _sizes(tiny_export).items():
        assert f"href='{page_name(area, cell_type)}'" in index
        page = (site / page_name(area, cell_type)).read_text()
        assert page.count("<article class=\"neuron") == size
        strips = sorted((site / "images").glob(f"{area}_{cell_type}_*.png"))
        assert len(strips) == size
    assert "populations.png" in index and (site / "populations.png").is_file()
    og = (site / page_name("area4", "OG")).read_text()
    assert "What it drives" in og and "<td>area4 o</td><td>1</td>" in og
    assert "<td>readout logits</td>" in (site / page_name("area4", "PN")).read_text()
    assert "<td>area4 g</td>" in (site / page_name("area3", "PN")).read_text()  # next area
    assert not [path for path in site.parent.iterdir() if path.name.startswith(".")]


def test_explore_refuses_to_replace_a_folder_that_is_not_a_site(tiny_export, tmp_path, capsys):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("work")
    with pytest.raises(ValueError, match="not an explorer site"):
        SITE.check(mine)
    assert cli_main(["explore", str(tiny_export), "--out", str(mine)]) == 2
    assert "not an explorer site" in capsys.readouterr().err
    assert (mine / "chapter1.tex").read_text() == "work"
    assert cli_main(["explore", "--out", str(tmp_path / "x")]) == 2
    assert cli_main(["explore", str(tiny_export), "--zoo", "--out", str(tmp_path / "x")]) == 2
    assert "or pass --zoo" in capsys.readouterr().err


def test_explore_replaces_its_own_earlier_site(site, tiny_export, cifar_dir, tmp_path):
    """A page an earlier site had is gone; a file of the user's put in it is never lost."""
    again = tmp_path / "site"
    shutil.copytree(site, again)
    (again / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"site holds notes\.txt, which is not part of an "
                                         r"explorer site and would be lost"):
        explore(tiny_export, again, num_images=50, k=2, data_dir=cifar_dir)
    (again / "notes.txt").unlink()
    (again / "stale.html").write_text("from an earlier run")  # a page it no longer writes
    marker = json.loads((again / SITE.marker).read_text())
    (again / SITE.marker).write_text(json.dumps({"entries": [*marker["entries"],
                                                             "stale.html"]}))
    explore(tiny_export, again, num_images=50, k=2, data_dir=cifar_dir)
    assert not (again / "stale.html").exists()
    assert "first 50 CIFAR-10 test images" in (again / INDEX_PAGE).read_text()


@pytest.fixture(scope="module")
def zoo_site(tiny_export, trained_tiny, cifar_dir, tmp_path_factory):
    """Two exports: the tiny one, whose history has no test curve, and one with a
    learning curve (as a recipe-2 training writes it)."""
    exported = tmp_path_factory.mktemp("zoo_exports")
    shutil.copytree(tiny_export, exported / "standard-s0")
    curves = {"loss": [2.3, 2.2], "accuracy": [0.1, 0.12], "test_loss": [2.3, 2.25],
              "test_accuracy": [0.1, 0.125]}
    export_model(trained_tiny[0], exported / "standard-s1", history=curves,
                 metadata={"seed": 1, "test_accuracy": 0.125, "learning_curve": True})
    assert (exported / "standard-s1" / LEARNING_CURVE).is_file()
    return explore_zoo(exported, tmp_path_factory.mktemp("zoo_site") / "zoo", num_images=100,
                       k=2, data_dir=cifar_dir)


def test_explore_zoo_links_every_export_to_its_pages_and_card(zoo_site):
    overview = (zoo_site / INDEX_PAGE).read_text()
    assert "href='standard-s0/index.html'" in overview
    assert "href='standard-s0/model_card.html'" in overview
    assert "href='../index.html'" in (zoo_site / "standard-s0" / INDEX_PAGE).read_text()


# --- In a real browser -----------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium, driven by Playwright (which fetches no browser of its own).

    Skipped where chromium or Playwright is missing, except under
    EI_ZOO_REQUIRE_BROWSER=1, which `.ci/run` sets after installing both.
    """
    required = os.environ.get("EI_ZOO_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed (the test extra has it)")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        if required:
            pytest.fail(f"no chromium at {CHROMIUM}; .ci/run installs Debian's package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser, path: Path):
    """The page at `path` from file://, and the console errors and failed requests seen."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def _broken_images(page) -> list[str]:
    return page.eval_on_selector_all(
        "img", "images => images.filter(i => !i.complete || i.naturalWidth === 0)"
               ".map(i => i.getAttribute('src'))")


def test_every_page_loads_whole_in_chromium_and_the_cards_sort(site, zoo_site, tiny_export,
                                                               browser, tmp_path):
    page, problems = _open(browser, site / INDEX_PAGE)
    assert _broken_images(page) == [] and problems == []
    page.close()
    changed = []
    for (area, cell_type), size in _sizes(tiny_export).items():
        page, problems = _open(browser, site / page_name(area, cell_type))
        assert page.locator("article.neuron").count() == size
        assert _broken_images(page) == []
        before = page.eval_on_selector_all("article.neuron",
                                           "cards => cards.map(c => c.dataset.neuron)")
        page.select_option("#sort", "lifetimeSparseness")
        values = page.eval_on_selector_all(
            "article.neuron", "cards => cards.map(c => c.dataset.lifetimeSparseness)")
        numbers = [float(value) for value in values if value]
        assert numbers == sorted(numbers, reverse=True)
        assert all(values[:len(numbers)]), "undefined measures sort last"
        after = page.eval_on_selector_all("article.neuron",
                                          "cards => cards.map(c => c.dataset.neuron)")
        changed.append(after != before)
        page.select_option("#sort", "neuron")
        assert page.eval_on_selector_all("article.neuron",
                                         "cards => cards.map(c => c.dataset.neuron)") == before
        if (area, cell_type) == ("area4", "OG"):
            page.screenshot(path=str(tmp_path / "population.png"))
        assert problems == [], problems
        page.close()
    assert any(changed), "sorting by lifetime sparseness left every page in neuron order"
    assert (tmp_path / "population.png").stat().st_size > 10_000

    page, problems = _open(browser, zoo_site / INDEX_PAGE)
    page.click("text=standard-s0")
    page.wait_for_load_state("load")
    assert page.url.endswith("standard-s0/index.html")
    assert _broken_images(page) == [] and problems == []
    page.close()


def _texts(scope, selector: str) -> list[str]:
    """The text of every element under `scope` (a page or a locator) that `selector` finds."""
    return [text.strip() for text in scope.locator(selector).all_text_contents()]


def test_a_neuron_card_labels_its_axes_classes_and_top_responses_in_chromium(site, browser):
    page, problems = _open(browser, site / page_name("area4", "OG"))
    assert "OG rate, a ReLU output" in page.inner_text("body")
    card = page.locator("article.neuron").first
    histogram, classes = card.locator("svg.chart").all()
    histogram_labels = _texts(histogram, "text")
    assert {"images (log)", "response = OG rate (dimensionless)", "1"} <= set(histogram_labels)
    assert len(histogram_labels) >= 6, "ticks on both axes"
    class_labels = _texts(classes, "text")
    assert set(CIFAR10_CLASSES) | {"mean response = OG rate (dimensionless)"} <= set(class_labels)
    values = [float(text) for text in _texts(card, ".values span")]
    assert len(values) == TOP and values == sorted(values, reverse=True)
    assert card.locator(".values span").first.is_visible()
    box, strip = card.locator(".values").bounding_box(), card.locator("img.top").bounding_box()
    assert abs(box["width"] - strip["width"]) < 1, "one value under each image"
    assert problems == []
    page.close()


def test_a_network_shows_its_learning_curve_or_says_it_was_not_recorded(zoo_site, browser):
    for model, recorded in (("standard-s0", False), ("standard-s1", True)):
        page, problems = _open(browser, zoo_site / model / INDEX_PAGE)
        curve = page.locator("h2:text('Learning curve') + .curve")
        assert curve.count() == 1
        if recorded:
            assert curve.locator(f"img[src='{LEARNING_CURVE}']").count() == 1
        else:
            assert curve.inner_text().startswith("Not recorded")
        assert _broken_images(page) == [] and problems == []
        page.close()


def test_the_model_card_page_is_rendered_html_in_chromium(site, browser):
    page, problems = _open(browser, site / "model_card.html")
    text = page.inner_text("body")
    assert "---" not in text and "license: cc-by-4.0" not in text
    assert _texts(page, "table.front-matter th")[:2] == ["license", "library_name"]
    assert page.locator(".card h1").count() == 1 and page.locator(".card h2").count() >= 5
    assert page.locator(".card table td").count() > 0, "the cell types' table"
    assert _broken_images(page) == [] and problems == []
    page.close()


def test_the_default_out_names_the_export_even_when_given_as_a_path(tiny_export, cifar_dir,
                                                                   tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["explore", str(tiny_export), "--images", "20", "--top", "2",
                     "--data-dir", cifar_dir]) == 0
    assert (tmp_path / "explorer" / tiny_export.name / INDEX_PAGE).is_file()
    assert not (tiny_export / SITE.marker).exists()
