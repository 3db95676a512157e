"""The analysis: streamed moments, density, analysis of exports, figures and claims."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import ei_zoo
from ei_zoo import data
from ei_zoo.analysis import (
    Choice,
    Measurements,
    RunningMoments,
    analyze,
    calibrate_threshold,
    combine,
    connection_density,
    density_curve,
    gini,
    measure,
    perturb,
    top_share,
)
from ei_zoo.analysis.check import compare_results
from ei_zoo.analysis.connectivity import pathway_density
from ei_zoo.analysis.measure import thresholds_of, with_interval
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import CLASS_TUNING, PERTURBATION
from ei_zoo.hub.export import export_model, write_measured
from ei_zoo.network.config import target_slice
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.network.responses import OPTIONS, all_responses
from ei_zoo.paper import claims, design, sensitivity
from ei_zoo.paper.reproduce import reproduce


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 40), min_size=1, max_size=6),
       st.sampled_from(["normal", "exponential", "sparse"]))
def test_streamed_skewness_equals_scipy(seed, batch_sizes, kind):
    rng = np.random.default_rng(seed)
    total = sum(batch_sizes)
    draws = {"normal": lambda: rng.normal(3.0, 2.0, (total, 5)),
             "exponential": lambda: rng.exponential(1.0, (total, 5)) + 100.0,
             "sparse": lambda: rng.exponential(1.0, (total, 5)) * (rng.random((total, 5)) < 0.2)}
    responses = draws[kind]().astype(np.float32)
    moments = RunningMoments(5)
    for chunk in np.split(responses, np.cumsum(batch_sizes)[:-1]):
        moments.update(chunk)
    r = responses.astype(np.float64)
    live = ~moments.silent
    expected_skew = scipy.stats.skew(r, axis=0, bias=True)
    finite = np.isfinite(expected_skew) & live
    np.testing.assert_allclose(moments.skewness()[finite], expected_skew[finite], rtol=1e-6,
                               atol=1e-6)
    expected_kurtosis = scipy.stats.kurtosis(r, axis=0, bias=True)
    finite = np.isfinite(expected_kurtosis) & live
    np.testing.assert_allclose(moments.kurtosis()[finite], expected_kurtosis[finite],
                               rtol=1e-6, atol=1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        sparseness = (1 - r.mean(0) ** 2 / (r**2).mean(0)) / (1 - 1 / total)
    np.testing.assert_allclose(moments.lifetime_sparseness()[live], sparseness[live],
                               rtol=1e-6, atol=1e-9)
    assert moments.positive.tolist() == (r > 0).sum(axis=0).tolist()


N_IMAGES = 10_000


def _moments(*columns) -> RunningMoments:
    """Streamed statistics of hand-made response columns, in batches of 250 images."""
    responses = np.stack(columns, axis=1)
    moments = RunningMoments(responses.shape[1])
    for batch in np.split(responses, len(responses) // 250):
        moments.update(batch)
    return moments


def test_measures_of_known_neurons():
    """A one-hot neuron, a uniform one and a Gaussian one, against their closed forms."""
    n = N_IMAGES
    one_hot = np.zeros(n)
    one_hot[1234] = 3.0
    uniform = np.linspace(0.0, 1.0, n)
    gaussian = np.random.default_rng(0).normal(5.0, 1.0, n)
    moments = _moments(one_hot, uniform, gaussian)
    skewness, kurtosis = moments.skewness(), moments.kurtosis()
    sparseness = moments.lifetime_sparseness()
    # One image in N: Bernoulli(1/N) moments, whatever the height of the response.
    p = 1 / n
    assert skewness[0] == pytest.approx((1 - 2 * p) / np.sqrt(p * (1 - p)), rel=1e-9)
    assert kurtosis[0] == pytest.approx((1 - 6 * p * (1 - p)) / (p * (1 - p)), rel=1e-9)
    assert sparseness[0] == pytest.approx(1.0)
    # Uniform on [0, 1]: no skew, excess kurtosis -6/5, mean r^2 = 1/3, so S = 1/4.
    assert skewness[1] == pytest.approx(0.0, abs=1e-9)
    assert kurtosis[1] == pytest.approx(-1.2, abs=1e-3)
    assert sparseness[1] == pytest.approx(0.25, abs=1e-3)
    # Gaussian N(5, 1): skew and excess kurtosis near 0, S = 1 - 25/26.
    assert abs(skewness[2]) < 0.1 and abs(kurtosis[2]) < 0.2
    assert sparseness[2] == pytest.approx(1 / 26, rel=0.05)
    for measured, direct in ((skewness, scipy.stats.skew), (kurtosis, scipy.stats.kurtosis)):
        expected = direct(np.stack([one_hot, uniform, gaussian], axis=1), axis=0, bias=True)
        np.testing.assert_allclose(measured, expected, rtol=1e-7, atol=1e-9)


def test_near_silent_rule():
    """Fewer than 1% of the images with a rate > 0 is near-silent; exactly 1% is not; a
    silent (constant) neuron is counted as silent only."""
    n = N_IMAGES
    columns = []
    for responding in (1, n // 100 - 1, n // 100, n):
        column = np.zeros(n)
        column[:responding] = np.linspace(1.0, 2.0, responding)
        columns.append(column)
    columns += [np.zeros(n), np.full(n, 0.25)]
    moments = _moments(*columns)
    assert moments.near_silent.tolist() == [True, True, False, False, False, False]
    assert moments.silent.tolist() == [False] * 4 + [True, True]
    assert moments.positive.tolist() == [1, 99, 100, n, 0, n]
    assert np.isnan(moments.kurtosis()[4:]).all()
    assert np.isnan(moments.lifetime_sparseness()[4:]).all()


def test_all_responses_are_the_four_options():
    rates = np.random.default_rng(1).uniform(size=(5, 3, 4, 4, 2))
    options = all_responses(rates)
    assert set(options) == set(OPTIONS)
    np.testing.assert_allclose(options[("last", "mean")], rates[:, -1].mean(axis=(1, 2)))
    np.testing.assert_allclose(options[("mean", "centre")], rates.mean(axis=1)[:, 2, 2])


def test_moments_columns_are_independent_statistics():
    responses = np.random.default_rng(2).exponential(size=(500, 6))
    together = _moments(*responses.T)
    part = together.columns(2, 5)
    alone = RunningMoments(3)
    alone.update(responses[:, 2:5])
    for name in ("mean", "m2", "m3", "m4", "positive"):
        np.testing.assert_allclose(getattr(part, name), getattr(alone, name), rtol=1e-12)
    assert part.count == alone.count == 500


def test_zero_variance_neuron_is_silent():
    moments = RunningMoments(3)
    for _ in range(4):
        batch = np.random.default_rng(0).normal(size=(10, 3))
        batch[:, 1] = 0.0
        batch[:, 2] = 0.25
        moments.update(batch)
    assert moments.silent.tolist() == [False, True, True]
    assert np.isnan(moments.skewness()[1:]).all()


def test_density_on_hand_made_weights():
    weights = {
        "area3/PN->g": np.array([0.0, 0.1, 0.2, 0.3]), "area3/PN->f": np.array([0.4]),
        "area3/PN->IG": np.array([-0.5]), "area3/PN->OG": np.array([0.05]),
        "area3/IG->i": np.array([-0.9, -0.05]), "area3/OG->o": np.array([-0.01, -0.02]),
    }
    from ei_zoo.analysis.connectivity import outgoing

    pn = outgoing(weights, "area3", ["PN"])
    assert sorted(pn.tolist()) == [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert connection_density(pn, 0.25) == pytest.approx(3 / 7)  # |w| compared, sign ignored
    assert connection_density(outgoing(weights, "area3", ["IG"]), 0.25) == 0.5
    assert connection_density(outgoing(weights, "area3", ["OG"]), 0.25) == 0.0
    assert density_curve(pn, [0.0, 0.25, 1.0]).tolist() == [6 / 7, 3 / 7, 0.0]
    all_weights = np.abs(np.concatenate([w for w in weights.values()]))
    assert calibrate_threshold(weights, "area3") == pytest.approx(np.quantile(all_weights, 0.9))
    assert top_share(np.array([10.0] + [0.0] * 9)) == 1.0
    assert top_share(np.ones(10)) == pytest.approx(0.1)
    # Each pathway against its own θ: PN->g's θ 0.25 passes 1 of 4 (0.3), the rest none.
    own = {"area3/PN->g": 0.25, "area3/PN->f": 1.0, "area3/PN->IG": 1.0, "area3/PN->OG": 1.0}
    assert pathway_density(weights, "area3", ["PN"], own) == pytest.approx(1 / 7)
    assert np.isnan(pathway_density(weights, "area3", ["PN"], {}))
    thresholds = thresholds_of({key.replace("area3", area): value for key, value in
                                weights.items() for area in ("area3", "area4")})
    assert thresholds["pathways"]["area3/IG->i"] == pytest.approx(np.quantile([0.9, 0.05], 0.9))


def test_gini_against_the_pairwise_definition():
    rng = np.random.default_rng(4)
    for values in (rng.exponential(size=50), rng.uniform(size=7), np.array([0.0, 0.0, 5.0])):
        pairwise = np.abs(values[:, None] - values[None, :]).sum() / (
            2 * len(values) ** 2 * values.mean())
        assert gini(values) == pytest.approx(pairwise)
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0.0] * 9 + [1.0])) == pytest.approx(0.9)
    assert np.isnan(gini(np.zeros(4)))


def test_bootstrap_interval_contains_the_statistic():
    values = np.random.default_rng(3).gamma(2.0, size=64)
    for statistic in (np.mean, np.median):
        value, low, high = with_interval(values, statistic)
        assert value == pytest.approx(statistic(values))
        assert low < value < high


@pytest.fixture(scope="module")
def test_images(cifar_dir):
    return np.concatenate([np.asarray(x) for x, _ in data.test_dataset(100, cifar_dir,
                                                                        limit=300)])


def test_export_analysis_equals_in_memory_model(tiny_export, trained_tiny, cifar_dir,
                                                test_images):
    model, _ = trained_tiny
    measured = measure(tiny_export, num_images=300, batch_size=64, data_dir=cifar_dir)
    rates = ei_zoo.activation_model(model)(test_images, training=False)
    for (area, cell_type), skewness in measured.skewness.items():
        responses = np.asarray(rates[f"{area}/{cell_type}"])[:, -1].mean(axis=(1, 2))
        expected = scipy.stats.skew(responses.astype(np.float64), axis=0, bias=True)
        live = ~np.isnan(skewness)
        np.testing.assert_allclose(skewness[live], expected[live], rtol=1e-3, atol=1e-4)
    # Every response option comes from the same pass.
    for step, position in OPTIONS:
        for (area, cell_type), moments in measured.moments[(step, position)].items():
            responses = all_responses(rates[f"{area}/{cell_type}"])[(step, position)]
            expected = scipy.stats.kurtosis(responses.astype(np.float64), axis=0, bias=True)
            live = ~moments.silent
            np.testing.assert_allclose(moments.kurtosis()[live], expected[live], rtol=1e-3,
                                       atol=1e-3)
            assert moments.positive.tolist() == (responses > 0).sum(axis=0).tolist()
    for key, kernel in ei_zoo.effective_weights(model).items():
        np.testing.assert_array_equal(measured.weights[key], kernel)
    # The options change what is measured.
    centre = measure(tiny_export, num_images=300, position="centre", data_dir=cifar_dir)
    assert not np.allclose(np.nan_to_num(centre.skewness[("area3", "PN")]),
                           np.nan_to_num(measured.skewness[("area3", "PN")]))


def test_analyze_table_and_planted_silent_channel(trained_tiny, cifar_dir, tmp_path,
                                                  monkeypatch):
    model, _ = trained_tiny
    planted = model.__class__.from_config(model.get_config())
    planted.set_weights(model.get_weights())
    cell = planted.get_layer("area3").cell
    interneurons = cell.input_gating
    ig_column = target_slice(cell.target_sizes, "IG").start  # the first IG channel
    for variable in (cell.input_kernel, cell.recurrent_kernel):
        value = np.asarray(variable)
        value[..., ig_column] = 0.0
        variable.assign(value)
    bias = np.asarray(cell.bias)
    bias[ig_column] = -5.0
    cell.bias.assign(bias)
    folder = export_model(planted, tmp_path / "standard-s7", metadata={"seed": 7})

    monkeypatch.setenv("EI_ZOO_EXPORTED", str(tmp_path / "none"))  # no standard-s0 anywhere
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.warns(UserWarning, match=r"standard-s0, whose weights set the density "
                                         r"threshold, is not available; standard-s7 calibrates "
                                         r"its own"):
        table = analyze(folder, num_images=200, data_dir=cifar_dir)
    assert list(table[["area", "cell_type"]].itertuples(index=False, name=None)) == [
        (a, c) for a in ("area3", "area4") for c in ("PN", "IG", "OG")]
    for column in ("model", "variant", "seed", "area", "cell_type", "sign", "n_neurons",
                   "n_silent", "n_near_silent", "selectivity", "selectivity_ci_low",
                   "selectivity_ci_high", "selectivity_median", "lifetime_sparseness",
                   "kurtosis_ci_high", "selectivity_excl_near_silent", "density",
                   "density_pathway", "gini", "top10_share", "threshold"):
        assert column in table.columns
    row = table[(table["area"] == "area3") & (table["cell_type"] == "IG")].iloc[0]
    assert row["n_silent"] == 1 and row["n_neurons"] == interneurons
    assert table["threshold_source"].iloc[0] == "standard-s7"  # no reference: its own θ
    assert table.loc[table["cell_type"] == "PN", "sign"].tolist() == [1, 1]


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
    verdicts = pd.read_csv(out / "sensitivity.csv")
    assert verdicts["claim"].str[:2].tolist() == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert "robust" in verdicts.columns and "Gini of weights" in verdicts.columns
    text = (out / "claims.md").read_text()
    # The short verdict table first, then the sensitivity table, then the long numbers.
    assert (text.index("| claim | verdict | networks |") < text.index("| robust")
            < text.index("## Networks and measures") < text.index("## C1:"))
    for claim_id in ("C1", "C2", "C3", "C4", "C5", "C6"):
        assert f"## {claim_id}:" in text
    c1 = text.split("## C1:")[1].split("## C2:")[0]
    assert "standard-s1" in c1 and re.search(r"\| -?\d+\.\d{3} \[-?\d+\.\d{3}, ", c1)
    assert "not yet measurable" in text.split("## C5:")[1]


def test_claim_verdicts():
    assert claims.verdict([True, True]) == claims.HOLDS
    assert claims.verdict([False, False]) == claims.FAILS
    assert claims.verdict([True, False]) == claims.MIXED
    assert claims.verdict([]) == claims.MISSING
    assert claims.combine_verdicts(claims.HOLDS, claims.FAILS) == claims.FAILS


def _synthetic_table(variant_rows):
    """A table shaped like `combine`'s output, from (model, variant, area, values) rows."""
    rows = []
    for model, variant, area, values in variant_rows:
        for cell_type in ("PN", "IG", "OG"):
            selectivity, density = values[cell_type]
            rows.append({
                "model": model, "variant": variant, "seed": 0, "area": area,
                "cell_type": cell_type, "excitatory": (cell_type == "PN") != (variant == "inh_pn"),
                "selectivity": selectivity, "selectivity_ci_low": selectivity - 0.1,
                "selectivity_ci_high": selectivity + 0.1, "density": density,
                "D_sel": values["D_sel"], "D_den": values["D_den"],
                "D_sel_pn": values["D_sel_pn"], "D_den_pn": values["D_den_pn"],
            })
    return pd.DataFrame(rows)


