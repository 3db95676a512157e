"""The model zoo: pack, download and load exported networks by id.

A mirror (any static file server, or a local folder) holds `index.json` and
one `<model_id>.tar.gz` per model (docs/science.md, section 6). `pack` writes them from
the export folders; `download` fetches one into the cache within one deadline
and the bytes the index gives, checks it against the index's sha256 before
unpacking, refuses archive members that could write outside the model's
folder or unpack to far more than the archive, and files the export's
metadata does not list; an id the zoo on this machine ships must match its
`exported/index.json` file by file. `load` finds a model locally first, so
only the first use of a model touches the network.
"""

from __future__ import annotations

import difflib
import http.client
import io
import os
import sys
import urllib.error
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import keras
import numpy as np

from ei_zoo.hub import files, transfer
from ei_zoo.hub.archive import extract_archive, write_archive
from ei_zoo.hub.bundle import (
    FORMAT_VERSION,
    INDEX,
    KERAS_MODEL,
    METADATA,
    SAVED_MODEL,
    archive_name,
    check_model_reference,
    export_folders,
    file_hashes,
    model_id,
    parse_model_id,
    read_metadata,
    sha256_file,
    unlisted_files,
    verify_export,
)
from ei_zoo.hub.index import (
    DOWNLOAD,
    cache_root,
    exported_dir,
    find_local,
    index_entry,
    parse_index,
    shipped_files,
)
from ei_zoo.hub.measured import read_measured
from ei_zoo.hub.transfer import MAX_BYTES, TIMEOUT, Deadline
from ei_zoo.network.models import EINetwork, build_model, check_images
from ei_zoo.network.registry import get_config
from ei_zoo.optional import tensorflow
from ei_zoo.progress import Progress

FORMATS = ("keras", "saved_model")
# What a mirror's index.json may take (48 models take 90 kB).
MAX_INDEX_BYTES = 1 << 24


