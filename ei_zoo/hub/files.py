"""Crash-safe writes: every file and folder the zoo writes appears whole or not at all.

A kill at any instant (SIGKILL, power cut) leaves the previous version or the
new one, never a torn file, and never loses a version that was complete:
files are written beside their target and renamed over it; folders are
written into a hidden staging folder named after their writer, then swapped
in with renames, and what a dead writer left behind is cleaned up (or put
back) by the next writer.
"""

from __future__ import annotations

import contextlib
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


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file atomically: a kill leaves the old file or the new one, never a torn one.

    The data goes to a temporary file of a name no other writer uses, beside `path`,
    then is renamed over it: two processes writing one file leave one's whole content.
    """
    path = Path(path)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as partial:
            partial.write(data)
        os.chmod(name, 0o644)  # mkstemp's 0600 would make the file private to its writer
        sync(name)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    sync(path.parent)


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


# The staging folders this process is writing and has not moved into place:
# what `remove_unfinished` deletes when a command is interrupted.
_UNFINISHED: set[Path] = set()


@contextlib.contextmanager
def staging(target: Path, kind: str = "tmp"):
    """A `staging_folder` for `target`, deleted when the block ends unless it was
    moved into place (`replace_folder`), and by `remove_unfinished` until then.
    The folders made to hold it go too, where they are left empty."""
    made = [parent for parent in Path(target).absolute().parents if not parent.exists()]
    folder = staging_folder(target, kind)
    _UNFINISHED.add(folder)
    try:
        yield folder
    finally:
        _UNFINISHED.discard(folder)
        shutil.rmtree(folder, ignore_errors=True)
        for parent in made:  # the deepest first
            try:
                parent.rmdir()
            except OSError:  # not empty: it holds `target`, or another writer's files
                break


def remove_unfinished() -> None:
    """Delete the staging folders of this process's unfinished writes (after Ctrl-C)."""
    for folder in list(_UNFINISHED):
        shutil.rmtree(folder, ignore_errors=True)


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
    _UNFINISHED.discard(staging)  # from here a kill's leftovers are `clean_abandoned`'s
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
    shutil.rmtree(old)


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