def test_claims_on_a_synthetic_zoo():
    entries = []
    for ratio in RATIOS:
        model = "standard-s0" if ratio == 0.25 else f"{ratio_name(ratio)}-s0"
        variant = "standard" if ratio == 0.25 else ratio_name(ratio)
        i_density = 0.5 / (1 + float(ratio))  # falls with the I channels
        for area in ("area3", "area4"):
            entries.append((model, variant, area, {
                "PN": (1.0, 0.1), "IG": (0.5, i_density), "OG": (0.4, i_density),
                "D_sel": 0.55, "D_den": 0.1 - i_density, "D_sel_pn": 0.55,
                "D_den_pn": 0.1 - i_density}))
    for area in ("area3", "area4"):
        entries.append(("inh_pn-s0", "inh_pn", area, {
            "PN": (0.9, 0.3), "IG": (0.2, 0.2), "OG": (0.3, 0.2),
            "D_sel": -0.65, "D_den": -0.1, "D_sel_pn": 0.65, "D_den_pn": 0.1}))
        entries.append(("no_dale-s0", "no_dale", area, {
            "PN": (0.9, 0.1), "IG": (0.2, 0.2), "OG": (0.3, 0.2),
            "D_sel": 0.65, "D_den": -0.1, "D_sel_pn": 0.65, "D_den_pn": -0.1}))
    results = {c.id: c for c in claims.check_claims(_synthetic_table(entries))}
    assert results["C1"].verdict == claims.HOLDS
    assert results["C2"].verdict == claims.HOLDS
    assert results["C3"].verdict == claims.HOLDS and results["C3"].networks == 9
    assert results["C4"].verdict == claims.HOLDS
    assert results["C5"].verdict == claims.HOLDS
    assert results["C6"].verdict == claims.FAILS  # PN sparser here: "not sparser" fails
    text = claims.report(list(results.values()))
    assert "Spearman" in text and "+0.650" in text


