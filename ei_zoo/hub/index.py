"""The zoo's index: which trained networks a folder of exports holds.

`exported/index.json` (docs/science.md, section 6) lists every export of its folder with
the sha256 of each of its files, all of them stable across machines, so the
committed index changes only when a model does. A mirror's index (`ei_zoo.hub.zoo.pack`)
adds each model's archive, its size and sha256 (gzip's bytes depend on the
zlib build, so those live only with the archives they describe).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import warnings
from pathlib import Path

import filelock
import pandas as pd

from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    FORMAT_VERSION,
    INDEX,
    METADATA,
    check_model_reference,
    export_folders,
    file_hashes,
    is_model_id,
    read_metadata,
    sha256_file,
    verify_export,
)
from ei_zoo.hub.measured import read_measured

INDEX_COLUMNS = ("id", "variant", "seed", "epochs", "test_accuracy", "bytes", "design_change")
# Taken by `write_index(..., shared=True)`; the operating system drops it when its holder ends.
INDEX_LOCK = ".index.lock"


def exported_dir() -> Path:
    """The folder of exported models: `$EI_ZOO_EXPORTED`, `./exported`, or the repo's."""
    if os.environ.get("EI_ZOO_EXPORTED"):
        return Path(os.environ["EI_ZOO_EXPORTED"])
    local = Path("exported")
    if local.is_dir():
        return local
    repository = Path(__file__).resolve().parents[2] / "exported"  # editable install
    return repository if repository.is_dir() else local


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where downloaded models live: `cache_dir`, else `$KERAS_HOME/ei_zoo` (~/.keras)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "ei_zoo"


# The kind of staging folder a download writes into the cache (`ei_zoo.hub.files.staging_folder`).
DOWNLOAD = "download"


def find_local(model_id_or_path: str | Path, cache_dir: str | Path | None = None,
               need_mirror: bool = False) -> Path | None:
    """A model's verified export folder on this machine: a path, `exported_dir()/<id>`
    or the download cache; None when it is in neither.

    With `need_mirror` (no mirror to download from), a model found nowhere is
    a FileNotFoundError that suggests the closest ids and names the fix.
    """
    check_model_reference(model_id_or_path)
    candidate = Path(model_id_or_path)
    if candidate.is_file():
        raise FileNotFoundError(
            f"{candidate} is a file, not an export folder; pass a model id such as "
            "'standard-s0' or the folder of an export.")
    if candidate.is_dir():
        verify_listed(candidate)  # a clear error if it is not an export, or is damaged
        return candidate
    identifier = str(model_id_or_path)
    places = [exported_dir() / identifier, cache_root(cache_dir) / identifier]
    if places[1].parent.is_dir():
        files.clean_abandoned(places[1], DOWNLOAD)  # a download killed between its renames
    for folder in places:
        if folder.is_dir():
            verify_listed(folder)
            return folder
    if not need_mirror:
        return None
    known = sorted({folder.name for place in places for folder in export_folders(place.parent)})
    closest = difflib.get_close_matches(identifier, known, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(closest)}?)" if closest else ""
    raise FileNotFoundError(
        f"No model {identifier!r} in {' or '.join(str(place.parent) for place in places)}"
        f"{hint}; pass mirror=URL (--mirror) or set EI_ZOO_MIRROR to download it.")


def verify_listed(folder: Path) -> None:
    """`verify_export`, and where the folder beside the export has an `index.json` that
    lists it, its `metadata.json` checked against the sha256 that index records (so a
    metadata.json changed together with its own hashes is found). Raises a one-line
    ValueError naming the file and the fix."""
    verify_export(folder)
    path = folder.parent / INDEX
    if not path.is_file():
        return
    fix = "re-download or re-export it, or run `ei-zoo index` if you changed it on purpose"
    for entry in read_index(path):
        listed = entry.get("files")
        if entry["id"] == folder.name and isinstance(listed, dict) and \
                listed.get(METADATA) != sha256_file(folder / METADATA):
            raise ValueError(f"{folder / METADATA} does not match its sha256 in {path}; {fix}.")


def shipped_files(model_id: str) -> dict[str, str] | None:
    """The sha256 of every file of `model_id` as the zoo on this machine ships it:
    `exported_dir()/index.json`'s entry (a download must match it file by file); None
    where that index does not list the id, or does not exist."""
    path = exported_dir() / INDEX
    if not path.is_file():
        return None
    for entry in read_index(path):
        if entry["id"] == model_id:
            hashes = entry.get("files")
            if not isinstance(hashes, dict) or not hashes:
                raise ValueError(f"{path} lists no files for {model_id}; regenerate it with "
                                 "`ei-zoo index`.")
            return hashes
    return None


def design_change(metadata: dict) -> str | None:
    """The design study's change of an export (`ei_zoo.paper.study`); None for the paper's zoo
    and users' own networks."""
    return (metadata.get("design_change") or {}).get("name")


