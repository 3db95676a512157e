"""ei_zoo.paper.claims and effects: effect sizes, labels and verdicts on synthetic zoos."""

import zlib
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from ei_zoo.analysis.connectivity import weight_measures
from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.paper import claims, effects
from ei_zoo.paper.effects import DENSITY_QUANTITY, SELECTIVITY_QUANTITY, Effect
from ei_zoo.paper.report import emerges, report

GROUPS = ("PN", "IG", "OG", "IG+OG", "E", "I")


def test_labels_of_a_predicted_difference():
    def found(estimate, low, high, per_network=()):
        return Effect(estimate, low, high, per_network, 0.1)

    assert effects.greater(found(0.5, 0.2, 0.8, (0.4, 0.6))) == claims.HOLDS
    assert effects.greater(found(0.05, 0.01, 0.09, (0.04, 0.06))) == claims.NO_DIFFERENCE
    assert effects.greater(found(-0.5, -0.8, -0.2, (-0.4, -0.6))) == claims.FAILS
    assert effects.greater(found(0.5, 0.2, 0.8), direction=-1) == claims.FAILS
    assert effects.greater(found(0.0, -0.4, 0.4, (0.3, -0.3))) == claims.MIXED  # seeds disagree
    assert effects.greater(found(0.3, -0.1, 0.7, (0.2, 0.4))) == claims.MIXED  # reaches 0
    assert effects.greater(found(np.nan, np.nan, np.nan)) == claims.MISSING
    assert effects.not_less(found(-0.05, -0.09, 0.0)) == claims.HOLDS  # within the margin
    assert effects.not_less(found(-0.5, -0.8, -0.2)) == claims.FAILS
    assert effects.not_less(found(-0.1, -0.3, 0.1)) == claims.MIXED
    assert effects.at_most(0.1, 0.0, 0.2, 0.25) == claims.HOLDS
    assert effects.at_most(0.6, 0.5, 0.7, 0.25) == claims.FAILS
    assert effects.at_most(0.2, 0.1, 0.3, 0.25) == claims.MIXED
    assert effects.combine([claims.HOLDS, claims.HOLDS, claims.MISSING]) == claims.HOLDS
    assert effects.combine([claims.NO_DIFFERENCE] * 2) == claims.NO_DIFFERENCE
    assert effects.combine([claims.FAILS, claims.NO_DIFFERENCE]) == claims.FAILS
    assert effects.combine([claims.HOLDS, claims.FAILS]) == claims.MIXED
    assert effects.combine([claims.FAILS, claims.MIXED]) == claims.MIXED
    assert effects.combine([claims.MISSING]) == claims.MISSING
    assert effects.conjunction([claims.HOLDS, claims.HOLDS]) == claims.HOLDS
    assert effects.conjunction([claims.HOLDS, claims.FAILS]) == claims.FAILS
    assert effects.conjunction([claims.MIXED, claims.NO_DIFFERENCE]) == claims.NO_DIFFERENCE
    assert effects.conjunction([claims.HOLDS, claims.MIXED]) == claims.MIXED
    assert effects.conjunction([claims.HOLDS, claims.MISSING]) == claims.HOLDS
    assert effects.conjunction([]) == effects.conjunction([claims.MISSING]) == claims.MISSING


def test_neuron_bootstrap_has_the_standard_error_and_is_reproducible():
    values = np.random.default_rng(0).normal(2.0, 1.0, 400)
    sample = effects.neuron_sample(values, np.mean, "a")
    assert sample.estimate == pytest.approx(values.mean())
    assert np.std(sample.replicates) == pytest.approx(values.std() / 20, rel=0.15)
    assert np.array_equal(effects.neuron_sample(values, np.mean, "a").replicates,
                          sample.replicates)
    assert not np.array_equal(effects.neuron_sample(values, np.mean, "b").replicates,
                              sample.replicates)
    assert np.isnan(effects.neuron_sample(np.array([]), np.mean, "a").estimate)


