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
# # The paper's claims, from `reproduce`
#
# `reproduce` (the command line's `ei-zoo reproduce`) measures every network of the
# paper's zoo in `exported/` and judges the paper's six claims (C1-C6) on them. Every
# export keeps its response moments, so nothing has to stream 10,000 images per network
# again: the run takes about a minute and a half.

# %% tags=["remove-cell"]
# Quiets TensorFlow's log notices and retracing warnings on this page (hidden on the site).
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown

from ei_zoo.paper.reproduce import reproduce

out = reproduce(out=Path(tempfile.mkdtemp(prefix="ei_zoo_results_")) / "results",
                verbose=False)
sorted(path.name for path in out.iterdir())

# %% [markdown]
# ## The verdicts
#
# Each claim is judged by effect size: a difference between two groups of neurons,
# averaged over networks, with a 95% hierarchical bootstrap interval (networks, then
# neurons) against a margin of practical equivalence. Labels: *holds*, *does not hold*,
# *no difference*, *mixed*, *not measurable*. `sensitivity.csv` holds each verdict under
# every choice of measure; its first column is the default.

# %%
verdicts = pd.read_csv(out / "sensitivity.csv")
verdicts.iloc[:, [0, 1, -1]]

# %% [markdown]
# ## Where a number comes from
#
# `table.csv` has one row per network, area and cell type. C1 says that in `standard`
# networks PN are more selective than IG and OG. Area 4 at seed 0-2:

# %%
table = pd.read_csv(out / "table.csv")
standard = table[(table["variant"] == "standard") & (table["area"] == "area4")]
standard.pivot_table(index="model", columns="cell_type", values="selectivity").round(2)

# %% [markdown]
# The OG's rates are more skewed than the PN's in every seed, which is why C1 does not
# hold in area 4. `claims.md` gives each comparison's effect and interval:

# %%
claims = (out / "claims.md").read_text()
Markdown(claims.split("\n## ")[0])

# %% [markdown]
# Which populations matter: accuracy lost when each population is clamped to its mean.

# %%
Image(filename=str(out / "figures" / "fig_perturbation.png"), width=700)

# %% [markdown]
# `ei-zoo reproduce --out results --check docs/results` compares a run with the committed
# results number by number.
