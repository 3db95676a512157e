"""The model archive a mirror serves, `<model_id>.tar.gz`: written deterministically, and
unpacked refusing anything that could land outside the model's folder or unpack to far
more than the archive (`ei_zoo.hub.zoo.pack` and `download`).
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path, PurePosixPath

# Exports hold weights, which barely compress (1.1-1.2x for the shipped ones, about 4x for
# the tests' tiny model): an archive that unpacks to far more than this times its own
# size is broken or a zip bomb.
MAX_UNPACK_RATIO = 20


def write_archive(folder: Path, archive: Path) -> None:
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


def extract_archive(archive: Path, destination: Path, model_id: str,
                    max_bytes: int | None = None) -> None:
    """Unpack a model archive, refusing anything that could land outside `<model_id>/`.

    Absolute paths, `..`, links and special files are refused explicitly
    before anything is written, and tarfile's `data` filter checks again. The
    members may take at most `MAX_UNPACK_RATIO` times the archive's own size,
    and at most `max_bytes`.
    """
    ratio_limit = MAX_UNPACK_RATIO * archive.stat().st_size
    limit = ratio_limit if max_bytes is None else min(ratio_limit, max_bytes)
    why = (f"{MAX_UNPACK_RATIO}x the archive's {archive.stat().st_size:,} bytes; do not use this "
           "mirror" if limit == ratio_limit else
           "the most a download may take; if you trust this mirror, allow more with `ei-zoo "
           "download --max-mb MB` (max_bytes=)")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members, total = [], 0
            for member in tar:  # header by header: a bomb is refused before its data is read
                members.append(member)
                parts = PurePosixPath(member.name).parts
                total += member.size
                if total > limit:
                    raise ValueError(
                        f"Refusing to unpack {archive.name}: member {member.name!r} "
                        f"({member.size:,} bytes) takes it past {limit:,} bytes, {why}.")
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
