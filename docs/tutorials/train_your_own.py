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
# # Train your own variant and compare it with the zoo
#
# Register a variant of the network, train it with the zoo's recipe, export it, and
# measure it beside a pretrained network. The training here is one epoch on 1,024 images,
# so that the page builds in about a minute: enough to see the workflow, far too little
# for a network worth analysing (the zoo's networks train 30 epochs on all 50,000 images,
# about 40 minutes each on a 2-core CPU and a few on a GPU).

# %% tags=["remove-cell"]
# Quiets TensorFlow's log notices and retracing warnings on this page (hidden on the site).
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)

# %%
import tempfile
from pathlib import Path

import ei_zoo
from ei_zoo import analysis
from ei_zoo.training.recipe import train_and_export
from ei_zoo.training.settings import TrainingConfig

work = Path(tempfile.mkdtemp(prefix="ei_zoo_tutorial_"))  # nothing is written beside exported/

# %% [markdown]
# A variant is a `NetworkConfig`: every setting of the network, with a name. Here the
# standard network with twice as many output-gating interneurons per area.

# %%
base = ei_zoo.get_config("standard")
print(base.principal, base.input_gating, base.output_gating)
ei_zoo.register_variant("standard_og32", "standard", output_gating=32)
model = ei_zoo.create_model("standard_og32")
print(model.count_params(), "parameters")

# %% [markdown]
# `train_and_export` is the zoo's recipe (the same as `ei-zoo train`): it balances the
# biases, trains with AdamW and a warm-up, checkpoints every epoch (a crashed run resumes
# where it stopped), evaluates and exports the network (Keras file, SavedModel,
# metadata, model card) to `out/<variant>-s<seed>`.

# %%
config = TrainingConfig(epochs=1, limit=1024, test_limit=500, precision="float32")
export = train_and_export("standard_og32", config, out=work / "my_zoo",
                          work_dir=work / "runs", verbose=2)
sorted(path.name for path in export.iterdir())

# %% [markdown]
# The export loads like a zoo network, by its folder:

# %%
mine = ei_zoo.load(export)
metadata = ei_zoo.read_metadata(export)
print(metadata["id"], f"test accuracy {metadata['test_accuracy']:.1%} after one short epoch")

# %% [markdown]
# Measured beside the zoo's `standard-s0` on the same 500 test images, with the zoo's
# connection threshold θ (taken from `standard-s0`, so densities compare). After one short
# epoch the new network's weights still lie below the zoo's θ, so its densities read 0:
# train it for the recipe's 30 epochs before reading anything into its numbers.

# %%
table = analysis.compare([export, "standard-s0"], num_images=500, reference="standard-s0")
table[["model", "area", "cell_type", "selectivity", "density"]]
