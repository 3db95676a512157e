"""Write a trained network in the export format of SPEC section 6, and check one.

An export folder is a contract: users load `saved_model/` without ei_zoo, the
analysis reads `connectivity.npz` and `metadata.json`, and the zoo ships the
folder as an archive. So an export is written atomically (a crash never leaves
a half-written folder nor damages the previous version) and lists the sha256
of every file, which `verify_export` checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import tempfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ei_zoo import __version__
from ei_zoo.models import (
    CELL_TYPES,
    RECURRENT_AREAS,
    activation_model,
    effective_weights,
    network_config,
)

FORMAT_VERSION = 1
METADATA = "metadata.json"
SAVED_MODEL = "saved_model"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large weights never sit in memory twice."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_model(model: keras.Model, path: str | Path, metadata: dict | None = None,
                 history=None) -> Path:
    """Write `model` as an export folder at `path` (SPEC section 6) and return it.

    Args:
        model: a network made by `build_model` (trained).
        path: the folder to write, e.g. `exported/standard-s0`; its name is the
            default model id. An existing export there is replaced atomically.
        metadata: training facts (seed, epochs, dataset, splits, test accuracy,
            hardware, ...), merged over what the export derives from the model
            (id, variant, config, cell types, versions); `format_version` and
            `files` are always the export's own.
        history: per-epoch curves: a DataFrame, a dict of lists (as in
            `keras.callbacks.History.history`), a `History`, or a CSV path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = pretrained(model)
    staging = staging_folder(target)
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would make the export private to its writer
        _write_saved_model(model, staging / SAVED_MODEL)
        model.save(staging / "model.keras")
        np.savez(staging / "connectivity.npz", **effective_weights(model))
        if history is not None:
            _history_frame(history).to_csv(staging / "history.csv", index=False)
        values = {**_derived_metadata(model, target.name), **(metadata or {})}
        values["format_version"] = FORMAT_VERSION
        values["files"] = {
            file.relative_to(staging).as_posix(): sha256_file(file)
            for file in sorted(staging.rglob("*")) if file.is_file()
        }
        (staging / METADATA).write_text(
            json.dumps(values, indent=2, sort_keys=True, default=_json_value) + "\n")
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def pretrained(model: keras.Model) -> keras.Model:
    """A copy of `model` with its weights and without its optimizer.

    What a pretrained network needs: AdamW's two moments would double
    `model.keras` and travel into the SavedModel's variables too. The run
    folder keeps them for resuming; fine-tuning compiles a fresh optimizer.
    """
    copy = keras.Model.from_config(model.get_config())  # clone_model would compile it
    copy.set_weights(model.get_weights())
    return copy


def _write_saved_model(model: keras.Model, folder: Path) -> None:
    """SavedModel with the `serve` and `activations` endpoints, batch norm in inference mode.

    The endpoints' argument is named `images`, so the signatures (used by TF
    Serving and `loaded.signatures[...]`) take `images=` too.
    """
    activations = activation_model(model)
    spec = [keras.InputSpec(shape=(None, *model.input.shape[1:]), dtype="float32")]
    archive = keras.export.ExportArchive()
    archive.add_endpoint("serve", lambda images: model(images, training=False),
                         input_signature=spec)
    archive.add_endpoint("activations", lambda images: activations(images, training=False),
                         input_signature=spec)
    archive.write_out(folder, verbose=False)


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
        for area in RECURRENT_AREAS
    }


def _derived_metadata(model: keras.Model, model_id: str) -> dict:
    config = network_config(model)
    return {
        "id": model_id,
        "variant": config.variant,
        "config": config.to_dict(),
        "cell_types": cell_type_table(config),
        "versions": {
            "ei_zoo": __version__,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
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


def staging_folder(target: Path, kind: str = "tmp") -> Path:
    """A new hidden folder beside `target`, to be written and then renamed into place.

    Its name, `.<name>.<kind>-<host>.<pid>.<random>`, records the writer, so
    that folders left by a writer that was killed (SIGKILL, power cut) are
    recognised: they are removed here, and a previous version that such a
    writer had moved aside (`....old`, see `replace_folder`) is put back if
    `target` is missing. A live writer's folders are left alone.
    """
    prefix = f".{target.name}.{kind}-"
    for folder in sorted(target.parent.glob(prefix + "*")):
        if not _abandoned(folder.name[len(prefix):].removesuffix(".old")):
            continue
        if folder.name.endswith(".old") and not target.exists():
            folder.rename(target)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    writer = f"{socket.gethostname()}.{os.getpid()}."
    return Path(tempfile.mkdtemp(prefix=prefix + writer, dir=target.parent))


def _abandoned(writer: str) -> bool:
    """Whether `<host>.<pid>.<random>` names a process of this host that has ended."""
    host, pid, _ = (writer.rsplit(".", 2) + ["", ""])[:3]
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's, or not ours to judge: keep it
    try:
        os.kill(int(pid), 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists
        return False
    return False


def replace_folder(new: Path, target: Path) -> None:
    """Move the finished folder `new` to `target`, replacing any previous version.

    `new` must sit beside `target` (same file system), so every step is a
    rename. The old version is renamed aside before the new one moves in and
    is only deleted after, so a failure leaves it in place.
    """
    if not target.exists():
        new.rename(target)
        return
    old = new.with_name(new.name + ".old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old)


def read_metadata(path: str | Path) -> dict:
    """The `metadata.json` of an export folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No export folder at {folder}; pass a folder written by export_model "
            "(e.g. exported/standard-s0) or a model id.")
    if not (folder / METADATA).is_file() or not (folder / SAVED_MODEL).is_dir():
        raise FileNotFoundError(
            f"{folder} is not an ei_zoo export (it needs {METADATA} and {SAVED_MODEL}/); "
            "re-export it with export_model or re-download it.")
    return json.loads((folder / METADATA).read_text())


def verify_export(path: str | Path) -> None:
    """Raise `ValueError` naming the first listed file that is missing or changed."""
    folder = Path(path)
    files = read_metadata(folder).get("files")
    if not files:
        raise ValueError(
            f"{folder / METADATA} lists no files to verify; re-download or re-export it.")
    for name, expected in sorted(files.items()):
        file = folder / name
        if not file.is_file():
            raise ValueError(f"{file} is missing from the export; re-download or re-export it.")
        if sha256_file(file) != expected:
            raise ValueError(
                f"{file} does not match its sha256 in {METADATA}; re-download or re-export it.")
