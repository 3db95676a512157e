"""The export format (docs/science.md, section 6), in one place: every name that an export
folder, the zoo's index and the analysis agree on.

Pure Python and numpy, so that listing, checking and reading exports needs
neither Keras nor TensorFlow. One folder per trained network, named by its
model id:

    <model_id>/saved_model/       TF SavedModel (`serve`, `activations`)
    <model_id>/model.keras        the Keras model, for fine-tuning
    <model_id>/connectivity.npz   effective signed kernels by pathway
    <model_id>/metadata.json      facts, config, and the sha256 of every file
    <model_id>/history.csv        per-epoch training curves
    <model_id>/README.md          the model card (`ei_zoo.hub.cards`)
    <model_id>/learning_curve.png the card's picture of history.csv, where it has the test curve
    <model_id>/measured/          optional, apart from the export's own files, under its own
                                  manifest (`ei_zoo.hub.measured`): what analysis derived on
                                  the whole test split (perturbation.csv, class_tuning.csv,
                                  drive.csv, response_moments.npz, stage_moments.npz)
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from ei_zoo.network.config import DALE_MODES, cell_type_signs

FORMAT_VERSION = 1
METADATA = "metadata.json"
SAVED_MODEL = "saved_model"
KERAS_MODEL = "model.keras"
CONNECTIVITY = "connectivity.npz"
HISTORY = "history.csv"
MODEL_CARD = "README.md"
LEARNING_CURVE = "learning_curve.png"
MEASURED = "measured"
MEASURED_MANIFEST = "manifest.json"
PERTURBATION = "perturbation.csv"
CLASS_TUNING = "class_tuning.csv"
DRIVE = "drive.csv"
RESPONSE_MOMENTS = "response_moments.npz"
STAGE_MOMENTS = "stage_moments.npz"
# What an export may keep of its measures on the whole test split in `MEASURED` (`ei-zoo
# perturb --save`), so that `ei-zoo reproduce` reads them instead of measuring again.
MEASURED_FILES = (PERTURBATION, CLASS_TUNING, DRIVE, RESPONSE_MOMENTS, STAGE_MOMENTS)
# The kept files by what measures them: `function` (perturbations and class tuning, one pass
# per clamp), `drive` (drive shares), `moments` (response and stage moments).
MEASURE_GROUPS = {"function": (PERTURBATION, CLASS_TUNING), "drive": (DRIVE,),
                  "moments": (RESPONSE_MOMENTS, STAGE_MOMENTS)}
INDEX = "index.json"
# Untrained baselines (each network of the paper's zoo as its recipe left it before the
# first training step) live in this folder inside the zoo's, never beside its networks.
UNTRAINED_DIR = "untrained"
ARCHIVE_SUFFIX = ".tar.gz"


# What every export's metadata.json holds, with its JSON type (`read_metadata` checks).
REQUIRED_FIELDS = {"id": str, "variant": str, "config": dict, "cell_types": dict, "files": dict}
_JSON_TYPES = {str: "string", dict: "JSON object"}

_MODEL_ID = re.compile(r"(?P<variant>[^/\\]+)-s(?P<seed>\d+)")


# What a model id may be: a name, never a path or markup (it names folders and pages).
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def is_model_id(value) -> bool:
    """Whether `value` can be a model id: `MODEL_ID`, with no `..`."""
    return isinstance(value, str) and MODEL_ID.fullmatch(value) is not None and ".." not in value


def model_id(variant: str, seed: int) -> str:
    """The zoo's name of a trained network, `<variant>-s<seed>`."""
    return f"{variant}-s{seed}"


