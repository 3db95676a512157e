"""Model cards: the README.md of an export, written from its metadata alone.

The card follows the Hugging Face model-card layout (YAML front matter, then
prose), so a mirror or hub shows it as is. It holds no file hashes, so it can
be written before `metadata.json` lists the hashes of every file, itself included.
"""

from __future__ import annotations

import re

from ei_zoo.hub.bundle import (
    CONNECTIVITY,
    HISTORY,
    KERAS_MODEL,
    LEARNING_CURVE,
    SAVED_MODEL,
    is_trained,
)
from ei_zoo.network.config import AREAS, CELL_TYPES

CODE_LICENSE = "MIT"
WEIGHTS_LICENSE = "cc-by-4.0"
PAPER = ("Sun, Li, Moskovitz, Lindsay, Miller, Dipoppa, Yang (2019). Understanding the "
         "functional and structural differences across excitatory and inhibitory neurons. "
         "Conference on Cognitive Computational Neuroscience (CCN).")
BIBTEX = """@inproceedings{sun2019ei,
  title     = {Understanding the functional and structural differences across
               excitatory and inhibitory neurons},
  author    = {Sun, Minni and Li, Ji-An and Moskovitz, Theodore and Lindsay, Grace and
               Miller, Kenneth and Dipoppa, Mario and Yang, Guangyu Robert},
  booktitle = {Conference on Cognitive Computational Neuroscience},
  year      = {2019}
}"""
SIGN_WORDS = {1: "excitatory (+)", -1: "inhibitory (-)", None: "free (no Dale)"}


def _dataset(metadata: dict) -> str:
    """The training data set; the network's input size is CIFAR-10's, the default."""
    return metadata.get("dataset", "cifar10")


def _test_split(metadata: dict) -> str:
    """The split the test accuracy was measured on: `test` or `test[:N]`."""
    return metadata.get("splits", {}).get("test", "test")


def _test_images(metadata: dict) -> str:
    """What the test accuracy was measured on, in words."""
    match = re.fullmatch(r"test\[:(\d+)\]", _test_split(metadata))
    return (f"the first {int(match.group(1)):,} of the 10,000 CIFAR-10 test images" if match
            else "the 10,000 CIFAR-10 test images")


def _front_matter(metadata: dict) -> str:
    accuracy = metadata.get("test_accuracy")
    lines = ["---", f"license: {WEIGHTS_LICENSE}", "library_name: keras", "tags:",
             "- keras", "- neuroscience", "- dale-law", "- convlstm",
             f"- ei-zoo-{metadata['variant']}", "datasets:", f"- {_dataset(metadata)}"]
    if accuracy is not None:
        lines += ["model-index:", f"- name: {metadata['id']}", "  results:",
                  "  - task:", "      type: image-classification",
                  "    dataset:", f"      name: {_dataset(metadata)}",
                  f"      type: {_dataset(metadata)}", f"      split: {_test_split(metadata)}",
                  "    metrics:", "    - type: accuracy", f"      value: {accuracy}"]
    return "\n".join(lines + ["---"])


def _cell_type_rows(metadata: dict) -> list[str]:
    silent = metadata.get("silent_units", {})
    rows = ["| area | cell type | channels | outgoing sign | silent on the test images |",
            "|---|---|---|---|---|"]
    for area in AREAS:
        for cell_type in CELL_TYPES:
            facts = metadata["cell_types"][area][cell_type]
            count = silent.get(area, {}).get(cell_type)
            rows.append(f"| {area} | {cell_type} | {facts['channels']} | "
                        f"{SIGN_WORDS[facts['sign']]} | "
                        f"{'not recorded' if count is None else count} |")
    return rows


def learning_curve_lines(metadata: dict) -> list[str]:
    """The card's Markdown on the learning curve: its picture, or why there is none."""
    if not is_trained(metadata):
        return ["None: this network was never trained."]
    if metadata.get("learning_curve"):
        return [f"![Learning curve]({LEARNING_CURVE})", "",
                f"Training and test loss and accuracy after every epoch (`{HISTORY}`). The "
                "test curve is for looking only: no epoch and no setting was selected on it, "
                "so the test split stays a test split."]
    return [f"Not recorded: this network was trained before ei_zoo measured the test split "
            f"after every epoch. `{HISTORY}` has the training loss and accuracy per epoch."]


