"""In-silico perturbation and class tuning (issue 18): clamps do what they say, the
intact network is the SavedModel's, and the export keeps the tables for the analysis."""

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

import ei_zoo
from ei_zoo import analysis, data
from ei_zoo.analysis import perturbation
from ei_zoo.analysis.function import perturb
from ei_zoo.analysis.measure import (
    NOT_MEASURED,
    measure,
    response_moments,
    thresholds_of,
)
from ei_zoo.analysis.perturbation import clamped_model
from ei_zoo.analysis.tables import summarize
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import (
    CLASS_TUNING,
    DRIVE,
    MEASURED,
    METADATA,
    PERTURBATION,
    RESPONSE_MOMENTS,
    verify_export,
)
from ei_zoo.hub.measured import read_measured, write_measured
from ei_zoo.network.models import activation_model
from ei_zoo.network.responses import MOMENT_FIELDS, moments_to_arrays

from conftest import TINY, perturbation_table


@pytest.fixture
def network(trained_tiny):
    """A float32 copy of the tiny trained network, and 16 images."""
    model = ei_zoo.with_precision(trained_tiny[0], "float32")
    images = np.random.default_rng(3).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    return model, images


def test_mean_clamping_a_constant_population_changes_nothing(network):
    model, images = network
    cell = model.get_layer("area3").cell
    sizes = [cell.target_sizes[target] for target in ("g", "f", "IG", "OG")]
    start = sum(sizes[:2])  # the IG block of the fused kernels: IG = relu(b_IG), constant
    for kernel in (cell.input_kernel, cell.recurrent_kernel):
        values = kernel.numpy()
        values[..., start:start + sizes[2]] = 0.0
        kernel.assign(values)
    rates = activation_model(model).predict_on_batch(images)["area3/IG"]
    assert np.ptp(np.asarray(rates), axis=0).max() == 0  # constant over images
    intact = model.predict(images, verbose=0)
    mean = clamped_model(model, {"area3/IG": np.asarray(rates).mean(axis=(0, 1))})
    assert np.allclose(mean.predict(images, verbose=0), intact, atol=1e-5)
    # ... so is the per-step mean [T, H, W, C], and no clamp at all.
    step_mean = clamped_model(model, {"area3/IG": np.asarray(rates).mean(axis=0)})
    assert np.allclose(step_mean.predict(images, verbose=0), intact, atol=1e-5)
    assert np.array_equal(clamped_model(model, {}).predict(images, verbose=0), intact)
    # ... and clamping it to zero does change the output (the test can fail).
    zero = clamped_model(model, {"area3/IG": np.zeros_like(np.asarray(rates)[0, 0])})
    assert not np.allclose(zero.predict(images, verbose=0), intact, atol=1e-5)
    assert np.array_equal(model.predict(images, verbose=0), intact)  # the model is untouched


@pytest.mark.parametrize("area, cell_type, kernel", [
    ("area3", "IG", "input_gate_kernel"), ("area4", "OG", "output_gate_kernel")])
def test_zero_clamping_a_gate_population_equals_zeroing_its_outgoing_weights(
        network, area, cell_type, kernel):
    model, images = network
    cell = model.get_layer(area).cell
    key = f"{area}/{cell_type}"
    shape = np.asarray(activation_model(model).predict_on_batch(images)[key]).shape[2:]
    clamped_logits = clamped_model(model, {key: np.zeros(shape, "float32")}).predict(
        images, verbose=0)
    intact = model.predict(images, verbose=0)
    weights = getattr(cell, kernel)
    weights.assign(np.zeros(weights.shape, "float32"))
    assert np.allclose(model.predict(images, verbose=0), clamped_logits, atol=1e-5)
    assert not np.allclose(intact, clamped_logits, atol=1e-5)