def index_entry(folder: Path) -> dict:
    """What the index says of one export: facts from its metadata and its files' sha256."""
    verify_export(folder)  # a damaged export is never listed
    read_measured(folder)  # nor one whose kept measures do not verify
    metadata = read_metadata(folder)
    if metadata.get("id", folder.name) != folder.name:
        raise ValueError(
            f"{folder} holds model {metadata['id']!r}; the folder name must be its id.")
    hashes = file_hashes(folder, exclude=())
    return {
        "id": folder.name,
        "variant": metadata.get("variant"),
        "seed": metadata.get("seed"),
        "epochs": metadata.get("epochs"),
        "test_accuracy": metadata.get("test_accuracy"),
        "bytes": sum((folder / name).stat().st_size for name in hashes),
        "design_change": design_change(metadata),
        "files": hashes,
    }


def write_index(exported: str | Path, shared: bool = False) -> Path:
    """Write `<exported>/index.json` for the exports in that folder, atomically.

    An export that does not verify (a file changed or missing, kept measures that
    do not match) is left out with a one-line warning naming it and the fix: one
    damaged network never stops another's export, nor the index of the rest.

    Args:
        exported: the folder of exports.
        shared: other processes may change exports of the folder meanwhile (the
            tasks of `ei-zoo perturb --zoo --save --shard`): the exports are then
            read and the index written under a lock on `<exported>/.index.lock`
            (left in place), one writer after the other, so that the last one
            lists every change.

    Returns:
        The index's path.
    """
    exported = Path(exported)
    if not exported.is_dir():
        raise FileNotFoundError(
            f"{exported} is not a folder of exports; run this beside exported/ (the "
            "repository's root) or pass --exported DIR.")
    path = exported / INDEX
    with (filelock.FileLock(exported / INDEX_LOCK, thread_local=False) if shared
          else contextlib.nullcontext()):
        models = [entry for entry in map(_entry_or_warning, export_folders(exported)) if entry]
        files.write_json(path, {"format_version": FORMAT_VERSION, "models": models})
    return path


def _entry_or_warning(folder: Path) -> dict | None:
    """`index_entry`, or None with a warning where the export does not verify."""
    try:
        return index_entry(folder)
    except ValueError as error:
        warnings.warn(f"{folder} is left out of {INDEX}: {error}", stacklevel=3)
        return None


def parse_index(text: str | bytes, source: str, fix: str) -> list[dict]:
    """The model entries of an index's JSON text, or a ValueError naming `source` and `fix`.

    The one reader of `index.json`, for a local file (`read_index`) and a mirror's.
    """
    try:
        models = json.loads(text)["models"]
        if not isinstance(models, list):
            raise TypeError("models is not a list")
        for entry in models:
            if not isinstance(entry, dict) or not is_model_id(entry.get("id")):
                raise TypeError(f"an entry {str(entry)[:60]} has no model id")
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{source} is not a model zoo index ({error}); {fix}.") from None
    return models


def read_index(path: str | Path) -> list[dict]:
    """The model entries of an index file, or a ValueError naming the file and the fix."""
    path = Path(path)
    return parse_index(path.read_text(), str(path), "regenerate it with `ei-zoo index`")


def list_models(exported: str | Path | None = None,
                cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per model that `load` finds without a mirror: those of
    `<exported>/index.json` (or, where that folder has no index, its exports), then the
    downloaded ones of the cache that are not among them; `where` says which (empty,
    same columns, if there is none).

    Models without an index entry are read from their metadata alone (no sha256 check,
    which `load` does), so listing stays fast.
    """
    for value, name in ((exported, "exported"), (cache_dir, "cache_dir")):
        if value is not None and not isinstance(value, (str, Path)):
            raise ValueError(f"{name} must be a folder path, got {value!r}.")
    folder = Path(exported) if exported is not None else exported_dir()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of exports; pass --exported DIR (a folder "
                         "holding index.json), e.g. ./exported.")
    index = folder / INDEX
    if index.is_file():
        models = [{**entry, "where": "exported"} for entry in read_index(index)]
    else:
        models = _unindexed(export_folders(folder), "exported", set())
    models += _unindexed(export_folders(cache_root(cache_dir)), "cache",
                         {entry.get("id") for entry in models})
    models.sort(key=lambda entry: natural_key(str(entry.get("id"))))
    return pd.DataFrame(models, columns=[*INDEX_COLUMNS, "files", "where"])


def _unindexed(folders, where: str, listed: set) -> list[dict]:
    """List rows of exports no index lists, from their metadata; damaged ones left out
    (`load` says what is wrong with them)."""
    rows = []
    for folder in folders:
        if folder.name in listed:
            continue
        try:
            metadata = read_metadata(folder)
        except ValueError:
            continue
        rows.append({
            "id": folder.name, **{key: metadata.get(key) for key in INDEX_COLUMNS[1:5]},
            "bytes": sum(file.stat().st_size for file in folder.rglob("*") if file.is_file()),
            "design_change": design_change(metadata), "files": None, "where": where})
    return rows


def natural_key(text: str) -> list:
    """Sort key that orders the numbers in a name by value: ratio_1_2 before ratio_1_16."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