def pack(exported: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write a mirror: one deterministic `<id>.tar.gz` per exported model and `index.json`.

    Every export is verified first, so a damaged folder is never shipped, and
    every file is written atomically, so a mirror being packed never serves a
    torn archive. Only `out` (default `dist/mirror`) is written; it is ready
    to upload as is.
    """
    exported = Path(exported) if exported is not None else exported_dir()
    out = Path(out) if out is not None else Path("dist") / "mirror"
    folders = export_folders(exported)
    if not folders:
        raise FileNotFoundError(
            f"No exported models in {exported}; export some with export_model or pass "
            "the folder that holds them.")
    files.check_writable_folder(out)
    verified = [index_entry(folder) for folder in folders]  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for folder, entry in zip(folders, verified):
        archive = out / archive_name(folder.name)
        with files.new_file(archive) as partial:
            write_archive(folder, partial)
        models.append({**entry, "archive": archive.name, "archive_bytes": archive.stat().st_size,
                       "sha256": sha256_file(archive)})
    files.write_json(out / INDEX, {"format_version": FORMAT_VERSION, "models": models})
    return out


def _mirror_url(mirror: str | None) -> str:
    """The mirror's base URL; a local folder becomes a file:// URL."""
    mirror = mirror or os.environ.get("EI_ZOO_MIRROR")
    if not mirror:
        raise ValueError(
            "No mirror to download from; pass --mirror URL (mirror=) or set EI_ZOO_MIRROR.")
    if "://" not in mirror:
        return Path(mirror).resolve().as_uri()
    try:
        parts = urllib.parse.urlsplit(mirror)
        parts.port  # noqa: B018  (a malformed port raises here)
    except ValueError as error:
        raise ValueError(f"--mirror {mirror!r} is not a valid URL ({error}); pass e.g. "
                         "https://host/ei_zoo or a local folder.") from None
    if not parts.netloc and parts.scheme != "file":
        raise ValueError(f"--mirror {mirror!r} names no host; pass e.g. https://host/ei_zoo "
                         "or a local folder.")
    return mirror.rstrip("/")


def _failure(error: BaseException) -> str:
    """Why a URL could not be fetched, in a few words."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error)


def _fetch(url: str, out: BinaryIO, limit: int, deadline: Deadline, beyond: str,
           progress=None) -> str:
    """`transfer.fetch`, its failures as one-line ValueErrors; `beyond` says what the
    `limit` is and what to do when more arrives. Returns the sha256 of what arrived."""
    name = PurePosixPath(url).name
    try:
        return transfer.fetch(url, out, limit, deadline, progress)
    except transfer.TooLarge:
        raise ValueError(f"{name} from {url} is larger than {limit:,} bytes, {beyond}") from None
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None),
                                                         TimeoutError):
            raise ValueError(
                f"Could not download {name} from {url} within the download's "
                f"{deadline.seconds:g} s; try again, or allow more time with `ei-zoo download "
                "--timeout SECONDS` (timeout=).") from None
        raise ValueError(f"Could not download {name} from {url}: {_failure(error)}; "
                         "check the mirror URL.") from None


def _fetch_index(mirror: str, deadline: Deadline) -> list[dict]:
    url = f"{mirror}/{INDEX}"
    text = io.BytesIO()
    _fetch(url, text, MAX_INDEX_BYTES, deadline,
           "far more than an index takes; check the mirror URL.")
    return parse_index(text.getvalue(), url, "check the mirror URL")


def _index_entry(models: list[dict], model_id: str, mirror: str, max_bytes: int) -> dict:
    for entry in models:
        if isinstance(entry, dict) and entry.get("id") == model_id:
            if not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
                raise ValueError(
                    f"The mirror's {INDEX} gives no sha256 for {model_id!r}; re-pack the mirror.")
            size = entry.get("archive_bytes")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                # The size bounds what the transfer may read.
                raise ValueError(
                    f"The mirror's {INDEX} gives no archive_bytes for {model_id!r}; re-pack "
                    "the mirror.")
            if size > max_bytes:
                raise ValueError(
                    f"The mirror's {INDEX} gives {model_id!r} an archive of {size:,} bytes, "
                    f"more than the {max_bytes:,} a download may take; if you trust this "
                    "mirror, allow more with `ei-zoo download --max-mb MB` (max_bytes=).")
            return entry
    ids = sorted(str(entry.get("id")) for entry in models if isinstance(entry, dict))
    closest = difflib.get_close_matches(model_id, ids, n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(closest)}?" if closest
            else f"it has {', '.join(ids) or 'none'}.")
    raise ValueError(f"The mirror {mirror} has no model {model_id!r}; {hint}")


def _check_limits(timeout, max_bytes) -> None:
    """Refuse a download's `timeout` or `max_bytes` that is not a positive number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0 \
            or timeout == float("inf"):
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds, e.g. 300.")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes={max_bytes!r} must be a positive integer, e.g. {MAX_BYTES}.")


