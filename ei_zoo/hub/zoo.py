"""The model zoo: pack, download and load exported networks by id.

A mirror (any static file server, or a local folder) holds `index.json` and
one `<model_id>.tar.gz` per model (docs/science.md, section 6). `pack` writes them from
the export folders; `download` fetches one into the cache, checks it against
the index's sha256 before unpacking, and refuses archive members that could
write outside the model's folder. `load` finds a model locally first, so only
the first use of a model touches the network.
"""

from __future__ import annotations

import difflib
import gzip
import os
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

import keras
import numpy as np

from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    FORMAT_VERSION,
    INDEX,
    KERAS_MODEL,
    SAVED_MODEL,
    archive_name,
    check_model_reference,
    export_folders,
    model_id,
    parse_model_id,
    read_metadata,
    sha256_file,
    verify_export,
)
from ei_zoo.hub.index import (
    DOWNLOAD,
    cache_root,
    exported_dir,
    find_local,
    index_entry,
    parse_index,
)
from ei_zoo.network.models import EINetwork, build_model, check_images
from ei_zoo.network.registry import get_config
from ei_zoo.optional import tensorflow
from ei_zoo.progress import interactive, keras_progress_on_terminal_only

FORMATS = ("keras", "saved_model")
# Exports hold weights, which barely compress (about 1.5x; 5x for a tiny model's
# graph): an archive that unpacks to far more than this is broken or a zip bomb.
MAX_UNPACK_RATIO = 100


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
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for folder in folders:
        entry = index_entry(folder)
        archive = out / archive_name(folder.name)
        partial = archive.with_name(f".{archive.name}.partial")
        try:
            _write_archive(folder, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, archive)
        models.append({**entry, "archive": archive.name, "archive_bytes": archive.stat().st_size,
                       "sha256": sha256_file(archive)})
    files.write_json(out / INDEX, {"format_version": FORMAT_VERSION, "models": models})
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


def _fetch_index(mirror: str, timeout: float) -> list[dict]:
    url = f"{mirror}/{INDEX}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read()
    except OSError as error:  # URLError, HTTPError and timeouts are OSErrors
        raise ValueError(f"Could not download {INDEX} from {url}: {_failure(error)}; "
                         "check the mirror URL.") from None
    return parse_index(text, url, "check the mirror URL")


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
    root = files.check_writable_folder(
        cache_root(cache_dir), "The download cache ($KERAS_HOME/ei_zoo, or --cache-dir)")
    entry = _index_entry(_fetch_index(mirror, timeout), model_id, mirror)
    # Also removes what a download killed midway left behind, or puts it back.
    with files.staging(root / model_id, DOWNLOAD) as staging:
        archive = _fetch_archive(f"{mirror}/{archive_name(model_id)}", entry["sha256"], staging,
                                 timeout)
        extract_archive(archive, staging / "unpacked", model_id,
                        max_bytes=MAX_UNPACK_RATIO * entry["archive_bytes"])
        unpacked = staging / "unpacked" / model_id
        verify_export(unpacked)
        holds = read_metadata(unpacked).get("id")
        if holds != model_id:
            raise ValueError(
                f"{archive.name} holds model {holds!r}, not {model_id!r}; re-pack the mirror.")
        files.replace_folder(unpacked, root / model_id, staging)
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
    if not interactive():  # get_file's own line and bar show on a terminal only
        print(f"Downloading {url}", file=sys.stderr, flush=True)
    try:
        with keras_progress_on_terminal_only():
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
