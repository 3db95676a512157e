"""ei_zoo.analysis.measure and tables: an export analysed from its files alone."""

import numpy as np
import pytest
import scipy.stats

import ei_zoo
from ei_zoo import data
from ei_zoo.analysis import (
    analyze,
    measure,
)
from ei_zoo.analysis.tables import with_interval
from ei_zoo.hub.export import export_model
from ei_zoo.network.config import target_slice
from ei_zoo.network.responses import OPTIONS, all_responses


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