def _seed_rows(model, variant, area, pn_ig, pn_og, d_den):
    """Table rows of one network and area where only the claim-relevant numbers matter."""
    rows = []
    for cell_type, selectivity in (("PN", 1.0), ("IG", 1.0 - pn_ig), ("OG", 1.0 - pn_og)):
        rows.append({
            "model": model, "variant": variant, "seed": int(model[-1]), "area": area,
            "cell_type": cell_type, "excitatory": cell_type == "PN",
            "selectivity": selectivity, "selectivity_ci_low": selectivity,
            "selectivity_ci_high": selectivity, "density": 0.1,
            "D_sel": pn_ig, "D_den": d_den, "D_sel_pn": pn_ig, "D_den_pn": d_den,
        })
    return rows


def test_verdict_over_seeds():
    """Holds: every seed in every area; does not hold: none; inconclusive: otherwise;
    a silent population is shown and not counted."""
    rows = []
    for seed, (area3, area4) in enumerate([((0.5, 0.4, -0.1), (0.3, np.nan, -0.2)),
                                           ((0.6, 0.2, -0.1), (0.2, 0.1, -0.3)),
                                           ((0.4, 0.3, -0.2), (-0.1, 0.2, -0.1))]):
        rows += _seed_rows(f"standard-s{seed}", "standard", "area3", *area3)
        rows += _seed_rows(f"standard-s{seed}", "standard", "area4", *area4)
    for seed in range(3):
        for area in ("area3", "area4"):
            rows += _seed_rows(f"no_dale-s{seed}", "no_dale", area, -0.5, -0.5, -0.1)
    table = pd.DataFrame(rows)
    results = {c.id: c for c in claims.check_claims(table)}
    assert results["C1"].verdict == claims.MIXED  # standard-s2 area 4: PN < IG
    assert results["C1"].networks == 3
    assert results["C2"].verdict == claims.HOLDS
    assert results["C6"].verdict == claims.FAILS  # less selective and sparser in every seed
    assert results["C5"].verdict == claims.MISSING  # no inh_pn networks
    c1 = "\n".join(results["C1"].evidence)
    assert "| standard-s0 | standard-s1 | standard-s2 |" in c1
    assert "| n/a | +0.100 | +0.200 |" in c1 and "n/a + +" in c1  # silent OG shown
    # PN - IG in area 3: 0.5, 0.6, 0.4 -> mean 0.5 with a t interval on 2 df.
    half_width = scipy.stats.t.ppf(0.975, 2) * np.std([0.5, 0.6, 0.4], ddof=1) / np.sqrt(3)
    assert f"+0.500 [{0.5 - half_width:+.3f}, {0.5 + half_width:+.3f}] | + + +" in c1
    # Dropping the failing network makes C1 hold: the silent population does not count.
    kept = table[table["model"] != "standard-s2"]
    assert claims.claim_c1(kept).verdict == claims.HOLDS
    assert claims.seed_interval([2.0]) [0] == 2.0 and np.isnan(claims.seed_interval([2.0])[1])


