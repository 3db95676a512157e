"""ei_zoo.analysis.stages: the PN cell state and every drive, measured like the rates."""

import shutil

import numpy as np
import pytest

import ei_zoo
from ei_zoo import data
from ei_zoo.analysis.measure import Choice, kept_moments, measure
from ei_zoo.analysis.stages import stage_key, stage_model
from ei_zoo.analysis.tables import summarize
from ei_zoo.hub.bundle import STAGE_MOMENTS, verify_export
from ei_zoo.network.config import AREAS

IMAGES = 300


@pytest.fixture(scope="module")
def test_images(cifar_dir):
    return np.concatenate([np.asarray(x) for x, _ in data.test_dataset(100, cifar_dir,
                                                                        limit=IMAGES)])


def test_drives_are_what_the_rates_rectify_and_the_state_what_the_pn_rate_gates(
        trained_tiny, test_images):
    model = trained_tiny[0]
    stages = stage_model(model).predict_on_batch(test_images)
    rates = ei_zoo.activation_model(model).predict_on_batch(test_images)
    for area in AREAS:
        for cell_type in ("IG", "OG"):
            np.testing.assert_allclose(np.maximum(stages[stage_key("drive", area, cell_type)], 0),
                                       rates[f"{area}/{cell_type}"], rtol=1e-2, atol=1e-2)
        # PN = o * tanh(c) with o in (0, 1): the rate lies between 0 and tanh(c).
        state, principal = stages[stage_key("state", area, "PN")], rates[f"{area}/PN"]
        assert (state >= 0).all()  # c = f c + i relu(z_g) >= 0 in an unsigned network
        gated = np.tanh(state)
        assert (principal <= gated + 1e-2).all() and (principal >= -1e-6).all()
        assert not np.allclose(principal, gated, atol=1e-3)  # the gate does act


def test_stage_columns_and_kept_moments(tiny_export, cifar_dir, tmp_path):
    folder = tmp_path / "standard-s0"
    shutil.copytree(tiny_export, folder)
    streamed = measure(folder, num_images=IMAGES, batch_size=100, data_dir=cifar_dir)
    thresholds = {area: 0.05 for area in AREAS}
    table = summarize(streamed, thresholds).set_index(["area", "cell_type"])
    # IG and OG state is their rate; the PN state and every drive are other numbers.
    for area in AREAS:
        for cell_type in ("IG", "OG"):
            assert table.loc[(area, cell_type), "selectivity_state"] == \
                table.loc[(area, cell_type), "selectivity"]
        assert table.loc[(area, "PN"), "selectivity_state"] != table.loc[(area, "PN"),
                                                                         "selectivity"]
    assert np.isfinite(table["selectivity_drive"]).all()
    assert table["lifetime_sparseness_drive"].isna().all()  # undefined for a signed drive
    assert np.isfinite(table["selectivity_state_ci_low"]).all()

    from ei_zoo.hub.measured import read_measured, write_measured
    from ei_zoo.network.responses import moments_to_arrays

    write_measured(folder, {STAGE_MOMENTS: moments_to_arrays(streamed.stages, 100)})
    verify_export(folder)
    kept = kept_moments(read_measured(folder), IMAGES, 100, STAGE_MOMENTS)
    assert kept is not None
    read = measure(folder, num_images=IMAGES, batch_size=100, data_dir=cifar_dir)
    again = summarize(read, thresholds).set_index(["area", "cell_type"])
    np.testing.assert_array_equal(again["selectivity_drive"], table["selectivity_drive"])
    # Another batching is not what was kept.
    assert kept_moments(read_measured(folder), IMAGES, 50, STAGE_MOMENTS) is None
    without = summarize(measure(folder, num_images=IMAGES, batch_size=100, data_dir=cifar_dir,
                                stages=False), thresholds)
    assert without["selectivity_drive"].isna().all()
    assert without.loc[without["cell_type"] == "PN", "selectivity_state"].isna().all()


def test_a_choice_reads_the_stage_it_names():
    assert Choice(stage="drive").selectivity_column == "selectivity_drive"
    assert Choice(stage="state", exclude_near_silent=True).selectivity_column == \
        "selectivity_state_excl_near_silent"
    assert Choice(stage="state").changes == {"selectivity"}
    with pytest.raises(ValueError, match="stage must be one of"):
        Choice(stage="output")
    with pytest.raises(ValueError, match="lifetime sparseness not at drive"):
        Choice(stage="drive", selectivity="lifetime_sparseness")
