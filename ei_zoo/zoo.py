"""The model zoo: list, pack, download and load exported networks by id.

A mirror (any static file server, or a local folder) holds `index.json` and
one `<model_id>.tar.gz` per model (SPEC section 6). `pack` writes them from
the export folders; `download` fetches one into the cache, checks it against
the index's sha256 before unpacking, and refuses archive members that could
write outside the model's folder. `load` finds a model locally first, so only
the first use of a model touches the network.
"""

from __future__ import annotations

import difflib
import gzip
import json
import os
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

import keras
import pandas as pd
import tensorflow as tf

from ei_zoo.export import (
    FORMAT_VERSION,
    METADATA,
    read_metadata,
    replace_folder,
    sha256_file,
    staging_folder,
    verify_export,
)

INDEX = "index.json"
INDEX_COLUMNS = ("id", "variant", "seed", "test_accuracy", "archive", "archive_bytes", "sha256")
FORMATS = ("keras", "saved_model")
# Exports hold weights, which barely compress (about 1.5x; 5x for a tiny model's
# graph): an archive that unpacks to far more than this is broken or a zip bomb.
MAX_UNPACK_RATIO = 100


def exported_dir() -> Path:
    """The folder of exported models: `$EI_ZOO_EXPORTED`, `./exported`, or the repo's."""
    if os.environ.get("EI_ZOO_EXPORTED"):
        return Path(os.environ["EI_ZOO_EXPORTED"])
    local = Path("exported")
    if local.is_dir():
        return local
    repository = Path(__file__).resolve().parents[1] / "exported"  # editable install
    return repository if repository.is_dir() else local


def cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where downloaded models live: `cache_dir`, else `$KERAS_HOME/ei_zoo` (~/.keras)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "ei_zoo"


# `download`, `resolve` and `load` take a `cache_dir` argument that shadows the function.
_cache_root = cache_dir