def _fake_network(model, variant, signs, interneurons, near_silent, rng, i_scale=1.0):
    """Measurements from hand-made responses and weights, the same at every response option.

    PN respond like exponentials (skewness 2); IG and OG broadly (gamma(50): skewness
    0.28), except `near_silent` of them that respond to 0.5% of the images (skewness
    about 14). PN weights are heavy-tailed with the same quantiles in every network
    (sparse, steady), interneuron weights uniform on [10, 30] x `i_scale` (dense).
    """
    n, principal = 1000, 8
    moments = {}
    for area in ("area3", "area4"):
        for cell_type in ("PN", "IG", "OG"):
            if cell_type == "PN":
                responses = rng.exponential(size=(n, principal))
            else:
                responses = rng.gamma(50.0, size=(n, interneurons))
                responses[:, :near_silent] = 0.0
                responses[:5, :near_silent] = rng.uniform(1.0, 2.0, (5, near_silent))
            moments[(area, cell_type)] = RunningMoments(responses.shape[1])
            moments[(area, cell_type)].update(responses)
    shapes = {"PN->g": (3, 3, principal, principal), "PN->f": (3, 3, principal, principal),
              "PN->IG": (3, 3, principal, interneurons), "PN->OG": (3, 3, principal, interneurons),
              "IG->i": (1, 1, interneurons, principal), "OG->o": (1, 1, interneurons, principal)}
    weights = {}
    for area in ("area3", "area4"):
        for pathway, shape in shapes.items():
            size = int(np.prod(shape))
            heavy_tailed = (-np.log1p(-(np.arange(size) + 0.5) / size)) ** 3
            weights[f"{area}/{pathway}"] = (
                rng.permutation(heavy_tailed).reshape(shape) if pathway.startswith("PN")
                else i_scale * rng.uniform(10.0, 30.0, shape))
    return Measurements(model=model, variant=variant, seed=int(model.rsplit("-s", 1)[1]),
                        dale=variant, signs=signs, moments={option: moments for option in OPTIONS},
                        weights=weights, num_images=n, step="last", position="mean")


