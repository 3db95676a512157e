"""The network as one object: `EINetwork` owns its config, one registry of variants,
`create_model`, and a cell that `keras.layers.RNN` can drive."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import ei_zoo
import ei_zoo.network.models  # noqa: F401  (registers the Keras classes .keras files name)
from ei_zoo.network import registry
from ei_zoo.network.config import NetworkConfig

EXPORTED = Path(__file__).resolve().parents[1] / "exported"
SHIPPED = sorted(entry["id"] for entry in json.loads((EXPORTED / "index.json").read_text())
                 ["models"])


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def clean_registry():
    """Names registered inside a test are forgotten after it."""
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def test_the_network_owns_its_config_through_a_keras_round_trip(images, tmp_path):
    config = ei_zoo.get_config("inh_pn").replace(timesteps=2, gate_drive=1.5)
    model = ei_zoo.EINetwork(config, precision="mixed_bfloat16")
    assert model.network_config == config and model.name == "inh_pn"
    assert model.precision == "mixed_bfloat16"
    assert model.get_config() == {"config": config.to_dict(), "precision": "mixed_bfloat16",
                                  "name": "inh_pn", "trainable": True}
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    assert type(restored) is ei_zoo.EINetwork
    assert restored.network_config == config and restored.precision == "mixed_bfloat16"
    np.testing.assert_array_equal(numpy(restored(images)), numpy(model(images)))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone


@pytest.mark.parametrize("identifier", SHIPPED)
def test_every_shipped_network_loads_as_an_einetwork_with_its_variants_config(identifier):
    metadata = ei_zoo.read_metadata(EXPORTED / identifier)
    config = NetworkConfig.from_dict(metadata["config"])
    assert ei_zoo.get_config(metadata["variant"]) == config  # every shipped variant registered
    model = keras.saving.load_model(EXPORTED / identifier / "model.keras")
    assert type(model) is ei_zoo.EINetwork
    assert model.network_config == config
    assert model.precision == metadata["precision"]


def test_one_registry_holds_the_papers_the_studys_and_a_users_variants(clean_registry):
    names = ei_zoo.list_variants()
    assert {"standard", "inh_pn", "no_dale", "ratio_1_64", "standard.gate_open",
            "no_dale.signed_output"} <= set(names)
    assert ei_zoo.get_config("standard.gate_open") == ei_zoo.get_config("standard").replace(
        variant="standard.gate_open", gate_drive=2.0)
    registered = ei_zoo.register_variant("wide_ig", "standard", input_gating=32)
    assert registered == ei_zoo.get_config("wide_ig")
    assert registered.variant == "wide_ig" and registered.input_gating == 32
    assert ei_zoo.register_variant("wide_ig", "standard", input_gating=32) == registered
    model = ei_zoo.build_model("wide_ig")
    assert model.get_layer("area3").cell.input_gating == 32
    with pytest.raises(ValueError, match="already registered with another config"):
        ei_zoo.register_variant("wide_ig", "standard", input_gating=8)
    for bad in ("Wide", "wide-s0", "a/b", "", "x.y.z", 3):
        with pytest.raises(ValueError, match="is not valid"):
            ei_zoo.register_variant(bad)
    with pytest.raises(ValueError, match="Did you mean standard.gate_open"):
        ei_zoo.get_config("standard.gate_opne")


def test_create_model_builds_loads_and_names_the_closest():
    untrained = ei_zoo.create_model("no_dale", timesteps=2)
    assert untrained.network_config == ei_zoo.get_config("no_dale").replace(timesteps=2)
    trained = ei_zoo.create_model("standard", pretrained=True)
    assert trained.network_config == ei_zoo.get_config("standard")
    np.testing.assert_array_equal(
        numpy(trained.get_layer("readout").kernel),
        numpy(ei_zoo.load("standard-s0").get_layer("readout").kernel))
    by_id = ei_zoo.create_model("standard.gate_open-s1")
    assert by_id.network_config.variant == "standard.gate_open"
    with pytest.raises(ValueError, match="Did you mean inh_pn"):
        ei_zoo.create_model("inh_pm")
    with pytest.raises(ValueError, match="cannot apply to the trained"):
        ei_zoo.create_model("standard", pretrained=True, timesteps=2)
    with pytest.raises(ValueError, match="cannot apply to the trained"):
        ei_zoo.create_model("standard-s0", timesteps=2)


@pytest.mark.parametrize("area", ["area3", "area4"])
def test_keras_rnn_drives_the_cell_and_reproduces_the_area(area, images):
    model = ei_zoo.build_model("standard")
    ei_zoo.balance_biases(model, images)
    layer = model.get_layer(area)
    inputs = keras.Model(model.input, layer.input)(images)
    frames = inputs if area == "area4" else keras.ops.stack([inputs] * layer.timesteps, axis=1)
    cell = layer.cell
    assert cell.state_size == [cell.principal, cell.principal]
    pn = keras.layers.RNN(cell, return_sequences=True)(frames)
    np.testing.assert_allclose(numpy(pn), numpy(layer(inputs)["PN"]), rtol=1e-6, atol=1e-6)
    h, states = cell(frames[:, 0], cell.get_initial_state(batch_size=len(images)))
    assert len(states) == 2 and tuple(h.shape) == tuple(states[1].shape)