def _training(metadata: dict) -> list[str]:
    training, config = metadata.get("training", {}), metadata["config"]
    recipe = metadata.get("recipe_version", "not recorded")
    if not is_trained(metadata):
        return [
            "## Training", "",
            f"- None. The network is ei_zoo recipe version {recipe}'s state before its first "
            f"training step, seed {metadata.get('seed')}: initialised, its biases balanced on "
            f"the first {training.get('balance_images')} training images, "
            f"{metadata.get('precision')}. Trained, it is "
            f"`{metadata.get('trained_counterpart', '?')}`.", "",
        ]
    hardware = metadata.get("hardware", {})
    seconds = metadata.get("training_seconds")
    minutes = "not recorded" if seconds is None else f"{seconds / 60:.0f} min"
    splits = ", ".join(f"{name} split `{split}`"
                       for name, split in sorted(metadata.get("splits", {}).items()))
    return [
        "## Training", "",
        f"- Dataset: {_dataset(metadata)} ({splits}), random crop of the 4-pixel "
        "reflect-padded image and horizontal flip.",
        f"- {metadata.get('epochs')} epochs, batch {training.get('batch_size')}, AdamW "
        f"(peak learning rate {training.get('learning_rate')}, weight decay "
        f"{training.get('weight_decay')}, cosine schedule, "
        f"{training.get('warmup_epochs')}-epoch warm-up), {metadata.get('precision')}, "
        f"seed {metadata.get('seed')}.",
        f"- ei_zoo recipe version {recipe}; silence penalty "
        f"{config.get('silence_penalty', 0.0)} (docs/silent-units.md).",
        f"- Training time: {minutes} on {hardware.get('processor', 'an unrecorded machine')} "
        f"with {hardware.get('cpu_count', '?')} CPUs (other work may have shared them).", "",
    ]


def _how_to_load(identifier: str) -> list[str]:
    return [
        "## How to load it", "",
        "```python",
        "import ei_zoo",
        f'model = ei_zoo.load("{identifier}")                        '
        "# Keras (any backend), for fine-tuning",
        f'served = ei_zoo.load("{identifier}", format="saved_model")  '
        "# TensorFlow SavedModel",
        "logits = served.serve(images)          # raw pixels 0-255, [N, 32, 32, 3]",
        "rates = served.activations(images)     # {'area3/PN': [N, T, H, W, C], ...}",
        "```", "",
        f"Without ei_zoo: `tf.saved_model.load(\"{identifier}/{SAVED_MODEL}\")` gives the "
        f"same `serve` and `activations` endpoints; `{KERAS_MODEL}` loads with "
        f"`keras.saving.load_model` once `ei_zoo` is imported; `{CONNECTIVITY}` holds the "
        "effective signed recurrent kernels by pathway (`area3/PN->g`, ...).", "",
    ]


def model_card(metadata: dict) -> str:
    """The Markdown model card of the export that `metadata` describes."""
    identifier = metadata["id"]
    accuracy = metadata.get("test_accuracy")
    accuracy_text = "not measured" if accuracy is None else f"{100 * accuracy:.2f}%"
    config = metadata["config"]
    lines = [
        _front_matter(metadata), "",
        f"# {identifier}" + ("" if is_trained(metadata) else " (untrained)"), "",
        f"A `{metadata['variant']}` network of the ei_zoo model zoo: a convolutional "
        "recurrent network with excitatory and inhibitory cell types (principal neurons PN, "
        "input-gating IG and output-gating OG neurons) that obeys Dale's law as its variant "
        f"defines it (`dale = {config['dale']}`), "
        + ("trained on CIFAR-10. " if is_trained(metadata) else
           "**untrained**: a baseline for what training changes, not a network to use. ")
        + f"Test accuracy: **{accuracy_text}** on {_test_images(metadata)}.", "",
        "## Intended use", "",
        "Research in computational neuroscience: comparing the selectivity and connectivity "
        "of excitatory and inhibitory model neurons (`ei-zoo analyze`), and a starting "
        "point for fine-tuning E/I networks. It is not an image classifier for "
        "applications: 32x32 CIFAR-10 classes only, at the accuracy above.", "",
        *_training(metadata),
        "## Learning curve", "",
        *learning_curve_lines(metadata), "",
        "## Cell types", "",
        *_cell_type_rows(metadata), "",
        "A neuron is silent when its response (last step, spatial mean) does not vary "
        "over the test images; the analysis reports such neurons and leaves them out of "
        "its means.", "",
        *_how_to_load(identifier),
        "## Limitations", "",
        "- One seed of one variant: compare variants over the zoo's seeds, not one network.",
        "- Weights agree with a retraining only to rounding: oneDNN kernels and "
        "bfloat16 rounding differ between CPUs.",
        "- Trained and tested on CIFAR-10 only.", "",
        "## Licence", "",
        f"Weights: CC BY 4.0 (`{WEIGHTS_LICENSE}`). Code: {CODE_LICENSE}.", "",
        "## Citation", "",
        PAPER, "",
        "```bibtex", BIBTEX, "```", "",
    ]
    return "\n".join(lines)
