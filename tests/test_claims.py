"""ei_zoo.paper.claims: verdicts on synthetic zoos."""

import numpy as np
import pandas as pd
import scipy.stats

from ei_zoo.network.registry import RATIOS, ratio_name
from ei_zoo.paper import claims


def test_claim_verdicts():
    assert claims.verdict([True, True]) == claims.HOLDS
    assert claims.verdict([False, False]) == claims.FAILS
    assert claims.verdict([True, False]) == claims.MIXED
    assert claims.verdict([]) == claims.MISSING
    assert claims.combine_verdicts(claims.HOLDS, claims.FAILS) == claims.FAILS


def _synthetic_table(variant_rows):
    """A table shaped like `combine`'s output, from (model, variant, area, values) rows."""
    rows = []
    for model, variant, area, values in variant_rows:
        for cell_type in ("PN", "IG", "OG"):
            selectivity, density = values[cell_type]
            rows.append({
                "model": model, "variant": variant, "seed": 0, "area": area,
                "cell_type": cell_type, "excitatory": (cell_type == "PN") != (variant == "inh_pn"),
                "selectivity": selectivity, "selectivity_ci_low": selectivity - 0.1,
                "selectivity_ci_high": selectivity + 0.1, "density": density,
                "D_sel": values["D_sel"], "D_den": values["D_den"],
                "D_sel_pn": values["D_sel_pn"], "D_den_pn": values["D_den_pn"],
            })
    return pd.DataFrame(rows)


def test_claims_on_a_synthetic_zoo():
    entries = []
    for ratio in RATIOS:
        model = "standard-s0" if ratio == 0.25 else f"{ratio_name(ratio)}-s0"
        variant = "standard" if ratio == 0.25 else ratio_name(ratio)
        i_density = 0.5 / (1 + float(ratio))  # falls with the I channels
        for area in ("area3", "area4"):
            entries.append((model, variant, area, {
                "PN": (1.0, 0.1), "IG": (0.5, i_density), "OG": (0.4, i_density),
                "D_sel": 0.55, "D_den": 0.1 - i_density, "D_sel_pn": 0.55,
                "D_den_pn": 0.1 - i_density}))
    for area in ("area3", "area4"):
        entries.append(("inh_pn-s0", "inh_pn", area, {
            "PN": (0.9, 0.3), "IG": (0.2, 0.2), "OG": (0.3, 0.2),
            "D_sel": -0.65, "D_den": -0.1, "D_sel_pn": 0.65, "D_den_pn": 0.1}))
        entries.append(("no_dale-s0", "no_dale", area, {
            "PN": (0.9, 0.1), "IG": (0.2, 0.2), "OG": (0.3, 0.2),
            "D_sel": 0.65, "D_den": -0.1, "D_sel_pn": 0.65, "D_den_pn": -0.1}))
    results = {c.id: c for c in claims.check_claims(_synthetic_table(entries))}
    assert results["C1"].verdict == claims.HOLDS
    assert results["C2"].verdict == claims.HOLDS
    assert results["C3"].verdict == claims.HOLDS and results["C3"].networks == 9
    assert results["C4"].verdict == claims.HOLDS
    assert results["C5"].verdict == claims.HOLDS
    assert results["C6"].verdict == claims.FAILS  # PN sparser here: "not sparser" fails
    text = claims.report(list(results.values()))
    assert "Spearman" in text and "+0.650" in text


def _seed_rows(model, variant, area, pn_ig, pn_og, d_den):
    """Table rows of one network and area where only the claim-relevant numbers matter."""
    rows = []
    for cell_type, selectivity in (("PN", 1.0), ("IG", 1.0 - pn_ig), ("OG", 1.0 - pn_og)):
        rows.append({
            "model": model, "variant": variant, "seed": int(model[-1]), "area": area,
            "cell_type": cell_type, "excitatory": cell_type == "PN",
            "selectivity": selectivity, "selectivity_ci_low": selectivity,
            "selectivity_ci_high": selectivity, "density": 0.1,
            "D_sel": pn_ig, "D_den": d_den, "D_sel_pn": pn_ig, "D_den_pn": d_den,
        })
    return rows


def test_verdict_over_seeds():
    """Holds: every seed in every area; does not hold: none; inconclusive: otherwise;
    a silent population is shown and not counted."""
    rows = []
    for seed, (area3, area4) in enumerate([((0.5, 0.4, -0.1), (0.3, np.nan, -0.2)),
                                           ((0.6, 0.2, -0.1), (0.2, 0.1, -0.3)),
                                           ((0.4, 0.3, -0.2), (-0.1, 0.2, -0.1))]):
        rows += _seed_rows(f"standard-s{seed}", "standard", "area3", *area3)
        rows += _seed_rows(f"standard-s{seed}", "standard", "area4", *area4)
    for seed in range(3):
        for area in ("area3", "area4"):
            rows += _seed_rows(f"no_dale-s{seed}", "no_dale", area, -0.5, -0.5, -0.1)
    table = pd.DataFrame(rows)
    results = {c.id: c for c in claims.check_claims(table)}
    assert results["C1"].verdict == claims.MIXED  # standard-s2 area 4: PN < IG
    assert results["C1"].networks == 3
    assert results["C2"].verdict == claims.HOLDS
    assert results["C6"].verdict == claims.FAILS  # less selective and sparser in every seed
    assert results["C5"].verdict == claims.MISSING  # no inh_pn networks
    c1 = "\n".join(results["C1"].evidence)
    assert "| standard-s0 | standard-s1 | standard-s2 |" in c1
    assert "| n/a | +0.100 | +0.200 |" in c1 and "n/a + +" in c1  # silent OG shown
    # PN - IG in area 3: 0.5, 0.6, 0.4 -> mean 0.5 with a t interval on 2 df.
    half_width = scipy.stats.t.ppf(0.975, 2) * np.std([0.5, 0.6, 0.4], ddof=1) / np.sqrt(3)
    assert f"+0.500 [{0.5 - half_width:+.3f}, {0.5 + half_width:+.3f}] | + + +" in c1
    # Dropping the failing network makes C1 hold: the silent population does not count.
    kept = table[table["model"] != "standard-s2"]
    assert claims.claim_c1(kept).verdict == claims.HOLDS
    assert claims.seed_interval([2.0]) [0] == 2.0 and np.isnan(claims.seed_interval([2.0])[1])
