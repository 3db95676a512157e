# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The cell types of a pretrained network
#
# `standard-s0` has, in each of its two recurrent areas, excitatory principal neurons (PN)
# and two inhibitory interneuron types: input-gating (IG) and output-gating (OG) neurons.
# This tutorial looks at what each type does: its rates, how selective it is, what the
# network loses without it, how its representation compares, and its neurons in the
# explorer. 1,000 test images keep it to about a minute; the shipped results use 10,000.

# %% tags=["remove-cell"]
# Quiets TensorFlow's log notices and retracing warnings on this page (hidden on the site).
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

# %%
import matplotlib.pyplot as plt

import ei_zoo
from ei_zoo import analysis

model = ei_zoo.load("standard-s0")
images, labels = ei_zoo.test_images(1000)

# %% [markdown]
# ## Rates
#
# `analysis.extract` gives each population by name (`<area>.<cell type>.t<step>`) as a
# labelled `xarray.DataArray`, averaged over positions: one value per image and neuron.

# %%
names = [f"{area}.{cell}.t3" for area in ("area3", "area4") for cell in ("PN", "IG", "OG")]
arrays = analysis.extract(model, images, names)
fig, axes = plt.subplots(2, 3, figsize=(10, 5), sharey=True, constrained_layout=True)
for ax, name in zip(axes.flat, names):
    values = arrays[name].values.ravel()
    ax.hist(values, bins=40, log=True, color="tab:red" if ".PN." in name else "tab:blue")
    ax.set(title=name, xlabel="rate (spatial mean, last step)")
for ax in axes[:, 0]:
    ax.set_ylabel("neurons x images (log)")
plt.show()

# %% [markdown]
# ## Selectivity and connection density
#
# Selectivity is the skewness of a neuron's responses over images (a neuron that answers
# few images strongly is skewed), averaged over its population; density is the share of
# a population's outgoing weights above the network's threshold θ. `selectivity_state`
# and `selectivity_drive` measure PN and interneurons at matched stages (the PN cell
# state and every population's pre-nonlinearity drive), where the rate compares them
# through different output nonlinearities.

# %%
table = analysis.analyze("standard-s0", num_images=1000)
table[["area", "cell_type", "selectivity", "selectivity_state", "selectivity_drive", "density"]]

# %% [markdown]
# ## What each population does
#
# `analysis.perturb` clamps one population at a time and measures the accuracy lost:
# `zero` silences it, `mean` replaces each neuron's rate by its mean over images and
# steps (its information and its time course removed, its average drive kept),
# `step_mean` by its mean over images at each step (only its information removed).
# `analysis.population_summary` gives the points each clamp costs, the paired 95%
# interval of the per-step clamp's and the label it gives: functional (the interval
# above 1 point), not functional (below) or indeterminate (across). On 1,000 images the
# intervals are about three times as wide as on the whole test split.

# %%
perturbation, tuning = analysis.perturb("standard-s0", num_images=1000, verbose=False)
summary = analysis.population_summary(perturbation, tuning)
summary.drop(columns=["class_variance_fraction", "class_selectivity_index"]).round(1)

# %% [markdown]
# ## Representations
#
# `analysis.rdms` builds one representational dissimilarity matrix (RDM, 1 - correlation
# over a population's neurons between two images' responses) per population and step;
# `compare_rdms` compares them. Here: how alike the three cell types of area 4 represent
# 300 images, at the last step.

# %%
found = analysis.rdms(["standard-s0"], ["area4.PN", "area4.IG", "area4.OG"],
                      images=images[:300], steps=[3])
analysis.compare_rdms(found).round(2)

# %% [markdown]
# ## The explorer
#
# `ei-zoo explore` (or `ei_zoo.analysis.explore.explore`) writes a static site with a
# page per population and a card per neuron: its top images with their responses, the
# histogram of its responses, its mean response to each class. Open its `index.html` in
# a browser; here, its overview of the populations (300 images keep it quick):

# %%
import tempfile

from IPython.display import Image

from ei_zoo.analysis.explore import explore

site = explore("standard-s0", tempfile.mkdtemp(prefix="ei_zoo_explorer_") + "/standard-s0",
               num_images=300)
print(sorted(path.name for path in site.glob("*.html")))
Image(filename=str(site / "populations.png"), width=700)
