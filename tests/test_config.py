import dataclasses
import json

import pytest

import ei_zoo
from ei_zoo.network.config import NetworkConfig
from ei_zoo.network.registry import interneuron_ratio

EXPECTED_VARIANTS = [
    "standard", "inh_pn", "no_dale", "ratio_1_64", "ratio_1_32", "ratio_1_16", "ratio_1_8",
    "ratio_1_4", "ratio_1_2", "ratio_1_1", "ratio_2_1", "ratio_4_1",
]


def test_registry_names():
    """The paper's variants first, then the design study's `<base>.<change>` ones: on the
    three principal variants, and on the other ratios for a change with a ratio sweep."""
    names = ei_zoo.list_variants()
    assert names[:len(EXPECTED_VARIANTS)] == EXPECTED_VARIANTS
    study = names[len(EXPECTED_VARIANTS):]
    principal = ("standard", "inh_pn", "no_dale")
    assert study and all(name.split(".")[0] in principal
                         or (name.split(".")[0] in EXPECTED_VARIANTS
                             and name.split(".")[1] == "signed_output") for name in study)
    assert "ratio_4_1.signed_output" in study and "ratio_1_4.signed_output" not in study


@pytest.mark.parametrize("name", EXPECTED_VARIANTS)
def test_config_json_round_trip(name, tmp_path):
    config = ei_zoo.get_config(name)
    assert NetworkConfig.from_json(config.to_json()) == config
    path = tmp_path / "config.json"
    config.to_json(path)
    assert NetworkConfig.from_json(path) == config
    assert json.loads(path.read_text())["variant"] == name


def test_round_trip_keeps_every_changed_field():
    changed = NetworkConfig(
        variant="custom", dale="inh_pn", principal=8, input_gating=3, output_gating=5,
        kernel_size=5, timesteps=2, resting_drive=0.25, pixel_mean=(1.0, 2.0, 3.0),
        signed_principal_output=True,
    )
    restored = NetworkConfig.from_json(changed.to_json())
    assert restored == changed
    assert dataclasses.asdict(restored) == dataclasses.asdict(changed)


def test_sign_table():
    assert ei_zoo.get_config("standard").signs == {"PN": 1, "IG": -1, "OG": -1}
    assert ei_zoo.get_config("inh_pn").signs == {"PN": -1, "IG": 1, "OG": 1}
    assert ei_zoo.get_config("no_dale").signs == {"PN": None, "IG": None, "OG": None}


@pytest.mark.parametrize("name, interneurons", [
    ("ratio_1_64", 1), ("ratio_1_32", 2), ("ratio_1_16", 4), ("ratio_1_8", 8),
    ("ratio_1_4", 16), ("ratio_1_2", 32), ("ratio_1_1", 64), ("ratio_2_1", 128),
    ("ratio_4_1", 256),
])
def test_ratio_variants(name, interneurons):
    config = ei_zoo.get_config(name)
    assert config.principal == 64
    assert config.input_gating == config.output_gating == interneurons
    assert config.dale == "standard"
    assert interneuron_ratio(config) == interneurons / 64


def test_ratio_1_4_is_the_standard_network():
    standard = ei_zoo.get_config("standard")
    assert ei_zoo.get_config("ratio_1_4").replace(variant="standard") == standard


def test_unknown_variant_suggests_closest():
    with pytest.raises(ValueError, match="Did you mean standard"):
        ei_zoo.get_config("standrad")


@pytest.mark.parametrize("text, field", [
    ('{"dale": "excitatory"}', "dale"),
    ('{"principal": 0}', "principal"),
    ('{"kernel_size": 4}', "kernel_size"),
    ('{"timesteps": "four"}', "timesteps"),
    ('{"colour": 1}', "colour"),
    ('[1, 2]', "JSON object"),
    ('{"principal": 64,', "not valid JSON"),
])
def test_malformed_config_names_the_problem(text, field):
    with pytest.raises(ValueError, match=field):
        NetworkConfig.from_json(text)