def parse_model_id(text: str) -> tuple[str, int]:
    """(variant, seed) of a model id, or a ValueError naming the expected form."""
    match = _MODEL_ID.fullmatch(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a model id; ids look like 'standard-s0'.")
    return match["variant"], int(match["seed"])


def check_model_reference(value, name: str = "model") -> None:
    """A one-line ValueError unless `value` names one model: an id or an export folder."""
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValueError(
            f"{name} must be a model id such as 'standard-s0' or an export folder, got "
            f"{value!r}.")


def archive_name(identifier: str) -> str:
    """The archive a mirror serves for a model, `<model_id>.tar.gz`."""
    return identifier + ARCHIVE_SUFFIX


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large weights never sit in memory twice."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder: Path, exclude=(METADATA,)) -> dict[str, str]:
    """sha256 of every file below `folder`, by POSIX relative path."""
    return {file.relative_to(folder).as_posix(): sha256_file(file)
            for file in sorted(folder.rglob("*"))
            if file.is_file() and file.relative_to(folder).as_posix() not in exclude}


def is_trained(metadata: dict) -> bool:
    """False for an untrained baseline (`"trained": false` in its metadata)."""
    return metadata.get("trained", True) is not False


def is_export(folder: Path) -> bool:
    return (not folder.name.startswith(".") and (folder / METADATA).is_file()
            and (folder / SAVED_MODEL).is_dir())


def export_folders(exported: str | Path) -> list[Path]:
    """The export folders directly inside `exported`, by name (hidden staging folders skipped)."""
    exported = Path(exported)
    if not exported.is_dir():
        return []
    return sorted(folder for folder in exported.iterdir() if is_export(folder))


def read_metadata(path: str | Path) -> dict:
    """The `metadata.json` of an export folder, or an error naming the folder and the fix."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No export folder at {folder}; pass a folder written by export_model "
            "(e.g. exported/standard-s0) or a model id.")
    if not is_export(folder):
        raise FileNotFoundError(
            f"{folder} is not an ei_zoo export (it needs {METADATA} and {SAVED_MODEL}/); "
            "re-export it with export_model or re-download it.")
    try:
        metadata = json.loads((folder / METADATA).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{folder / METADATA} is damaged ({error}); re-download or re-export "
            f"{folder.name}.") from None
    if not isinstance(metadata, dict):
        raise ValueError(
            f"{folder / METADATA} is not a metadata object; re-download or re-export "
            f"{folder.name}.")
    if "id" in metadata and not is_model_id(metadata["id"]):
        raise ValueError(
            f"{folder / METADATA} gives the id {str(metadata['id'])[:80]!r}, which is not a "
            "model id (letters, digits, '.', '_', '-'; no path); re-download or re-export "
            f"{folder.name}.")
    for field, kind in REQUIRED_FIELDS.items():
        if not isinstance(metadata.get(field), kind):
            found = type(metadata[field]).__name__ if field in metadata else "nothing"
            raise ValueError(
                f"{folder / METADATA}: its field {field!r} must be a {_JSON_TYPES[kind]}, "
                f"found {found}; re-download or re-export {folder.name}.")
    return metadata


def measured_manifest(folder: Path) -> dict | None:
    """An export's `measured/manifest.json` (`ei_zoo.hub.measured`), checked for shape but
    not against the files; None where the export keeps no measures."""
    where = folder / MEASURED
    if not where.exists():
        return None
    path = where / MEASURED_MANIFEST
    fix = f"measure it again with `ei-zoo perturb {folder} --save --overwrite`"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is missing or damaged; {fix}.") from None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if (not isinstance(listed, dict) or not isinstance(manifest.get("metadata_sha256"), str)
            or not all(name in MEASURED_FILES and isinstance(sha, str)
                       for name, sha in listed.items())):
        raise ValueError(f"{path} is not a measured manifest (it needs metadata_sha256 and "
                         f"files of {', '.join(MEASURED_FILES)}); {fix}.")
    return manifest


def unlisted_files(path: str | Path) -> list[str]:
    """The files below an export folder that neither its `metadata.json` nor its measured
    manifest lists, by POSIX relative path, sorted: none in an export as `export_model`
    and `ei_zoo.hub.measured.write_measured` write it."""
    folder = Path(path)
    files = read_metadata(folder).get("files")
    manifest = measured_manifest(folder)
    measured = ((MEASURED_MANIFEST, *manifest["files"]) if manifest else ())
    listed = {METADATA, *(files if isinstance(files, dict) else ()),
              *(f"{MEASURED}/{name}" for name in measured)}
    names = (file.relative_to(folder).as_posix() for file in sorted(folder.rglob("*"))
             if file.is_file())
    return [name for name in names if name not in listed]


def verify_export(path: str | Path) -> None:
    """Raise `ValueError` naming the first listed file that is missing or changed."""
    folder = Path(path)
    metadata = read_metadata(folder)
    files = metadata["files"]
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
    check_consistent(folder, metadata)


def check_consistent(folder: Path, metadata: dict) -> None:
    """Raise a one-line `ValueError` unless an export's metadata agrees with itself and
    with its weights: its id is its folder's name, its variant its config's, each cell
    type's sign the one its Dale mode gives (docs/science.md, section 2), and every
    recurrent pathway's effective weights (`connectivity.npz`) of that sign."""
    path, fix = folder / METADATA, f"re-download or re-export {folder.name}"
    config = metadata["config"]
    if metadata["id"] != folder.name:
        raise ValueError(f"{path} gives the id {metadata['id']!r} to the folder {folder.name}; "
                         f"the folder's name is the id: rename it, or {fix}.")
    if config.get("variant") != metadata["variant"]:
        raise ValueError(f"{path} says variant {metadata['variant']!r} but its config "
                         f"{config.get('variant')!r}; {fix}.")
    dale = config.get("dale")
    if dale not in DALE_MODES:
        raise ValueError(f"{path}: config.dale is {dale!r}, not one of {DALE_MODES}; {fix}.")
    signs = cell_type_signs(dale)
    for area, types in metadata["cell_types"].items():
        for cell_type, entry in (types.items() if isinstance(types, dict) else ()):
            if cell_type in signs and (entry or {}).get("sign") != signs[cell_type]:
                raise ValueError(f"{path}: cell_types.{area}.{cell_type}.sign is "
                                 f"{(entry or {}).get('sign')!r}, but {dale} gives "
                                 f"{signs[cell_type]!r}; {fix}.")
    with np.load(folder / CONNECTIVITY) as weights:
        for key in weights.files:
            source = key.split("/")[-1].split("->")[0]
            if "->" in key and signs.get(source) and (signs[source] * weights[key] < 0).any():
                raise ValueError(f"{folder / CONNECTIVITY}: {key} has weights of the sign "
                                 f"{dale} forbids for {source}; {fix}.")