def test_class_tuning_of_a_neuron_that_answers_one_class():
    labels = np.repeat(np.arange(10), 5)
    response = (labels == 3).astype("float64")[:, None]  # one neuron
    onehot = np.eye(10)[labels]
    [row] = perturbation._tuning_rows("area3", "PN", onehot.T @ response,
                                      onehot.T @ response**2, np.bincount(labels, minlength=10))
    assert row["preferred_class"] == 3
    assert row["class_variance_fraction"] == pytest.approx(1.0)
    assert row["class_selectivity_index"] == pytest.approx(1.0)
    [flat] = perturbation._tuning_rows("area3", "PN", onehot.T @ np.ones_like(response),
                                       onehot.T @ np.ones_like(response),
                                       np.bincount(labels, minlength=10))
    assert flat["preferred_class"] == -1 and np.isnan(flat["class_variance_fraction"])
    # A signed response (a signed PN output) has a preferred class and eta squared, but
    # no class-selectivity index: with a negative class mean it would leave [0, 1].
    signed = response - 0.2
    [row] = perturbation._tuning_rows("area3", "PN", onehot.T @ signed, onehot.T @ signed**2,
                                      np.bincount(labels, minlength=10))
    assert row["preferred_class"] == 3 and row["class_variance_fraction"] == pytest.approx(1.0)
    assert np.isnan(row["class_selectivity_index"])


def test_perturb_an_export_keep_the_tables_and_read_them_back(tiny_export, cifar_dir, tmp_path,
                                                              capsys):
    table, tuning = perturb(tiny_export, num_images=200, data_dir=cifar_dir, verbose=False)
    assert list(table.columns) == list(perturbation.PERTURBATION_COLUMNS)
    assert len(table) == (1 + 2 * 3 * 3) * 11  # intact and 18 clamps, overall and per class
    assert set(table["clamp"]) == {"none", "zero", "mean", "step_mean"}
    intact = table[(table["area"] == "intact") & (table["class"] == "all")]["accuracy"].item()
    images, labels = data.test_images(200, cifar_dir)
    served = ei_zoo.load(tiny_export, format="saved_model").serve(images)
    assert intact == pytest.approx(float((np.argmax(served, -1) == labels).mean()), abs=0.011)
    overall = table[table["class"] == "all"]
    assert np.allclose(overall["accuracy_drop"], intact - overall["accuracy"])
    assert np.allclose(table["accuracy_drop"],
                       (table["images_lost"] - table["images_gained"]) / table["images"])
    assert (overall["images"] == 200).all() and table.groupby(
        ["area", "cell_type", "clamp"])["images"].apply(lambda n: n.iloc[1:].sum()).eq(200).all()
    assert ((table["accuracy_drop_ci_low"] <= table["accuracy_drop"])
            & (table["accuracy_drop"] <= table["accuracy_drop_ci_high"])).all()
    assert len(tuning) == 2 * (TINY["principal"] + TINY["input_gating"] + TINY["output_gating"])

    with pytest.raises(ValueError, match=r"model must be a model id"):
        analysis.perturb(["standard-s0"])
    folder = shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    measured = measure(folder, 100, data_dir=cifar_dir)
    assert summarize(measured, thresholds_of(measured.weights))["functional"].eq(
        NOT_MEASURED).all()
    drives = analysis.drive(folder, 100, data_dir=cifar_dir)
    assert set(drives["model"]) == {"standard-s0"} and len(drives) == 2 * 10 + 1
    own = (folder / METADATA).read_bytes()
    write_measured(folder, {PERTURBATION: table, CLASS_TUNING: tuning, DRIVE: drives})
    verify_export(folder)
    assert (folder / METADATA).read_bytes() == own  # the export's own files stay as they were
    assert set(read_measured(folder)) == {PERTURBATION, CLASS_TUNING, DRIVE}
    measured = measure(folder, 100, data_dir=cifar_dir)
    pd.testing.assert_frame_equal(measured.drive, drives, rtol=1e-6)  # 7 significant digits
    summary = summarize(measured, thresholds_of(measured.weights))
    row = summary[(summary["area"] == "area4") & (summary["cell_type"] == "OG")].iloc[0]
    expected = overall[(overall["area"] == "area4") & (overall["cell_type"] == "OG")]
    assert row["accuracy_drop_mean"] == pytest.approx(
        expected[expected["clamp"] == "mean"]["accuracy_drop"].item())
    step_mean = expected[expected["clamp"] == "step_mean"].iloc[0]
    assert row["accuracy_drop_step_mean"] == pytest.approx(step_mean["accuracy_drop"])
    assert row["functional"] == perturbation.functional(step_mean["accuracy_drop_ci_low"],
                                                        step_mean["accuracy_drop_ci_high"])
    with pytest.raises(ValueError, match="is not a measure an export keeps"):
        write_measured(folder, {"notes.csv": pd.DataFrame()})

    assert cli_main(["perturb", str(folder), "--images", "100", "--save",
                     "--data-dir", cifar_dir]) == 2
    assert "--save keeps measures of the whole test split" in capsys.readouterr().err