def test_density_per_neuron_pools_like_the_density_measure():
    rng = np.random.default_rng(1)
    shapes = {"PN->g": (3, 3, 8, 8), "PN->f": (3, 3, 8, 8), "PN->IG": (3, 3, 8, 4),
              "PN->OG": (3, 3, 8, 4), "IG->i": (1, 1, 4, 8), "OG->o": (1, 1, 4, 8)}
    weights = {f"area3/{key}": rng.normal(size=shape) for key, shape in shapes.items()}
    thresholds = {"area3": 1.0}
    for cell_types in (["PN"], ["IG", "OG"]):
        above, total = effects._density_counts(weights, "area3", cell_types, thresholds, "density")
        assert len(above) == (8 if cell_types == ["PN"] else 8)  # presynaptic neurons
        sample = effects.count_sample(above, total, "k")
        assert sample.estimate == pytest.approx(
            weight_measures(weights, "area3", cell_types, thresholds)["density"])


def test_hierarchical_interval_covers_the_spread_of_networks():
    """Networks that differ and neurons that do not: the interval spans the networks'
    mean's bootstrap, inside the range of the networks."""
    replicates = np.array([np.full(effects.RESAMPLES, v) for v in (0.2, 0.5, 0.8)])
    values = effects.hierarchical(replicates, "k")
    low, high = effects.interval(values)
    assert 0.2 - 1e-12 <= low < 0.5 < high <= 0.8 + 1e-12
    assert effects.interval(effects.hierarchical(replicates[:1], "k")) == pytest.approx((0.2, 0.2))


def _sample(value, spread, n, key):
    """A Sample of `n` neurons around `value` (sd `spread`)."""
    values = value + spread * np.random.default_rng(zlib.crc32(key.encode())).standard_normal(n)
    values += value - values.mean()
    return effects.neuron_sample(values, np.mean, key)


def _network(model, variant, values, spread=0.05):
    """(table rows, samples) of one network; `values[area][group] = (selectivity, density)`,
    oriented density; groups PN, IG, OG and the pooled ones."""
    rows, samples = [], {}
    for area, by_group in values.items():
        for group in GROUPS:
            selectivity, density = by_group[group]
            samples[(area, group, SELECTIVITY_QUANTITY)] = _sample(
                selectivity, spread, 64, f"{model}{area}{group}s")
            samples[(area, group, DENSITY_QUANTITY)] = _sample(
                density, spread / 10, 64, f"{model}{area}{group}d")
        for cell_type in ("PN", "IG", "OG"):
            selectivity = by_group[cell_type][0]
            rows.append({"model": model, "variant": variant, "seed": int(model[-1]),
                         "area": area, "cell_type": cell_type, "selectivity": selectivity,
                         "selectivity_ci_low": selectivity - 0.1,
                         "selectivity_ci_high": selectivity + 0.1, "functional": "not measured"})
    return rows, samples


def _values(pn, ig, og, e_group="PN"):
    """Per-group (selectivity, density) with IG+OG the mean and E/I by sign."""
    pooled = tuple((a + b) / 2 for a, b in zip(ig, og))
    groups = {"PN": pn, "IG": ig, "OG": og, "IG+OG": pooled}
    groups["E"] = groups[e_group] if e_group == "PN" else pooled
    groups["I"] = pooled if e_group == "PN" else pn
    return {area: groups for area in ("area3", "area4")}


def _zoo(networks):
    rows, samples = [], {}
    for model, variant, values in networks:
        network_rows, samples[model] = _network(model, variant, values)
        rows += network_rows
    return pd.DataFrame(rows), samples