def download(model_id: str, mirror: str | None = None, cache_dir: str | Path | None = None,
             timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> Path:
    """Fetch a model from the mirror into the cache and return its folder.

    Always downloads, and replaces a cached copy only once the new one is
    complete and verified. On any failure the cache is left as it was.

    Args:
        model_id: the model's id, e.g. "standard-s0".
        mirror: the mirror's URL or folder (default: `$EI_ZOO_MIRROR`).
        cache_dir: the download cache (default: `$KERAS_HOME/ei_zoo`).
        timeout: seconds the whole download, index and archive, may take
            (`ei_zoo.hub.transfer.fetch` says how closely a transfer keeps to it).
        max_bytes: the most the archive may take, and the export it unpacks to
            (which may also take at most `ei_zoo.hub.archive.MAX_UNPACK_RATIO`
            times the archive).

    Returns:
        The model's folder in the cache, `<cache_dir>/<model_id>`.

    Raises:
        ValueError: a bad argument; a mirror that cannot be reached, is too slow, or
            serves more than its index or `max_bytes` allow; or an archive that is
            not the export it claims to be: a wrong sha256, a member outside the
            model's folder, a file its `metadata.json` does not list, or, for an id
            the zoo on this machine ships (`exported/index.json`), any file that
            differs from what that index gives.
    """
    if not model_id or PurePosixPath(model_id).name != model_id or model_id.startswith("."):
        raise ValueError(f"{model_id!r} is not a model id; ids look like 'standard-s0'.")
    _check_limits(timeout, max_bytes)
    mirror = _mirror_url(mirror)
    root = files.check_writable_folder(
        cache_root(cache_dir), "The download cache ($KERAS_HOME/ei_zoo, or --cache-dir)")
    pinned = shipped_files(model_id)
    deadline = Deadline(timeout)
    entry = _index_entry(_fetch_index(mirror, deadline), model_id, mirror, max_bytes)
    # Also removes what a download killed midway left behind, or puts it back.
    with files.staging(root / model_id, DOWNLOAD) as staging:
        archive = _fetch_archive(f"{mirror}/{archive_name(model_id)}", entry, staging, deadline)
        extract_archive(archive, staging / "unpacked", model_id, max_bytes)
        _check_download(staging / "unpacked" / model_id, archive.name, model_id, pinned)
        files.replace_folder(staging / "unpacked" / model_id, root / model_id, staging)
    return root / model_id


def _fetch_archive(url: str, entry: dict, folder: Path, deadline: Deadline) -> Path:
    """Download `url` into `folder`, at most the index's `archive_bytes`, and check it
    against the index's `sha256`."""
    archive = folder / PurePosixPath(url).name
    print(f"Downloading {url}", file=sys.stderr, flush=True)
    progress = Progress(entry["archive_bytes"], unit="byte", label=f"{archive.name}: ")
    with archive.open("wb") as out:
        sha256 = _fetch(url, out, entry["archive_bytes"], deadline,
                        f"the size the mirror's {INDEX} gives it; do not use this mirror.",
                        progress.add)
    if sha256 != entry["sha256"]:
        raise ValueError(
            f"{archive.name} from {url} does not match the sha256 in the mirror's {INDEX}; the "
            "mirror is damaged or changed while downloading: try again or re-pack it.")
    return archive


def _check_download(unpacked: Path, archive: str, model_id: str, pinned: dict | None) -> None:
    """Refuse an unpacked archive that is not the export it claims to be.

    For an id the zoo on this machine ships, every file must be the one
    `exported/index.json` gives (`pinned`); for any id, every file must be
    listed in its `metadata.json`, with the sha256 there, and its id must be
    `model_id`.
    """
    if pinned is not None:
        found, shipped = file_hashes(unpacked, exclude=()), exported_dir() / INDEX
        wrong = sorted(name for name in found.keys() | pinned.keys()
                       if found.get(name) != pinned.get(name))
        if wrong:
            name = wrong[0]
            detail = (f"it lacks {name}, which {shipped} lists" if name not in found else
                      f"it holds {name}, which {shipped} does not list" if name not in pinned
                      else f"its {name} differs from the one {shipped} gives")
            raise ValueError(f"{archive} is not the {model_id} this project ships: {detail}; do "
                             "not use this mirror.")
    extra = unlisted_files(unpacked)
    if extra:
        raise ValueError(f"{archive} holds {extra[0]!r}, which its {METADATA} does not list; do "
                         "not use this mirror, or re-pack it from the exports.")
    holds = read_metadata(unpacked).get("id")
    if holds != model_id:
        raise ValueError(
            f"{archive} holds model {holds!r}, not {model_id!r}; re-pack the mirror.")
    verify_export(unpacked)
    read_measured(unpacked)  # the measures it keeps verify too


def resolve(model_id_or_path: str | Path, mirror: str | None = None,
            cache_dir: str | Path | None = None) -> Path:
    """The export folder of a model: a local one (`find_local`), else downloaded from the mirror."""
    folder = find_local(model_id_or_path, cache_dir, need_mirror=not (
        mirror or os.environ.get("EI_ZOO_MIRROR")))
    return folder if folder is not None else download(str(model_id_or_path), mirror, cache_dir)


class ServedNetwork:
    """An export's SavedModel with its inputs checked first.

    `serve(images)` -> logits [N, classes] and `activations(images)` -> dict of
    rates [N, T, H, W, C] take raw pixels 0-255, float32 or uint8, [N, S, S, 3]
    with N >= 1 (`check_images`); a wrong shape or dtype gets a one-line
    message instead of TensorFlow's binding errors. `signatures` and
    `saved_model` are the SavedModel's own, unchecked (fixed to float32
    [None, S, S, 3]).
    """

    def __init__(self, saved_model, image_size: int):
        self.saved_model = saved_model
        self.signatures = saved_model.signatures
        self.image_size = image_size

    def serve(self, images):
        return self.saved_model.serve(check_images(images, image_size=self.image_size))

    def activations(self, images):
        return self.saved_model.activations(check_images(images, image_size=self.image_size))

    def accuracy(self, batches) -> tuple[float, int]:
        """Top-1 accuracy of `serve` over `(images, labels)` batches, and how many images."""
        correct = seen = 0
        for images, labels in batches:
            predicted = np.asarray(self.serve(images)).argmax(axis=-1)
            correct += int((predicted == np.asarray(labels)).sum())
            seen += len(predicted)
        if not seen:
            raise ValueError("No images to measure accuracy on; pass a non-empty dataset.")
        return correct / seen, seen


def load(model_id_or_path: str | Path, format: str = "keras", mirror: str | None = None,
         cache_dir: str | Path | None = None):
    """Load a model by id or export folder, downloading it on first use.

    `format="keras"` gives the Keras model, an `EINetwork`, read in Keras's safe
    mode (no Python code from the file runs); `"saved_model"` gives a
    `ServedNetwork`, the SavedModel's `serve` and `activations` endpoints with
    checked inputs (needs TensorFlow). The export's files are checked against
    their sha256 first, so a damaged copy is never loaded.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}; use one of {FORMATS}.")
    folder = resolve(model_id_or_path, mirror, cache_dir)
    if format == "keras":
        return keras.saving.load_model(folder / KERAS_MODEL, safe_mode=True)
    saved_model = tensorflow("Loading a SavedModel").saved_model.load(str(folder / SAVED_MODEL))
    return ServedNetwork(saved_model, read_metadata(folder)["config"]["image_size"])


def create_model(name: str, pretrained: bool = False, **overrides) -> EINetwork:
    """One entry point to every network, in timm's style: a new one or a trained one.

    Args:
        name: a registered variant (`standard`, `inh_pn.gate_open`, a user's own) or
            a model id (`standard-s1`).
        pretrained: for a variant, load its shipped seed-0 network (`<name>-s0`)
            instead of building it untrained. A model id always loads that network.
        **overrides: `NetworkConfig` fields of a new, untrained network
            (`timesteps=2`); refused with `pretrained` or a model id.

    Returns:
        An `EINetwork`.

    Raises:
        ValueError: `name` is neither a registered variant nor a model id (the
            message suggests the closest), or overrides were given for a trained
            network.
        FileNotFoundError: the trained network is neither exported nor cached, and
            no mirror is set.

    Example:

    ```python
    untrained = ei_zoo.create_model("inh_pn")
    trained = ei_zoo.create_model("inh_pn", pretrained=True)  # inh_pn-s0
    ```
    """
    check_model_reference(name, "name")
    try:
        is_id = bool(parse_model_id(name))
    except ValueError:
        is_id = False
    if not is_id:
        get_config(name)  # an unknown name: a ValueError naming the closest variants
    if (pretrained or is_id) and overrides:
        raise ValueError(
            f"overrides {sorted(overrides)} change the network, so they cannot apply to the "
            f"trained {name!r}; build an untrained one with pretrained=False.")
    if is_id:
        return load(name)
    return load(model_id(name, 0)) if pretrained else build_model(name, **overrides)
