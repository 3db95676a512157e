"""ei_zoo.analysis.connectivity: connection density and the Gini coefficient."""

import numpy as np
import pytest

from ei_zoo.analysis import (
    calibrate_threshold,
    connection_density,
    density_curve,
    gini,
    top_share,
)
from ei_zoo.analysis.connectivity import pathway_density
from ei_zoo.analysis.measure import thresholds_of


def test_density_on_hand_made_weights():
    weights = {
        "area3/PN->g": np.array([0.0, 0.1, 0.2, 0.3]), "area3/PN->f": np.array([0.4]),
        "area3/PN->IG": np.array([-0.5]), "area3/PN->OG": np.array([0.05]),
        "area3/IG->i": np.array([-0.9, -0.05]), "area3/OG->o": np.array([-0.01, -0.02]),
    }
    from ei_zoo.analysis.connectivity import outgoing

    pn = outgoing(weights, "area3", ["PN"])
    assert sorted(pn.tolist()) == [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert connection_density(pn, 0.25) == pytest.approx(3 / 7)  # |w| compared, sign ignored
    assert connection_density(outgoing(weights, "area3", ["IG"]), 0.25) == 0.5
    assert connection_density(outgoing(weights, "area3", ["OG"]), 0.25) == 0.0
    assert density_curve(pn, [0.0, 0.25, 1.0]).tolist() == [6 / 7, 3 / 7, 0.0]
    all_weights = np.abs(np.concatenate([w for w in weights.values()]))
    assert calibrate_threshold(weights, "area3") == pytest.approx(np.quantile(all_weights, 0.9))
    assert top_share(np.array([10.0] + [0.0] * 9)) == 1.0
    assert top_share(np.ones(10)) == pytest.approx(0.1)
    # Each pathway against its own θ: PN->g's θ 0.25 passes 1 of 4 (0.3), the rest none.
    own = {"area3/PN->g": 0.25, "area3/PN->f": 1.0, "area3/PN->IG": 1.0, "area3/PN->OG": 1.0}
    assert pathway_density(weights, "area3", ["PN"], own) == pytest.approx(1 / 7)
    assert np.isnan(pathway_density(weights, "area3", ["PN"], {}))
    thresholds = thresholds_of({key.replace("area3", area): value for key, value in
                                weights.items() for area in ("area3", "area4")})
    assert thresholds["pathways"]["area3/IG->i"] == pytest.approx(np.quantile([0.9, 0.05], 0.9))


def test_gini_against_the_pairwise_definition():
    rng = np.random.default_rng(4)
    for values in (rng.exponential(size=50), rng.uniform(size=7), np.array([0.0, 0.0, 5.0])):
        pairwise = np.abs(values[:, None] - values[None, :]).sum() / (
            2 * len(values) ** 2 * values.mean())
        assert gini(values) == pytest.approx(pairwise)
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0.0] * 9 + [1.0])) == pytest.approx(0.9)
    assert np.isnan(gini(np.zeros(4)))
