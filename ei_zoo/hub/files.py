"""Crash-safe writes: every file and folder the zoo writes appears whole or not at all.

A kill at any instant (SIGKILL, power cut) leaves the previous version or the
new one, never a torn file, and never loses a version that was complete:
files are written beside their target and renamed over it; folders are
written into a hidden staging folder named after their writer, then swapped
in with renames, and what a dead writer left behind is cleaned up (or put
back) by the next writer. A folder a command writes whole (`OutputFolder`: an
explorer site, a results folder) replaces only an earlier one of its kind, and a
full or read-only disk's error names what was being written (`naming`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import filelock


def sync(path: str | Path) -> None:
    """Flush a file or folder to disk, so a rename never names data a power cut loses."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# The errors of a full or read-only disk: the user's to fix (`naming`, `disk_problem`).
DISK_ERRORS = {errno.ENOSPC: "free space there", errno.EDQUOT: "free space there",
               errno.EROFS: "make it writable"}


@contextlib.contextmanager
def naming(path: str | Path):
    """Make a full or read-only disk's OSError raised in the block name `path`, what is
    being written, instead of a temporary file or none (a failed `write` names none);
    `disk_problem` then says so in one line. `new_file` and `staging` use it.

    Example:
        with files.naming(target):
            np.savez(partial, **arrays)  # OSError(ENOSPC, ..., str(target)) if the disk fills
    """
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_ERRORS or error.filename == str(path):
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def disk_problem(error: OSError, option: str | None = None) -> str | None:
    """One line saying what a full or read-only disk stopped and the fix (choosing
    another `option`, where given); None for any other OSError."""
    if error.errno not in DISK_ERRORS:
        return None
    fix = DISK_ERRORS[error.errno] + (f" or choose another {option}" if option else "")
    return f"{error.strerror or os.strerror(error.errno)} writing {error.filename}; {fix}."