def test_sensitivity_table_on_a_synthetic_zoo():
    """Near-silent interneurons in `standard` make mean skewness and kurtosis say PN are
    less selective, while median skewness, lifetime sparseness and leaving them out say
    the opposite: the sensitivity table must show C1 and C3 as not robust."""
    rng = np.random.default_rng(5)
    standard = {"PN": 1, "IG": -1, "OG": -1}
    zoo = [_fake_network(f"standard-s{seed}", "standard", standard, 5, 2, rng)
           for seed in range(3)]
    for ratio in RATIOS:
        if ratio != 0.25:
            channels = max(1, int(8 * ratio))
            zoo.append(_fake_network(f"{ratio_name(ratio)}-s0", ratio_name(ratio), standard,
                                     channels, 0, rng, i_scale=2 / channels))
    zoo.append(_fake_network("inh_pn-s0", "inh_pn", {"PN": -1, "IG": 1, "OG": 1}, 2, 0, rng))
    thresholds = {**thresholds_of(zoo[0].weights), "source": zoo[0].model}
    columns = sensitivity.choices()
    spec = "default: mean skewness, θ absolute, last step, spatial mean"
    assert list(columns)[0] == spec and len(columns) == 11
    # The interneurons of `standard` measured non-functional: mean-clamping them costs
    # nothing; PN's costs 50 points.
    for network in zoo[:3]:
        network.perturbation = pd.DataFrame([
            {"model": network.model, "area": area, "cell_type": cell_type, "clamp": clamp,
             "class": "all", "accuracy": 0.8, "accuracy_drop": 0.5 if cell_type == "PN" else 0.0}
            for area in ("area3", "area4") for cell_type in ("PN", "IG", "OG")
            for clamp in ("zero", "mean")])
    views = sensitivity.tables(zoo, thresholds, columns.values())
    table = sensitivity.sensitivity_table(views, columns)
    verdicts = table.set_index(table["claim"].str[:2])
    assert list(verdicts.index) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    c1 = verdicts.loc["C1"]
    assert c1[spec] == c1["kurtosis"] == claims.FAILS
    for label in ("median skewness", "lifetime sparseness", "mean skewness, near-silent excluded"):
        assert c1[label] == claims.HOLDS
    assert c1["θ per pathway"] == c1["Gini of weights"] == sensitivity.NOT_USED
    assert c1["last step, centre position"] == claims.FAILS  # same responses at every option
    assert c1["robust"] == "no"
    # Only functional populations: no interneuron of `standard` is left to compare with.
    assert c1[sensitivity.FUNCTIONAL_ONLY] == verdicts.loc["C2", sensitivity.FUNCTIONAL_ONLY] \
        == claims.MISSING
    functional = views[Choice(functional_only=True)]
    standard = functional[functional["model"] == "standard-s0"]
    assert standard.loc[standard["cell_type"] == "IG", "selectivity"].isna().all()
    assert standard.loc[standard["cell_type"] == "PN", "selectivity"].notna().all()
    assert standard["functional"].tolist() == ["yes", "no", "no"] * 2
    [c1_claim] = [c for c in claims.check_claims(views[Choice()]) if c.id == "C1"]
    assert c1_claim.evidence[-1].startswith("Not functional") and \
        "area3 IG in standard-s0, standard-s1, standard-s2" in c1_claim.evidence[-1]
    [c5_claim] = [c for c in claims.check_claims(views[Choice()]) if c.id == "C5"]
    assert c5_claim.evidence[-1].startswith("Function not measured")
    c3 = verdicts.loc["C3"]  # ratio networks have no near-silent neurons, standard has
    assert c3[spec] == claims.MIXED and c3["median skewness"] == claims.HOLDS
    c2 = verdicts.loc["C2"]
    assert c2[spec] == c2["Gini of weights"] == claims.HOLDS
    assert c2["median skewness"] == sensitivity.NOT_USED
    assert verdicts.loc["C4", spec] == claims.HOLDS  # I density falls with the ratio
    assert verdicts.loc["C6", "robust"] == sensitivity.NOT_USED  # no no_dale networks
    # Under per-pathway θ the θ source is not a measurement: 0.1 by construction.
    per_pathway = views[Choice(density="density_pathway")]
    source = per_pathway[per_pathway["model"] == "standard-s0"]
    assert source["D_den"].isna().all() and per_pathway["D_den"].notna().any()
    assert (source["density_pathway"] - 0.1).abs().max() < 0.05
    assert "| C1:" in "\n".join(sensitivity.markdown(table))

    # Only the default table carries bootstrap intervals.
    assert combine(zoo[:1], thresholds)["selectivity_ci_low"].notna().any()
    assert views[Choice()]["selectivity_ci_low"].isna().all()


