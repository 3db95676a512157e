"""Write a trained network in the export format of docs/science.md, section 6.

`ei_zoo.hub.bundle` reads an export and checks it.

An export folder is a contract: users load `saved_model/` without ei_zoo, the
analysis reads `connectivity.npz` and `metadata.json`, and the zoo ships the
folder as an archive. So an export is written atomically (a crash never leaves
a half-written folder nor damages the previous version) and lists the sha256
of every file, which `ei_zoo.hub.bundle.verify_export` checks.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    CONNECTIVITY,
    FORMAT_VERSION,
    HISTORY,
    KERAS_MODEL,
    LEARNING_CURVE,
    METADATA,
    MODEL_CARD,
    SAVED_MODEL,
    file_hashes,
)
from ei_zoo.hub.cards import model_card
from ei_zoo.network.config import AREAS, CELL_TYPES
from ei_zoo.network.models import activation_model, check_network, effective_weights
from ei_zoo.optional import tensorflow
from ei_zoo.version import __version__


def export_model(model: keras.Model, path: str | Path, metadata: dict | None = None,
                 history=None) -> Path:
    """Write `model` as an export folder at `path` (docs/science.md, section 6) and return it.

    Args:
        model: a network made by `build_model` (trained).
        path: the folder to write, e.g. `exported/standard-s0`; its name is the
            default model id. Whatever is there is replaced atomically
            (`ei_zoo.training.recipe.check_replaceable` says what a run may replace).
        metadata: training facts (seed, epochs, dataset, splits, test accuracy,
            hardware, ...), merged over what the export derives from the model
            (id, variant, config, cell types, versions); `format_version` and
            `files` are always the export's own.
        history: per-epoch curves: a DataFrame, a dict of lists (as in
            `keras.callbacks.History.history`), a `History`, or a CSV path.
    """
    target = Path(path)
    model = pretrained(model)
    with files.staging(target) as staging:
        staging.chmod(0o755)  # mkdtemp's 0700 would make the export private to its writer
        model.save(staging / KERAS_MODEL)
        _write_saved_model(model, staging / SAVED_MODEL, staging / KERAS_MODEL)
        np.savez(staging / CONNECTIVITY, **effective_weights(model))
        if history is not None:
            _history_frame(history).to_csv(staging / HISTORY, index=False)
        values = {**_derived_metadata(model, target.name), **(metadata or {})}
        values["format_version"] = FORMAT_VERSION
        _write_card(staging, values)
        _write_metadata(staging, values)
        files.replace_folder(staging, target)
    return target


def _write_metadata(folder: Path, values: dict) -> None:
    """`metadata.json` with the sha256 of every other file of the folder, written last."""
    values = {**values, "files": file_hashes(folder)}
    files.write_text(folder / METADATA,
                     json.dumps(values, indent=2, sort_keys=True, default=_json_value) + "\n")


def _write_card(folder: Path, metadata: dict) -> None:
    """The model card, and its learning-curve picture where the history has a test curve."""
    if metadata.get("learning_curve") and (folder / HISTORY).is_file():
        figure = learning_curve_figure(pd.read_csv(folder / HISTORY), metadata["id"])
        figure.savefig(folder / LEARNING_CURVE, dpi=100, metadata={"Software": None})
    files.write_text(folder / MODEL_CARD, model_card(metadata))


def learning_curve_figure(history: pd.DataFrame, title: str):
    """Loss and accuracy per epoch, on the training batches and on the test split."""
    figure = Figure(figsize=(8, 3))  # no pyplot: no global figure state, no GUI backend
    axes = figure.subplots(1, 2)
    epochs = history["epoch"] + 1
    for axis, measure in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history[measure], label="training (running mean over the epoch)")
        axis.plot(epochs, history[f"test_{measure}"], label="test split, after the epoch")
        axis.set_xlabel("epoch")
        axis.set_ylabel(measure)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def pretrained(model: keras.Model) -> keras.Model:
    """A copy of `model` with its weights and without its optimizer.

    What a pretrained network needs: AdamW's two moments would double
    `model.keras` and travel into the SavedModel's variables too. The run
    folder keeps them for resuming; fine-tuning compiles a fresh optimizer.
    """
    copy = type(model).from_config(model.get_config())  # clone_model would compile it
    copy.set_weights(model.get_weights())
    return copy


# The SavedModel's endpoints: logits, and every population's rates by "area/cell type".
ENDPOINTS = ("serve", "activations")


def _write_saved_model(model: keras.Model, folder: Path, keras_file: Path) -> None:
    """SavedModel with the `serve` and `activations` endpoints, batch norm in inference mode.

    The endpoints' argument is named `images`, so the signatures (used by TF
    Serving and `loaded.signatures[...]`) take `images=` too. The loaded
    object lists the weights as `variables`, `trainable_variables` and
    `non_trainable_variables`, each stored once: these collections hold the
    very `tf.Variable`s the endpoints capture. (`ExportArchive.track(model)`
    would list the Keras wrappers instead, which TensorFlow's checkpoint
    cannot tell are the same weights, and so writes every weight twice:
    keras-team/keras#23553.) Under another
    Keras backend, `keras_file` (the model's `.keras`) is reloaded under
    TensorFlow in a child process, which writes the SavedModel: Keras's JAX
    export would wrap one opaque XLA module compiled for this machine's
    platform only (a CPU-made export fails on a GPU), and its loading warns of
    custom gradients; this way every export holds the same TensorFlow graph
    whatever backend trained it.
    """
    tensorflow("Writing a SavedModel")  # ExportArchive writes through TensorFlow
    if keras.backend.backend() != "tensorflow":
        _write_saved_model_under_tensorflow(keras_file, folder)
        return
    spec = [keras.InputSpec(shape=(None, *model.input.shape[1:]), dtype="float32")]
    archive = keras.export.ExportArchive()
    for name, network in zip(ENDPOINTS, (model, activation_model(model))):
        archive.add_endpoint(name, _inference(network), input_signature=spec)
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        archive.add_variable_collection(name, [variable.value
                                               for variable in getattr(model, name)])
    archive.write_out(folder, verbose=False)


def _inference(network: keras.Model):
    """`network` in inference mode, as a function of `images` alone (the endpoint's argument)."""
    return lambda images: network(images, training=False)


def _write_saved_model_under_tensorflow(keras_file: Path, folder: Path) -> None:
    """Run `python -m ei_zoo.hub.export KERAS_FILE FOLDER` with KERAS_BACKEND=tensorflow."""
    package_root = str(Path(__file__).resolve().parents[1])  # the child runs this ei_zoo
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "ei_zoo.hub.export", str(keras_file), str(folder)],
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": path},
        capture_output=True, text=True)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"Writing the SavedModel under TensorFlow failed: {last}")


