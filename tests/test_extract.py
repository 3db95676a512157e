"""ei_zoo.analysis.extract: activations by name, labelled, equal to the model's rates."""

import numpy as np
import pytest

import ei_zoo
from ei_zoo.analysis.extract import extract, parse_name
from ei_zoo.network.config import AREAS, CELL_TYPES
from ei_zoo.network.models import activation_model


def test_names_parse_and_bad_ones_are_refused():
    assert parse_name("area4.OG.t3") == ("area4", "OG", 3)
    assert parse_name("area3.PN") == ("area3", "PN", None)
    for bad in ("area5.PN", "area3.XX", "area3/PN", "area3.PN.3", 7):
        with pytest.raises(ValueError, match="not a population name"):
            parse_name(bad)


def test_every_population_and_step_equals_the_keras_rates(trained_tiny):
    model = trained_tiny[0]
    images = np.random.default_rng(3).uniform(0, 255, (7, 32, 32, 3)).astype("float32")
    expected = {key: np.asarray(value) for key, value in
                activation_model(model).predict_on_batch(images).items()}
    steps = expected["area3/PN"].shape[1]
    names = [f"{area}.{cell_type}.t{step}" for area in AREAS for cell_type in CELL_TYPES
             for step in range(steps)] + [f"{area}.{c}" for area in AREAS for c in CELL_TYPES]
    kept = extract(model, images, names, reduce=None, batch_size=3)  # three batches
    reduced = extract(model, images, names, reduce="mean_space", batch_size=4)
    for area in AREAS:
        for cell_type in CELL_TYPES:
            rates = expected[f"{area}/{cell_type}"]
            whole = kept[f"{area}.{cell_type}"]
            assert whole.dims == ("image", "step", "y", "x", "channel")
            assert whole.coords["area"] == area and whole.coords["cell_type"] == cell_type
            np.testing.assert_allclose(whole.values, rates, rtol=1e-5, atol=1e-6)
            for step in range(steps):
                one = reduced[f"{area}.{cell_type}.t{step}"]
                assert one.dims == ("image", "channel") and int(one.coords["step"]) == step
                np.testing.assert_allclose(one.values, rates[:, step].mean(axis=(1, 2)),
                                           rtol=1e-5, atol=1e-6)
    one_neuron = reduced["area4.OG.t1"].sel(channel=1)
    assert one_neuron.dims == ("image",) and len(one_neuron) == 7


def test_the_saved_model_alone_gives_the_same_arrays(tiny_export, images):
    served = ei_zoo.load(tiny_export, format="saved_model")
    from_served = extract(served, images, ["area4.IG.t1", "area3.PN"])
    from_keras = extract(ei_zoo.load(tiny_export), images, ["area4.IG.t1", "area3.PN"])
    for name in from_served:
        np.testing.assert_allclose(from_served[name].values, from_keras[name].values,
                                   rtol=1e-4, atol=1e-5)
        assert from_served[name].dims == from_keras[name].dims


def test_bad_arguments_fail_before_any_work(trained_tiny, images):
    model = trained_tiny[0]
    for kwargs, message in ((dict(layers="area3.PN"), "non-empty list"),
                            (dict(layers=["area3.PN"], reduce="max"), "reduce="),
                            (dict(layers=["area3.PN"], batch_size=0), "positive integer"),
                            (dict(layers=["area3.PN.t9"]), "not among")):
        with pytest.raises(ValueError, match=message):
            extract(model, images, **kwargs)
    with pytest.raises(ValueError, match=r"\[N, S, S, 3\]"):
        extract(model, images[0], ["area3.PN"])
