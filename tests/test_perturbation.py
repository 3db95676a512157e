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

from conftest import TINY


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


def test_perturb_an_export_keep_the_tables_and_read_them_back(tiny_export, cifar_dir, tmp_path,
                                                              capsys):
    table, tuning = perturb(tiny_export, num_images=200, data_dir=cifar_dir, verbose=False)
    assert list(table.columns) == list(perturbation.PERTURBATION_COLUMNS)
    assert len(table) == (1 + 2 * 3 * 2) * 11  # intact and 12 clamps, overall and per class
    assert set(table["clamp"]) == {"none", "zero", "mean"}
    intact = table[(table["area"] == "intact") & (table["class"] == "all")]["accuracy"].item()
    images, labels = data.test_images(200, cifar_dir)
    served = ei_zoo.load(tiny_export, format="saved_model").serve(images)
    assert intact == pytest.approx(float((np.argmax(served, -1) == labels).mean()), abs=0.011)
    overall = table[table["class"] == "all"]
    assert np.allclose(overall["accuracy_drop"], intact - overall["accuracy"])
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
    assert row["functional"] == ("yes" if row["accuracy_drop_mean"] > 0.01 else "no")
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
    rows = [("intact", "intact", "none", 0.0)] + [
        ("area4", cell_type, clamp, drop)
        for cell_type, drops in (("PN", (0.70, 0.695)), ("OG", (0.003, 0.001)))
        for clamp, drop in zip(("zero", "mean"), drops)]
    perturbation = pd.DataFrame(
        [{"model": "m", "area": area, "cell_type": cell_type, "clamp": clamp, "class": "all",
          "accuracy": 0.8 - drop, "accuracy_drop": drop} for area, cell_type, clamp, drop in rows])
    tuning = pd.DataFrame({"area": ["area4"] * 2, "cell_type": ["PN", "OG"], "neuron": [0, 0],
                           "mean_rate": [0.1, 0.2], "preferred_class": [3, -1],
                           "class_variance_fraction": [0.5, np.nan],
                           "class_selectivity_index": [0.4, np.nan]})
    summary = analysis.population_summary(perturbation, tuning).set_index("cell_type")
    assert summary.loc["PN", "points_lost_mean"] == pytest.approx(69.5)
    assert summary.loc["OG", "points_lost_zero"] == pytest.approx(0.3)
    assert list(summary["functional"]) == ["yes", "no"]