@contextlib.contextmanager
def new_file(path: str | Path):
    """A temporary file beside `path` for the block to write, renamed over `path` when the
    block ends: a kill leaves the old file or the new one, never a torn one. A failure
    deletes it, and a full or read-only disk's OSError names `path` (`naming`).

    Its name, of the form `.<name>.<random>.partial`, no other writer uses: two
    processes writing one file leave one's whole content.
    """
    path = Path(path)
    with naming(path):
        descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                            dir=path.parent)
        os.close(descriptor)
        try:
            yield Path(name)
            os.chmod(name, 0o644)  # mkstemp's 0600 would make the file private to its writer
            sync(name)
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        sync(path.parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file atomically (`new_file`)."""
    with new_file(path) as partial:
        partial.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, values: dict) -> None:
    """`values` as indented, key-sorted JSON, written atomically."""
    write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def check_writable_folder(folder: str | Path, option: str = "--out") -> Path:
    """`folder`, or a one-line ValueError saying why it cannot be written.

    Called before any long work starts, so a bad output folder fails in a
    second, not after an hour of training. Nothing is created: a folder that
    does not exist yet is checked through its nearest existing parent, so a
    run that stops on another error leaves no empty folder behind.
    """
    folder = Path(folder)
    existing = next(path for path in (folder, *folder.absolute().parents) if path.exists())
    if not existing.is_dir():
        raise ValueError(f"{option} {folder}: {existing} is a file, not a folder; choose a "
                         "folder path.")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        reason = ("read-only file system" if error.errno == errno.EROFS
                  else error.strerror or str(error))
        raise ValueError(
            f"{option} {folder} cannot be written ({reason}); choose a writable folder.") from None
    return folder


def clean_abandoned(target: Path, kind: str) -> None:
    """Remove what dead writers left beside `target`, and put back a previous
    version that one of them had moved aside when `target` is missing."""
    prefix = f".{target.name}.{kind}-"
    for folder in sorted(target.parent.glob(prefix + "*")):
        if not _abandoned(folder.name[len(prefix):].removesuffix(".old")):
            continue
        if folder.name.endswith(".old") and not target.exists():
            folder.rename(target)
        else:
            shutil.rmtree(folder, ignore_errors=True)


# The staging folders this process is writing and has not moved into place, each with
# the folders made to hold it: what `remove_unfinished` deletes when a command is interrupted.
_UNFINISHED: dict[Path, list[Path]] = {}


@contextlib.contextmanager
def staging(target: Path, kind: str = "tmp"):
    """A `staging_folder` for `target`, deleted when the block ends unless it was
    moved into place (`replace_folder`), and by `remove_unfinished` until then.
    The folders made to hold it go too, where they are left empty. A full or
    read-only disk's OSError in the block names `target` (`naming`).
    """
    made = [parent for parent in Path(target).absolute().parents if not parent.exists()]
    with naming(target):
        folder = staging_folder(target, kind)
        _UNFINISHED[folder] = made
        try:
            yield folder
        finally:
            _UNFINISHED.pop(folder, None)
            _remove(folder, made)


def _remove(folder: Path, made: list[Path]) -> None:
    """Delete `folder`, then those of `made` (the deepest first) that it leaves empty."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in made:
        try:
            parent.rmdir()
        except OSError:  # not empty: it holds the target, or another writer's files
            break


def remove_unfinished() -> None:
    """Delete the staging folders of this process's unfinished writes (after Ctrl-C), and
    the folders made to hold them that they leave empty."""
    for folder, made in list(_UNFINISHED.items()):
        _remove(folder, made)


def move_files(staging: Path, out: Path) -> None:
    """Move every file of the finished folder `staging` to the same place under `out`,
    each by one rename; what else `out` holds stays."""
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


def staging_folder(target: Path, kind: str = "tmp") -> Path:
    """A new hidden folder beside `target`, to be written and then renamed into place.

    Its name, `.<name>.<kind>-<host>.<pid>.<random>`, records the writer, so
    that folders left by a writer that was killed are recognised and cleaned
    up first (`clean_abandoned`). A live writer's folders are left alone.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_abandoned(target, kind)
    writer = f"{socket.gethostname()}.{os.getpid()}."
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-{writer}", dir=target.parent))


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


def replace_folder(new: Path, target: Path, staging: Path | None = None) -> None:
    """Move the finished folder `new` to `target`, replacing any previous version.

    `staging` is the `staging_folder` that holds `new` (default: `new`
    itself), beside `target` on the same file system, so every step is a
    rename. The old version is renamed aside, as `<staging>.old` beside
    `target`, before the new one moves in, and is deleted only after: a
    failure puts it back, and a kill in between leaves it where
    `clean_abandoned` puts it back.
    """
    staging = staging or new
    _UNFINISHED.pop(staging, None)  # from here a kill's leftovers are `clean_abandoned`'s
    if not target.exists():
        new.rename(target)
        return
    old = staging.with_name(staging.name + ".old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    if old.is_dir():
        shutil.rmtree(old)
    else:  # `target` was a file
        old.unlink()


@dataclasses.dataclass(frozen=True)
class OutputFolder:
    """A kind of folder a command writes whole, such as an explorer site: written into a
    staging folder and swapped in at the end, so it never holds a file of an earlier run
    beside the new ones and an interrupted run leaves it as it was.

    The folder holds `marker`, which lists what its writer put there, so an earlier
    folder of its kind may be replaced and nothing else is ever lost with it.

    Example:
        SITE = OutputFolder(".ei_zoo_explorer", "an explorer site")
        out = SITE.check(out)  # before any work
        with SITE.writing(out) as site:
            (site / "index.html").write_text(page)
    """

    marker: str
    what: str  # e.g. "an explorer site", in messages

    def check(self, out: str | Path, option: str = "--out") -> Path:
        """`out`, or a one-line ValueError where writing it whole would lose something:
        it may be missing, an empty folder, or an earlier folder of this kind that holds
        nothing its marker does not list. Its parent must be writable."""
        out = Path(out)
        if out.exists():
            listed = self._listed(out)
            if listed is None and (not out.is_dir() or any(out.iterdir())):
                raise ValueError(f"{option} {out} exists and is not {self.what} (it has no "
                                 f"valid {self.marker}), which would be replaced whole; "
                                 "choose a new or empty folder.")
            kept = {self.marker, *(listed or ())}
            strangers = sorted(path.name for path in out.iterdir() if path.name not in kept)
            if strangers:
                raise ValueError(f"{option} {out} holds {strangers[0]}, which is not part of "
                                 f"{self.what} and would be lost when it is replaced; move it, "
                                 "or choose a new folder.")
        check_writable_folder(out.absolute().parent, option)  # staged beside `out`
        return out

    @contextlib.contextmanager
    def writing(self, out: str | Path, option: str = "--out"):
        """A staging folder for the block to fill (`staging`); when the block ends it
        gets the marker and replaces `out` (checked again), otherwise it is deleted."""
        out = self.check(out, option)
        with staging(out, self.marker.lstrip(".")) as folder:
            folder.chmod(0o755)  # mkdtemp's 0700 would make it private to its writer
            yield folder
            write_json(folder / self.marker,
                       {"entries": sorted(path.name for path in folder.iterdir())})
            self.check(out, option)  # nothing came meanwhile that the swap would lose
            replace_folder(folder, out)

    def _listed(self, out: Path) -> list[str] | None:
        """The entries the marker in `out` lists; None where it has no valid one."""
        try:
            listed = json.loads((out / self.marker).read_text())["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return listed if isinstance(listed, list) else None


LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"


@contextlib.contextmanager
def folder_lock(folder: Path, what: str, fix: str):
    """Hold an exclusive lock on `folder` (created if missing) while the block runs.

    A `filelock.FileLock` on `<folder>/.lock`: on Linux, macOS and Windows the
    operating system drops it when its holder ends, however it ends, so a killed
    holder never leaves it stuck. `<folder>/.lock.holder` records the holder, and a
    second taker gets at once a one-line ValueError naming it, `what` the folder is
    and `fix`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(folder / LOCK_FILE, blocking=False, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            holder = (folder / HOLDER_FILE).read_text().strip()
        except OSError:
            holder = ""
        raise ValueError(f"{folder} is in use by {what} ({holder or 'another process'}); "
                         f"{fix}.") from None
    try:
        (folder / HOLDER_FILE).write_text(
            f"pid {os.getpid()} on {socket.gethostname()}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        yield folder
    finally:
        lock.release()
