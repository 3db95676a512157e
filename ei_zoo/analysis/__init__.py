"""Analysis of exported networks: what the paper measured (docs/science.md, sections 4-5).

    table = ei_zoo.analysis.analyze("standard-s0")      # one row per (area, cell type)
    table = ei_zoo.analysis.compare(["standard-s0", "inh_pn-s0"])
    perturbation, tuning = ei_zoo.analysis.perturb("standard-s0")   # what each population does
    drives = ei_zoo.analysis.drive("standard-s0")   # how much of each target it moves
    arrays = ei_zoo.analysis.extract("standard-s0", images, ["area4.OG.t3"])  # labelled rates
    found = ei_zoo.analysis.rdms(["standard-s0"], ["area4.PN"], images=images)  # rsatoolbox

`rdms` and `compare_rdms` need rsatoolbox (`pip install "ei_zoo[analysis]"`) and are
imported on first use.
"""

from ei_zoo.analysis.connectivity import (
    calibrate_threshold,
    connection_density,
    density_curve,
    gini,
    top_share,
)
from ei_zoo.analysis.extract import extract
from ei_zoo.analysis.function import drive, function_over_seeds, perturb, population_summary
from ei_zoo.analysis.measure import Choice, Measurements, measure, reference_thresholds
from ei_zoo.analysis.tables import (
    analyze,
    combine,
    compare,
    differences,
    pathway_table,
    summarize,
)
from ei_zoo.network.responses import RunningMoments
from ei_zoo.optional import lazy_exports

__all__ = [
    "Choice",
    "Measurements",
    "RunningMoments",
    "analyze",
    "calibrate_threshold",
    "combine",
    "compare",
    "compare_rdms",
    "connection_density",
    "density_curve",
    "differences",
    "drive",
    "extract",
    "function_over_seeds",
    "gini",
    "measure",
    "pathway_table",
    "perturb",
    "population_summary",
    "rdms",
    "reference_thresholds",
    "summarize",
    "top_share",
]

# RSA on first use: rsatoolbox is the `analysis` extra's.
__getattr__, __dir__ = lazy_exports(
    __name__, {"rdms": "ei_zoo.analysis.rsa", "compare_rdms": "ei_zoo.analysis.rsa"},
    __all__)