def test_design_table_judges_each_change_like_the_zoo_and_names_non_functional_ones():
    """The design-sensitivity table: a column per change with networks; a change's
    networks stand in for their base variants; the ratio claims need the sweep."""
    rng = np.random.default_rng(7)
    standard, inh_pn = {"PN": 1, "IG": -1, "OG": -1}, {"PN": -1, "IG": 1, "OG": 1}
    zoo = [_fake_network("standard-s0", "standard", standard, 5, 0, rng),
           _fake_network("standard-s1", "standard", standard, 5, 0, rng),
           _fake_network("inh_pn-s0", "inh_pn", inh_pn, 2, 0, rng)]
    # Under gate_open, standard's interneurons are all near-silent: C1 fails there.
    study = [_fake_network("standard.gate_open-s0", "standard.gate_open", standard, 5, 5, rng),
             _fake_network("inh_pn.gate_open-s0", "inh_pn.gate_open", inh_pn, 2, 0, rng)]
    study[0].perturbation = pd.DataFrame([
        {"model": study[0].model, "area": area, "cell_type": cell_type, "clamp": clamp,
         "class": "all", "accuracy": 0.8,
         "accuracy_drop": 0.0 if (area, cell_type) == ("area4", "OG") else 0.3}
        for area in ("area3", "area4") for cell_type in ("PN", "IG", "OG")
        for clamp in ("zero", "mean")])
    thresholds = {**thresholds_of(zoo[0].weights), "source": zoo[0].model}
    table = design.design_table(zoo, study, thresholds).set_index("claim")
    table.index = table.index.str[:2]
    assert list(table.index) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert list(table.columns) == [
        "recipe 2", "recipe 2, non-functional", "recipe 2, functional only",
        "gate_open", "gate_open, non-functional", "gate_open, functional only"]
    assert table.loc["C1", "recipe 2"] == claims.HOLDS  # standard-s0 alone: seed 0 only
    assert table.loc["C1", "gate_open"] == claims.FAILS
    assert table.loc["C3", "gate_open"] == table.loc["C4", "gate_open"] == claims.MISSING
    assert table.loc["C1", "gate_open, non-functional"] == "standard area4 OG"
    assert table.loc["C5", "gate_open, non-functional"] == "not measured"
    assert table.loc["C1", "recipe 2, non-functional"] == "not measured"
    text = "\n".join(design.markdown(table.reset_index()))
    assert any(line.startswith("| C1 ") and "| does not hold / " in line
               for line in text.splitlines())
    assert "- `gate_open` (input and output gates start nearly open" in text
    assert text.count(": standard area4 OG.") == 1
    assert "(seeds" not in text

    # A replication: gate_open's seed-1 standard has no near-silent interneurons and
    # every population functional, so C1 holds there. The seed-0 column keeps seed 0's
    # verdict; the all-seeds column sees the two disagree; recipe 2 joins over its seeds.
    replica = _fake_network("standard.gate_open-s1", "standard.gate_open", standard, 5, 0, rng)
    replica.perturbation = study[0].perturbation.assign(model=replica.model, accuracy_drop=0.3)
    table = design.design_table(zoo, [*study, replica], thresholds).set_index("claim")
    table.index = table.index.str[:2]
    assert list(table.columns)[6:] == [
        "recipe 2 (seeds 0-1)", "recipe 2 (seeds 0-1), non-functional",
        "recipe 2 (seeds 0-1), functional only",
        "gate_open (seeds 0-1)", "gate_open (seeds 0-1), non-functional",
        "gate_open (seeds 0-1), functional only"]
    assert table.loc["C1", "gate_open"] == claims.FAILS
    assert table.loc["C1", "gate_open (seeds 0-1)"] == claims.MIXED
    assert table.loc["C1", "recipe 2 (seeds 0-1)"] == claims.HOLDS
    assert table.loc["C1", "gate_open (seeds 0-1), non-functional"] == \
        "standard area4 OG (1 of 2 networks)"
    text = "\n".join(design.markdown(table.reset_index()))
    assert "A `(seeds ...)` column judges a replicated change" in text
    assert "- `gate_open (seeds 0-1)`: standard area4 OG (1 of 2 networks)." in text


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
    # The study enters the design-sensitivity table alone.
    assert "recipe 2" in pd.read_csv(out / "design_sensitivity.csv").columns
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
    differences = compare_results(out, copy)[1]
    assert len(differences) == 2, differences
    assert differences[0].startswith("table.csv: standard-s0, standard, area3: selectivity")
    assert differences[1].startswith("sensitivity.csv: C1")

    # The command line: the verdicts alone on stdout, then the check against `out`.
    assert cli_main(["reproduce", "--exported", str(exported), "--out", str(tmp_path / "cli"),
                     "--images", "100", "--data-dir", cifar_dir, "--check", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "# The paper's claims, checked against this zoo" and len(printed) < 20
    assert re.fullmatch(r"All [\d,]+ numbers and labels agree with .*results \(numbers within "
                        r"rtol 0\.02 or atol 0\.01\)\.", printed[-1]), printed
    assert cli_main(["reproduce", "--exported", str(exported), "--out", str(tmp_path / "cli"),
                     "--images", "100", "--data-dir", cifar_dir, "--check", str(copy)]) == 1
    assert "2 of " in capsys.readouterr().out
    shutil.rmtree(tmp_path / "cli")

    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ei_zoo.paper.reproduce.figure_threshold_sensitivity", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(out, exported, num_images=50, data_dir=cifar_dir, verbose=False)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy", "exported", "results"]