def test_kept_response_moments_are_read_instead_of_streamed(tiny_export, cifar_dir, tmp_path,
                                                           monkeypatch):
    """`measure` reads the moments an export keeps, exactly what streaming gives, but only
    for the same images and batches, and only the file its measured manifest lists."""
    folder = shutil.copytree(tiny_export, tmp_path / "standard-s0")
    streamed = measure(folder, 100, batch_size=50, data_dir=cifar_dir)
    write_measured(folder, {RESPONSE_MOMENTS: moments_to_arrays(
        response_moments(folder, 100, 50, cifar_dir), 50)})
    verify_export(folder)
    seen, module = [], sys.modules["ei_zoo.analysis.measure"]
    monkeypatch.setattr(module, "response_moments", lambda *args, original=response_moments,
                        **kwargs: seen.append(args) or original(*args, **kwargs))
    kept = measure(folder, 100, batch_size=50, progress=seen.append)
    assert seen == [100]  # no stream; the progress still counts the images
    assert kept.moments.keys() == streamed.moments.keys()
    for option, by_population in streamed.moments.items():
        for population, running in by_population.items():
            again = kept.moments[option][population]
            assert again.count == running.count == 100
            for field in MOMENT_FIELDS:
                np.testing.assert_array_equal(getattr(again, field), getattr(running, field))
    pd.testing.assert_frame_equal(summarize(kept, thresholds_of(kept.weights)),
                                  summarize(streamed, thresholds_of(streamed.weights)))
    # Other images, other batches, or asked not to: streamed again.
    for images, batch_size in ((50, 50), (100, 25)):
        measure(folder, images, batch_size=batch_size)
    measure(folder, 100, batch_size=50, kept=False)
    assert len(seen) == 1 + 3
    # A file no manifest lists (beside the export's own files) is not read.
    unlisted = shutil.copytree(tiny_export, tmp_path / "unlisted" / "standard-s0")
    shutil.copy(folder / MEASURED / RESPONSE_MOMENTS, unlisted)
    measure(unlisted, 100, batch_size=50)
    assert len(seen) == 1 + 4
    # A kept file that changed is refused.
    np.savez(folder / MEASURED / RESPONSE_MOMENTS, count=np.array(100), batch_size=np.array(50))
    with pytest.raises(ValueError, match="response_moments.npz does not match its sha256"):
        measure(folder, 100, batch_size=50)