def pack(exported: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write a mirror: one deterministic `<id>.tar.gz` per exported model and `index.json`.

    Every export is verified first, so a damaged folder is never shipped. The
    same `index.json` is also written into `exported`, which documents the
    zoo. Returns `out` (default `dist/mirror`), ready to upload as is.
    """
    exported = Path(exported) if exported is not None else exported_dir()
    out = Path(out) if out is not None else Path("dist") / "mirror"
    folders = sorted(
        folder for folder in exported.glob("*")
        if not folder.name.startswith(".") and (folder / "metadata.json").is_file()
    )
    if not folders:
        raise FileNotFoundError(
            f"No exported models in {exported}; export some with export_model or pass "
            "the folder that holds them.")
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for folder in folders:
        verify_export(folder)
        metadata = read_metadata(folder)
        if metadata.get("id", folder.name) != folder.name:
            raise ValueError(
                f"{folder} holds model {metadata['id']!r}; the folder name must be its id.")
        archive = out / f"{folder.name}.tar.gz"
        _write_archive(folder, archive)
        models.append({
            "id": folder.name,
            "variant": metadata.get("variant"),
            "seed": metadata.get("seed"),
            "test_accuracy": metadata.get("test_accuracy"),
            "archive": archive.name,
            "archive_bytes": archive.stat().st_size,
            "sha256": sha256_file(archive),
        })
    text = json.dumps({"format_version": FORMAT_VERSION, "models": models}, indent=2) + "\n"
    for folder in {out.resolve(), exported.resolve()}:
        (folder / INDEX).write_text(text)
    return out


def _write_archive(folder: Path, archive: Path) -> None:
    """Tar-gzip `folder` as `<name>/...` so that the same files give the same bytes.

    Members are sorted, and every time, owner and mode are fixed, so an
    archive's sha256 changes only when a model does.
    """
    with archive.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [folder, *sorted(folder.rglob("*"))]:
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise ValueError(f"{path} is not a plain file or folder; exports hold only those.")
            name = (PurePosixPath(folder.name) / path.relative_to(folder).as_posix()).as_posix()
            info = tar.gettarinfo(path, arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isdir():
                tar.addfile(info)
            else:
                with path.open("rb") as file:
                    tar.addfile(info, file)


def list_models(exported: str | Path | None = None) -> pd.DataFrame:
    """One row per model of `exported/index.json` (empty, same columns, if there is none)."""
    index = (Path(exported) if exported is not None else exported_dir()) / INDEX
    models = json.loads(index.read_text())["models"] if index.is_file() else []
    return pd.DataFrame(models, columns=list(INDEX_COLUMNS))


def _mirror_url(mirror: str | None) -> str:
    """The mirror's base URL; a local folder becomes a file:// URL."""
    mirror = mirror or os.environ.get("EI_ZOO_MIRROR")
    if not mirror:
        raise ValueError(
            "No mirror to download from; pass --mirror URL (mirror=) or set EI_ZOO_MIRROR.")
    if "://" not in mirror:
        return Path(mirror).resolve().as_uri()
    return mirror.rstrip("/")


def _failure(error: BaseException) -> str:
    """Why a URL could not be fetched, in a few words."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error)


def _fetch_index(mirror: str, timeout: float) -> list[dict]:
    url = f"{mirror}/{INDEX}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            models = json.loads(response.read())["models"]
        if not isinstance(models, list):
            raise TypeError("models is not a list")
    except OSError as error:  # URLError, HTTPError and timeouts are OSErrors
        raise ValueError(f"Could not download {INDEX} from {url}: {_failure(error)}; "
                         "check the mirror URL.") from None
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{url} is not a model zoo index; check the mirror URL.") from None
    return models


def _index_entry(models: list[dict], model_id: str, mirror: str) -> dict:
    for entry in models:
        if isinstance(entry, dict) and entry.get("id") == model_id:
            if not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
                # Without a hash get_file would accept anything the mirror serves.
                raise ValueError(
                    f"The mirror's {INDEX} gives no sha256 for {model_id!r}; re-pack the mirror.")
            size = entry.get("archive_bytes")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                # The size bounds what the archive may unpack to.
                raise ValueError(
                    f"The mirror's {INDEX} gives no archive_bytes for {model_id!r}; re-pack "
                    "the mirror.")
            return entry
    ids = sorted(str(entry.get("id")) for entry in models if isinstance(entry, dict))
    closest = difflib.get_close_matches(model_id, ids, n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(closest)}?" if closest
            else f"it has {', '.join(ids) or 'none'}.")
    raise ValueError(f"The mirror {mirror} has no model {model_id!r}; {hint}")


def download(model_id: str, mirror: str | None = None, cache_dir: str | Path | None = None,
             timeout: float = 30) -> Path:
    """Fetch a model from the mirror into the cache and return its folder.

    Always downloads, and replaces a cached copy only once the new one is
    complete and verified. On any failure the cache is left as it was.
    `timeout` (seconds) bounds every network wait (connecting, and each read)
    of the index and the archive request.
    """
    if not model_id or PurePosixPath(model_id).name != model_id or model_id.startswith("."):
        raise ValueError(f"{model_id!r} is not a model id; ids look like 'standard-s0'.")
    mirror = _mirror_url(mirror)
    entry = _index_entry(_fetch_index(mirror, timeout), model_id, mirror)
    root = _cache_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    # Also removes what a download killed midway left behind.
    staging = staging_folder(root / model_id, "download")
    try:
        archive = _fetch_archive(f"{mirror}/{model_id}.tar.gz", entry["sha256"], staging,
                                 timeout)
        extract_archive(archive, staging / "unpacked", model_id,
                        max_bytes=MAX_UNPACK_RATIO * entry["archive_bytes"])
        unpacked = staging / "unpacked" / model_id
        verify_export(unpacked)
        holds = read_metadata(unpacked).get("id")
        if holds != model_id:
            raise ValueError(
                f"{archive.name} holds model {holds!r}, not {model_id!r}; re-pack the mirror.")
        replace_folder(unpacked, root / model_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / model_id


def _fetch_archive(url: str, sha256: str, folder: Path, timeout: float) -> Path:
    """Download `url` into `folder` with `keras.utils.get_file`, checked against `sha256`.

    get_file takes no timeout and opens its connection with the socket
    default, so that default is set to `timeout` while it runs. This keeps
    get_file's progress bar, hash check and clean-up of partial files; the
    price is that sockets other threads open meanwhile get it too.
    """
    name = PurePosixPath(url).name
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return Path(keras.utils.get_file(
            fname=name, origin=url, file_hash=sha256, hash_algorithm="sha256",
            cache_dir=folder, cache_subdir="."))
    except ValueError:  # get_file's hash check; it leaves the bad file, our caller removes it
        raise ValueError(
            f"{name} from {url} does not match the sha256 in the mirror's {INDEX}; the "
            "mirror is damaged or changed while downloading: try again or re-pack it.") from None
    except Exception as error:
        # get_file wraps URL errors in a bare Exception; others (a timeout while
        # reading, a dropped connection) come through as they are.
        cause = error.__context__ if type(error) is Exception and error.__context__ else error
        raise ValueError(
            f"Could not download {name} from {url}: {_failure(cause)}; "
            "check the mirror URL.") from None
    finally:
        socket.setdefaulttimeout(previous)


def extract_archive(archive: Path, destination: Path, model_id: str,
                    max_bytes: int | None = None) -> None:
    """Unpack a model archive, refusing anything that could land outside `<model_id>/`.

    Absolute paths, `..`, links and special files are refused explicitly
    before anything is written, and tarfile's `data` filter checks again.
    `max_bytes` bounds what the members may unpack to (see `MAX_UNPACK_RATIO`).
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members, total = [], 0
            for member in tar:  # header by header: a bomb is refused before its data is read
                members.append(member)
                parts = PurePosixPath(member.name).parts
                total += member.size
                if max_bytes is not None and total > max_bytes:
                    raise ValueError(
                        f"Refusing to unpack {archive.name}: member {member.name!r} "
                        f"({member.size} bytes) takes it past {max_bytes} bytes, "
                        f"{MAX_UNPACK_RATIO}x the archive size the index gives; do not use "
                        "this mirror.")
                if member.issym() or member.islnk():
                    problem = "a link"
                elif not (member.isfile() or member.isdir()):
                    problem = "not a plain file or folder"
                elif member.name.startswith("/") or ".." in parts or "\\" in member.name:
                    problem = "an absolute or parent path"
                elif parts[:1] != (model_id,):
                    problem = f"outside {model_id}/"
                else:
                    continue
                raise ValueError(
                    f"Refusing to unpack {archive.name}: member {member.name!r} is {problem}; "
                    "do not use this mirror.")
            tar.extractall(destination, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(
            f"{archive.name} is not a readable model archive ({error}); re-download it or "
            "re-pack the mirror.") from None


def resolve(model_id_or_path: str | Path, mirror: str | None = None,
            cache_dir: str | Path | None = None) -> Path:
    """The export folder of a model: a path, else `exported_dir()`, the cache, the mirror."""
    candidate = Path(model_id_or_path)
    if candidate.is_dir():
        verify_export(candidate)  # a clear error if it is not an export, or is damaged
        return candidate
    model_id = str(model_id_or_path)
    places = [exported_dir() / model_id, _cache_root(cache_dir) / model_id]
    for folder in places:
        if folder.is_dir():
            verify_export(folder)
            return folder
    if not (mirror or os.environ.get("EI_ZOO_MIRROR")):
        known = sorted({folder.name for place in places if place.parent.is_dir()
                        for folder in place.parent.iterdir()
                        if not folder.name.startswith(".") and (folder / METADATA).is_file()})
        closest = difflib.get_close_matches(model_id, known, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(closest)}?)" if closest else ""
        raise FileNotFoundError(
            f"No model {model_id!r} in {' or '.join(str(place.parent) for place in places)}"
            f"{hint}; pass mirror=URL (--mirror) or set EI_ZOO_MIRROR to download it.")
    return download(model_id, mirror, cache_dir)


def load(model_id_or_path: str | Path, format: str = "keras", mirror: str | None = None,
         cache_dir: str | Path | None = None):
    """Load a model by id or export folder, downloading it on first use.

    `format="keras"` gives the Keras model (ei_zoo's layers are registered by
    importing this package), `"saved_model"` the `tf.saved_model.load` object
    with its `serve` and `activations` endpoints. The export's files are
    checked against their sha256 first, so a damaged copy is never loaded.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}; use one of {FORMATS}.")
    folder = resolve(model_id_or_path, mirror, cache_dir)
    if format == "keras":
        return keras.saving.load_model(folder / "model.keras")
    return tf.saved_model.load(str(folder / "saved_model"))
