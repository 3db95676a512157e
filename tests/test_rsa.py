"""ei_zoo.analysis.rsa: RDMs per network, population and step; their comparison."""

import numpy as np
import pandas as pd
import pytest

from ei_zoo.analysis.extract import extract
from ei_zoo.analysis.rsa import compare_rdms, rdms


@pytest.fixture
def twelve_images():
    return np.random.default_rng(4).uniform(0, 255, (12, 32, 32, 3)).astype("float32")


def test_rdms_are_one_minus_the_correlation_of_responses(trained_tiny, twelve_images):
    model = trained_tiny[0]
    found = rdms([model], ["area3.PN", "area4.OG.t1"], images=twelve_images, batch_size=5)
    steps = extract(model, twelve_images, ["area3.PN"])["area3.PN"].sizes["step"]
    assert found.n_rdm == steps + 1 and found.n_cond == 12
    assert list(found.rdm_descriptors["cell_type"]) == ["PN"] * steps + ["OG"]
    assert list(found.rdm_descriptors["step"]) == [*range(steps), 1]
    responses = extract(model, twelve_images, ["area4.OG.t1"])["area4.OG.t1"].values
    expected = 1 - np.corrcoef(responses)
    np.testing.assert_allclose(found.get_matrices()[-1], expected, atol=1e-6)


def test_compare_gives_a_labelled_similarity_matrix_and_takes_a_users_rdm(trained_tiny,
                                                                          twelve_images):
    found = rdms([trained_tiny[0]], ["area4.PN.t0", "area4.PN.t1"], images=twelve_images)
    similarity = compare_rdms(found)
    assert similarity.shape == (2, 2)
    np.testing.assert_allclose(np.diag(similarity.to_numpy()), 1.0, atol=1e-9)
    assert similarity.index[0].endswith("area4 PN t0")
    users = found.get_matrices()[1]  # a user's matrix over the same images
    against = compare_rdms(found, users)
    assert list(against.columns) == ["user"]
    assert against.iloc[1, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same images"):
        compare_rdms(found, users[:5, :5])


def test_bad_arguments_are_refused(trained_tiny, twelve_images):
    model = trained_tiny[0]
    with pytest.raises(ValueError, match="non-empty list"):
        rdms([], images=twelve_images)
    with pytest.raises(ValueError, match="not a population name"):
        rdms([model], ["area3"], images=twelve_images)
    with pytest.raises(ValueError, match="N >= 3"):
        rdms([model], images=twelve_images[:2])


def test_the_rsa_command_writes_tables_and_figures(tiny_export, cifar_dir, tmp_path, capsys):
    from ei_zoo.cli import main

    out = tmp_path / "rsa"
    (out).mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file beside the results stays
    assert main(["rsa", str(tiny_export), "--populations", "area4.PN", "area3.IG.t1",
                 "--images", "20", "--out", str(out), "--data-dir", str(cifar_dir)]) == 0
    similarity = pd.read_csv(out / "similarity.csv", index_col=0)
    steps = similarity.shape[0] - 1
    assert similarity.shape == (steps + 1, steps + 1) and steps >= 1
    for name in ("rdms.png", "similarity.png"):
        assert (out / name).stat().st_size > 5000
    kept = np.load(out / "rdms.npz")  # no pickles
    assert kept["rdms"].shape == (steps + 1, 20, 20) and len(kept["labels"]) == steps + 1
    assert sorted(kept["test_image"]) == list(range(20))
    assert list(kept["image_class"]) == sorted(kept["image_class"])
    assert (out / "notes.txt").read_text() == "mine"
    assert "RDMs over the first 20 CIFAR-10 test images (sorted by class)" in \
        capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["standard-s0", "--populations", "area9.PN"], "not a population name"),
    (["standard-s0", "--images", "2"], "an RDM needs 3 to 2,000 images"),
])
def test_the_rsa_command_refuses_bad_input_in_one_line(argv, message, tmp_path, capsys):
    from ei_zoo.cli import main

    try:  # argparse's own checks exit; the command's return 2
        code = main(["rsa", *argv, "--out", str(tmp_path / "out")])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_population_similarity_is_one_across_identical_seeds(trained_tiny, twelve_images,
                                                             tmp_path):
    from ei_zoo.analysis.rsa import population_similarity
    from ei_zoo.hub.export import export_model

    folders = [export_model(trained_tiny[0], tmp_path / f"standard-s{seed}",
                            metadata={"seed": seed}) for seed in (0, 1)]
    table = population_similarity({"standard": folders}, twelve_images)
    assert len(table) == 36 and set(table["variant"]) == {"standard"}
    same = table[table["population"] == table["other"]]
    assert (same["pairs"] == 1).all()  # the one pair of different seeds
    defined = same.dropna(subset=["similarity"])
    assert len(defined) >= 3 and np.allclose(defined["similarity"], 1.0)
    others = table[table["population"] != table["other"]]
    assert (others["pairs"] <= 2).all()  # within each of the two networks