def test_drive_shares_add_up_and_follow_the_weights(network):
    """Of every target, the sources' shares add up to 1; a gate has one source (share 1,
    its spread the gate's own); with area 4's recurrent kernel zeroed, PN's share
    there is 0 and the input's is 1."""
    model, images = network
    table = perturbation.drive_table(model, images, batch_size=8)
    assert list(table.columns) == list(perturbation.DRIVE_COLUMNS)
    totals = table.groupby(["area", "target"])["share"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, atol=1e-6)
    gates = table[table["target"].isin(["i", "o"])]
    assert set(gates["source"]) == {"IG", "OG"} and np.allclose(gates["share"], 1.0)
    np.testing.assert_allclose(gates["drive_std"], gates["target_std"], rtol=1e-5)
    assert set(table.loc[table["area"] == "area4", "source"]) == {"area3 PN", "PN", "IG", "OG"}

    cell = model.get_layer("area4").cell
    cell.recurrent_kernel.assign(np.zeros(cell.recurrent_kernel.shape, "float32"))
    cut = perturbation.drive_table(model, images, batch_size=8).set_index(
        ["area", "source", "target"])["share"]
    for target in ("g", "f", "IG", "OG"):
        assert cut[("area4", "PN", target)] == pytest.approx(0.0, abs=1e-6)
        assert cut[("area4", "area3 PN", target)] == pytest.approx(1.0, abs=1e-6)


def test_population_summary_gives_points_and_the_functional_label():
    drops = {("area4", "PN"): 0.70, ("area4", "OG"): 0.003, ("area3", "IG"): 0.012}
    table = perturbation_table("m", lambda area, cell_type, clamp: drops.get(
        (area, cell_type), 0.0) + (0.01 if clamp == "zero" else 0.0), images=2_000)
    tuning = pd.DataFrame({"area": ["area4"] * 2, "cell_type": ["PN", "OG"], "neuron": [0, 0],
                           "mean_rate": [0.1, 0.2], "preferred_class": [3, -1],
                           "class_variance_fraction": [0.5, np.nan],
                           "class_selectivity_index": [0.4, np.nan]})
    summary = analysis.population_summary(table, tuning).set_index(["area", "cell_type"])
    assert summary.loc[("area4", "PN"), "points_lost_step_mean"] == pytest.approx(70.0)
    assert summary.loc[("area4", "OG"), "points_lost_zero"] == pytest.approx(1.3)
    # 24 of 2,000 images lost: 1.2 points, whose interval (about +-0.5) straddles the line.
    low, high = summary.loc[("area3", "IG"), ["points_lost_step_mean_ci_low",
                                               "points_lost_step_mean_ci_high"]]
    assert low < 1 < high
    assert summary.loc[("area4", "PN"), "functional"] == "functional"
    assert summary.loc[("area4", "OG"), "functional"] == "not functional"
    assert summary.loc[("area3", "IG"), "functional"] == "indeterminate"
    assert summary.loc[("area4", "PN"), "class_variance_fraction"] == pytest.approx(0.5)


@pytest.mark.parametrize("lost, gained, images", [(30, 10, 1_000), (0, 0, 500), (400, 90, 10_000),
                                                  (7, 12, 1_000)])
def test_the_drop_interval_is_a_paired_bootstrap_over_images(lost, gained, images):
    """The multinomial shortcut gives the interval that resampling the images themselves
    gives, includes the drop, and is the same every time for the same measurement."""
    low, high = perturbation.drop_interval(lost, gained, images, "m/area3/IG/step_mean/all")
    assert (low, high) == perturbation.drop_interval(lost, gained, images,
                                                     "m/area3/IG/step_mean/all")
    drop = (lost - gained) / images
    assert low <= drop <= high
    differences = np.array([1] * lost + [-1] * gained + [0] * (images - lost - gained))
    rng = np.random.default_rng(0)
    resampled = differences[rng.integers(0, images, (4_000, images))].mean(axis=1)
    expected = np.percentile(resampled, [2.5, 97.5])
    assert np.allclose((low, high), expected, atol=max(0.15 * (expected[1] - expected[0]), 1e-9))
    if lost + gained:
        # ... and about +-1.96 paired standard errors wide.
        se = np.sqrt(((differences - drop) ** 2).mean() / images)
        assert high - low == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_functional_labels_read_the_interval_against_the_line():
    assert perturbation.functional(0.011, 0.03) == "functional"
    assert perturbation.functional(0.002, 0.009) == "not functional"
    assert perturbation.functional(0.005, 0.015) == "indeterminate"
    assert perturbation.functional(np.nan, np.nan) == NOT_MEASURED


