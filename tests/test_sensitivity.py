"""ei_zoo.paper.sensitivity and design: the sensitivity and design tables on synthetic zoos."""

import numpy as np
import pandas as pd

from ei_zoo.analysis import (
    Choice,
    Measurements,
    RunningMoments,
    combine,
)
from ei_zoo.analysis.measure import thresholds_of
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.network.responses import OPTIONS
from ei_zoo.paper import claims, design, sensitivity

from conftest import perturbation_table


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
    zoo = [_fake_network(f"standard-s{seed}", "standard", standard, 100, 30, rng)
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
    assert list(columns)[0] == spec and len(columns) == 13
    # The interneurons of `standard` measured non-functional: mean-clamping them costs
    # nothing; PN's costs 50 points.
    for network in zoo[:3]:
        network.perturbation = perturbation_table(
            network.model, lambda area, cell_type, clamp: 0.5 if cell_type == "PN" else 0.0)
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
    # These networks keep no stage moments: no PN state or drive to compare with.
    assert c1["state (PN: cell state c)"] == c1["drive (before the nonlinearity)"] \
        == claims.MISSING
    # Only functional populations: no interneuron of `standard` is left to compare with.
    assert c1[sensitivity.FUNCTIONAL_ONLY] == verdicts.loc["C2", sensitivity.FUNCTIONAL_ONLY] \
        == claims.MISSING
    functional = views[Choice(functional_only=True)][0]
    standard = functional[functional["model"] == "standard-s0"]
    assert standard.loc[standard["cell_type"] == "IG", "selectivity"].isna().all()
    assert standard.loc[standard["cell_type"] == "PN", "selectivity"].notna().all()
    assert standard["functional"].tolist() == ["functional", "not functional",
                                               "not functional"] * 2
    [c1_claim] = [c for c in claims.check_claims(*views[Choice()]) if c.id == "C1"]
    assert c1_claim.evidence[-1].startswith("Not functional") and \
        "area3 IG in standard-s0, standard-s1, standard-s2" in c1_claim.evidence[-1]
    [c5_claim] = [c for c in claims.check_claims(*views[Choice()]) if c.id == "C5"]
    assert c5_claim.evidence[-1].startswith("Function not measured")
    c3 = verdicts.loc["C3"]  # ratio networks have no near-silent neurons, standard has
    assert c3[spec] == claims.MIXED and c3["median skewness"] == claims.HOLDS
    c2 = verdicts.loc["C2"]
    assert c2[spec] == c2["Gini of weights"] == claims.HOLDS
    assert c2["median skewness"] == sensitivity.NOT_USED
    assert verdicts.loc["C4", spec] == claims.HOLDS  # I density falls with the ratio
    assert verdicts.loc["C6", "robust"] == sensitivity.NOT_USED  # no no_dale networks
    # Under per-pathway θ the θ source is not a measurement: 0.1 by construction.
    per_pathway = views[Choice(density="density_pathway")][0]
    source = per_pathway[per_pathway["model"] == "standard-s0"]
    assert source["D_den"].isna().all() and per_pathway["D_den"].notna().any()
    assert (source["density_pathway"] - 0.1).abs().max() < 0.05
    assert "| C1:" in "\n".join(sensitivity.markdown(table))

    # Only the default table carries bootstrap intervals.
    assert combine(zoo[:1], thresholds)["selectivity_ci_low"].notna().any()
    assert views[Choice()][0]["selectivity_ci_low"].isna().all()


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
    study[0].perturbation = perturbation_table(
        study[0].model,
        lambda area, cell_type, clamp: 0.0 if (area, cell_type) == ("area4", "OG") else 0.3)
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
    replica.perturbation = perturbation_table(replica.model, lambda *population: 0.3)
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


def test_the_claims_name_populations_not_functional_and_indeterminate_apart():
    table = pd.DataFrame(
        [{"variant": "standard", "model": f"standard-s{seed}", "area": "area4",
          "cell_type": cell_type, "functional": label}
         for seed, labels in enumerate([("functional", "not functional", "indeterminate"),
                                        ("functional", "functional", "not functional")])
         for cell_type, label in zip(("PN", "IG", "OG"), labels)])
    sentence = claims.non_functional(table, ("standard",))
    assert sentence.startswith("Not functional (clamped to its per-step means it costs less "
                               "than 1 point")
    assert "area4 IG in standard-s0; area4 OG in standard-s1. Indeterminate" in sentence
    assert sentence.endswith("straddles 1 point of test accuracy; counted): area4 OG in "
                             "standard-s0.")
    every = claims.non_functional(table.assign(functional="functional"), ("standard",))
    assert every.startswith("Every population of these 2 networks is functional")
