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
# # Quickstart
#
# Load a pretrained network of the zoo, classify CIFAR-10 test images with it, read the
# rates of its three cell types and measure how selective each is. Run it from the
# repository's root (beside `exported/`), with `TFDS_DATA_DIR` naming a prepared TFDS
# folder that holds `cifar10` (`../shared/tensorflow_datasets` in this project's CI).

# %% tags=["remove-cell"]
# Quiets TensorFlow's log notices and retracing warnings on this page (hidden on the site).
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

# %%
import ei_zoo

ei_zoo.list_models()[["id", "variant", "seed", "test_accuracy"]].head()

# %% [markdown]
# `standard-s0` is the paper's standard network at seed 0: excitatory principal neurons
# (PN) and two inhibitory interneuron types that gate their input (IG) and their output
# (OG), in two recurrent areas run for 4 time steps. `ei_zoo.load` returns a Keras model.

# %%
model = ei_zoo.load("standard-s0")
images, labels = ei_zoo.test_images(500)  # the first 500 test images, pixels 0-255
logits = model.predict(images, verbose=0)
print(f"accuracy on {len(images)} test images: {(logits.argmax(-1) == labels).mean():.1%}")

# %% [markdown]
# The rates of every population at every step come from `ei_zoo.activation_model`:
# a dict keyed `area/cell type`, each `[images, steps, y, x, neurons]`.

# %%
rates = ei_zoo.activation_model(model).predict(images[:100], verbose=0)
for name, value in rates.items():
    print(f"{name:9s} {value.shape}  mean rate {value.mean():.3f}")

# %% [markdown]
# `ei_zoo.analysis.extract` names populations as `<area>.<cell type>[.t<step>]` and returns
# labelled `xarray` arrays (here averaged over positions):

# %%
from ei_zoo import analysis

arrays = analysis.extract(model, images, ["area4.PN.t3", "area4.OG.t3"])
arrays["area4.OG.t3"]

# %% [markdown]
# One measure: selectivity (the skewness of each neuron's responses over images, averaged
# over a population) and connection density per area and cell type. 500 images keep this
# quick; the paper's figures use all 10,000.

# %%
table = analysis.analyze("standard-s0", num_images=500)
table[["area", "cell_type", "selectivity", "density"]]