def test_step_mean_clamps_each_neuron_to_its_mean_over_images_at_each_step(network):
    """The table's step_mean row is the accuracy with each rate replaced by its mean over the
    images at its step; the mean clamp's by its mean over images and steps."""
    model, images = network
    labels = np.arange(len(images)) % 10
    table, _ = perturbation.perturbation_tables(model, images, labels, "m", batch_size=8)
    rates = np.asarray(activation_model(model).predict_on_batch(images)["area4/PN"], "float64")
    assert rates.std(axis=0).mean(axis=(1, 2, 3)).min() > 0  # varies over images at each step
    assert not np.allclose(rates.mean(axis=0)[0], rates.mean(axis=0)[-1])  # ... and over steps
    for clamp, values in (("step_mean", rates.mean(axis=0)), ("mean", rates.mean(axis=(0, 1)))):
        logits = clamped_model(model, {"area4/PN": values.astype("float32")}).predict(
            images, verbose=0)
        accuracy = (np.argmax(logits, -1) == labels).mean()
        row = table[(table["area"] == "area4") & (table["cell_type"] == "PN")
                    & (table["clamp"] == clamp) & (table["class"] == "all")]
        assert row["accuracy"].item() == pytest.approx(accuracy)
    assert perturbation.clamp_values(rates.mean(axis=0).astype("float32"), "zero").shape == \
        rates.shape[2:]
    with pytest.raises(ValueError, match="clamp must be one of"):
        perturbation.clamp_values(rates.mean(axis=0), "median")


def test_function_over_seeds_gives_mean_sd_an_interval_and_each_seed_label():
    """Over seeds: mean and SD of the drops, a Student's t interval of the mean and its
    label, each network's own label; a variant of one network keeps that network's."""
    drops = {"s0": {"IG": 0.02, "OG": 0.005}, "s1": {"IG": 0.03, "OG": 0.025},
             "s2": {"IG": 0.025, "OG": 0.03}}
    table = pd.concat([perturbation_table(
        f"standard-{seed}", lambda area, cell_type, clamp, drop=drop:
        drop[cell_type] if area == "area4" and cell_type in drop else 0.3)
        for seed, drop in drops.items()]
        + [perturbation_table("inh_pn-s0", lambda *population: 0.012),
           perturbation_table("other-s0", lambda *population: 0.5)])
    variant_of = {"standard-s0": "standard", "standard-s1": "standard",
                  "standard-s2": "standard", "inh_pn-s0": "inh_pn"}
    over = analysis.function_over_seeds(table, variant_of).set_index(
        ["variant", "area", "cell_type"])
    assert set(over.index.get_level_values("variant")) == {"standard", "inh_pn"}
    ig = over.loc[("standard", "area4", "IG")]
    assert ig["networks"] == 3
    assert ig["points_lost_step_mean"] == pytest.approx(2.5)
    assert ig["points_lost_step_mean_sd"] == pytest.approx(0.5)
    half = 4.302653 * 0.5 / np.sqrt(3)  # Student's t, 2 degrees of freedom: 1.24
    assert ig["points_lost_step_mean_ci_low"] == pytest.approx(2.5 - half)
    assert ig["points_lost_step_mean_ci_high"] == pytest.approx(2.5 + half)
    assert ig["functional"] == "functional"
    assert ig["per_network"] == "functional, functional, functional"
    og = over.loc[("standard", "area4", "OG")]  # 0.5, 2.5 and 3 points: mean 2, SD 1.3
    assert og["points_lost_step_mean_ci_low"] < 1 < og["points_lost_step_mean_ci_high"]
    assert og["functional"] == "indeterminate"
    assert og["per_network"] == "not functional, functional, functional"
    single = over.loc[("inh_pn", "area3", "PN")]
    assert single["networks"] == 1 and np.isnan(single["points_lost_step_mean_sd"])
    assert single["functional"] == single["per_network"] == "indeterminate"