def _history_frame(history) -> pd.DataFrame:
    """Training curves as one row per epoch, with an `epoch` column counting from 0."""
    if isinstance(history, (str, os.PathLike)):
        if not Path(history).is_file():
            raise FileNotFoundError(f"No history CSV at {history}; pass an existing file.")
        frame = pd.read_csv(history)
    elif isinstance(history, keras.callbacks.History):
        frame = pd.DataFrame(history.history)
    else:
        frame = pd.DataFrame(history)
    frame = frame.drop(columns="epoch", errors="ignore").reset_index(drop=True)
    frame.insert(0, "epoch", range(len(frame)))
    return frame


def cell_type_table(config) -> dict:
    """Area -> cell type -> {channels, sign}; sign None (JSON null) means free."""
    channels = {"PN": config.principal, "IG": config.input_gating, "OG": config.output_gating}
    return {
        area: {cell_type: {"channels": channels[cell_type], "sign": config.signs[cell_type]}
               for cell_type in CELL_TYPES}
        for area in AREAS
    }


def _derived_metadata(model: keras.Model, model_id: str) -> dict:
    check_network(model)
    config = model.network_config
    return {
        "id": model_id,
        "variant": config.variant,
        "config": config.to_dict(),
        "cell_types": cell_type_table(config),
        "versions": {
            "ei_zoo": __version__,
            "keras": keras.__version__,
            "tensorflow": tensorflow("Exporting").__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _json_value(value):
    """JSON form of the numpy numbers and paths that training code tends to pass."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON")


if __name__ == "__main__":  # the child of `_write_saved_model_under_tensorflow`
    keras_file, saved_model = sys.argv[1:]
    _write_saved_model(keras.saving.load_model(keras_file), Path(saved_model), Path(keras_file))