def test_claims_on_a_synthetic_zoo():
    networks = []
    for ratio in RATIOS:
        model = "standard-s0" if ratio == Fraction(1, 4) else f"{ratio_name(ratio)}-s0"
        variant = "standard" if ratio == Fraction(1, 4) else ratio_name(ratio)
        i_density = 0.5 / (1 + float(ratio))  # falls with the I channels
        networks.append((model, variant, _values((1.0, 0.1), (0.5, i_density),
                                                 (0.4, i_density))))
    networks.append(("inh_pn-s0", "inh_pn", _values((0.9, 0.3), (0.2, 0.2), (0.3, 0.2),
                                                    e_group="IG+OG")))
    networks.append(("no_dale-s0", "no_dale", _values((0.9, 0.1), (0.2, 0.2), (0.3, 0.2))))
    results = {c.id: c for c in claims.check_claims(*_zoo(networks))}
    assert results["C1"].verdict == claims.HOLDS
    assert results["C2"].verdict == claims.HOLDS
    assert results["C3"].verdict == claims.HOLDS and results["C3"].networks == 9
    assert results["C4"].verdict == claims.HOLDS
    assert results["C5"].verdict == claims.HOLDS
    assert results["C6"].verdict == claims.FAILS  # PN sparser here: "not sparser" fails
    assert results["C6"].areas == {"area3": claims.FAILS, "area4": claims.FAILS}
    assert results["C1"].other == claims.HOLDS  # pooled IG+OG: 1.0 against 0.45
    text = report(list(results.values()))
    assert "Spearman" in text and "+0.500 [" in text and "inconclusive" not in text
    assert "| 1/64 | 1 | area3 |" in text


def test_verdicts_over_seeds_with_their_intervals():
    """Area 3 holds in every seed; area 4 is within the margin: the claim is mixed with
    area labels that say so; a silent population is shown and not counted."""
    networks = []
    for seed, area4_ig in enumerate((0.97, 1.02, 0.99)):
        values = _values((1.0, 0.1), (0.5, 0.3), (0.4, 0.3))
        values["area4"] = {**values["area4"], "IG": (area4_ig, 0.3), "OG": (area4_ig, 0.3)}
        networks.append((f"standard-s{seed}", "standard", values))
    table, samples = _zoo(networks)
    samples["standard-s1"][("area3", "OG", SELECTIVITY_QUANTITY)] = effects.NOT_MEASURED_SAMPLE
    [c1] = [c for c in claims.check_claims(table, samples) if c.id == "C1"]
    assert c1.areas == {"area3": claims.HOLDS, "area4": claims.NO_DIFFERENCE}
    assert c1.verdict == claims.MIXED and c1.summary == "area3 holds, area4 no difference"
    assert c1.networks == 3
    evidence = "\n".join(c1.evidence)
    assert "| standard-s0 | standard-s1 | standard-s2 |" in evidence
    assert "| SPEC | selectivity(PN) - selectivity(OG) | area3 | +0.600 | n/a | +0.600 | " \
        "+0.600 [" in evidence
    # The mean of the per-network differences, with an interval around it.
    row = next(line for line in c1.evidence if "(PN) - selectivity(IG) | area4" in line)
    low, high = (float(x) for x in row.split("[")[1].split("]")[0].split(","))
    assert low < 0.007 < high and row.endswith("| no difference |")
    assert [c.verdict for c in claims.check_claims(table, samples) if c.id == "C5"] == \
        [claims.MISSING]  # no inh_pn networks


def test_emerges_with_training_compares_area_labels():
    def claim(area3, area4):
        return claims.Claim("C1", "", claims.MIXED, [], 3,
                            areas={"area3": area3, "area4": area4})

    trained = claim(claims.HOLDS, claims.FAILS)
    assert emerges(trained, claim(claims.FAILS, claims.FAILS)) == "area3 yes, area4 —"
    assert emerges(claim(claims.HOLDS, claims.HOLDS),
                   claim(claims.HOLDS, claims.HOLDS)) == "no (holds untrained)"
    assert emerges(claim(claims.FAILS, claims.MIXED), claim(claims.HOLDS, claims.HOLDS)) \
        == "lost with training"
