"""ei_zoo.hub.zoo.download: broken, hostile and killed downloads leave the cache as it was."""

import io
import json
import shutil
import socket
import tarfile
import time
from pathlib import Path

import pytest

import ei_zoo.hub.zoo as zoo
from ei_zoo.hub.bundle import sha256_file

from conftest import dead_pid, entries, serve_folder


@pytest.fixture
def served(tiny_export, tmp_path):
    """The tiny export packed into `<tmp>/mirror` and served on loopback: (folder, url, server)."""
    exported = tmp_path / "mirror_source"
    shutil.copytree(tiny_export, exported / tiny_export.name)
    folder = zoo.pack(exported, tmp_path / "mirror")
    with serve_folder(folder) as (url, server):
        yield folder, url, server


def _set_archive(folder, data):
    """Serve `data` as the archive, with an index that matches it (sha256 and size)."""
    (folder / "standard-s0.tar.gz").write_bytes(data)
    index = json.loads((folder / "index.json").read_text())
    index["models"][0].update(sha256=sha256_file(folder / "standard-s0.tar.gz"),
                              archive_bytes=len(data))
    (folder / "index.json").write_text(json.dumps(index))


def _error(code):
    return lambda handler: handler.send_error(code)


def _cut_short(handler):
    """Promise the whole archive, send half of it, hang up."""
    data = (Path(handler.directory) / "standard-s0.tar.gz").read_bytes()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[:len(data) // 2])
    handler.close_connection = True


def _hang_up(handler):
    handler.close_connection = True  # no answer at all


def _stall(handler):
    handler.server.release.wait(10)  # answers nothing until the test is over
    handler.close_connection = True


def _bomb(tiny_export):
    """A real model's metadata plus a member of 20 MB of zeros: 20 kB compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        metadata = (tiny_export / "metadata.json").read_bytes()
        info = tarfile.TarInfo("standard-s0/metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
        info = tarfile.TarInfo("standard-s0/model.keras")
        info.size = 20 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    return buffer.getvalue()


def _other_model(tiny_export, tmp_path):
    """An intact export under `standard-s0/` whose metadata says it is another model."""
    folder = tmp_path / "impostor" / "standard-s0"
    shutil.copytree(tiny_export, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["id"] = "inh_pn-s3"
    (folder / "metadata.json").write_text(json.dumps(metadata))  # not among its own hashes
    zoo._write_archive(folder, tmp_path / "impostor.tar.gz")
    return (tmp_path / "impostor.tar.gz").read_bytes()


DOWNLOAD_FAILURES = {
    "truncated_in_transit": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _cut_short}),
        r"Could not download standard-s0.tar.gz from http://\S+: retrieval incomplete: got "
        r"only \d+ out of \d+ bytes; check the mirror URL"),
    "truncated_on_the_mirror": (
        lambda folder, server, export, tmp: _set_archive(
            folder, (folder / "standard-s0.tar.gz").read_bytes()[:30_000]),
        r"standard-s0.tar.gz is not a readable model archive \(.*\); re-download it or "
        r"re-pack the mirror"),
    "member_far_larger_than_the_index_says": (
        lambda folder, server, export, tmp: _set_archive(folder, _bomb(export)),
        r"Refusing to unpack standard-s0.tar.gz: member 'standard-s0/model.keras' \(20971520 "
        r"bytes\) takes it past \d+ bytes, 100x the archive size the index gives"),
    "index_for_another_model": (
        lambda folder, server, export, tmp: _set_archive(folder, _other_model(export, tmp)),
        r"standard-s0.tar.gz holds model 'inh_pn-s3', not 'standard-s0'; re-pack the mirror"),
    "archive_http_500": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _error(500)}),
        r"Could not download standard-s0.tar.gz from http://\S+: HTTP 500; check the mirror"),
    "index_http_500": (
        lambda folder, server, export, tmp: server.behaviour.update({"/index.json": _error(500)}),
        r"Could not download index.json from http://\S+: HTTP 500; check the mirror URL"),
    "mirror_hangs_up": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _hang_up}),
        r"Could not download standard-s0.tar.gz from http://\S+: Remote end closed "
        r"connection without response; check the mirror URL"),
    "archive_slow_past_the_timeout": (
        lambda folder, server, export, tmp: server.behaviour.update(
            {"/standard-s0.tar.gz": _stall}),
        r"Could not download standard-s0.tar.gz from http://\S+: timed out; check the mirror"),
    "index_slow_past_the_timeout": (
        lambda folder, server, export, tmp: server.behaviour.update({"/index.json": _stall}),
        r"Could not download index.json from http://\S+: timed out; check the mirror URL"),
}


@pytest.mark.parametrize("failure", list(DOWNLOAD_FAILURES))
def test_broken_download_is_refused_and_leaves_nothing(failure, served, cache, tiny_export,
                                                       tmp_path):
    folder, url, server = served
    setup, message = DOWNLOAD_FAILURES[failure]
    setup(folder, server, tiny_export, tmp_path)

    def outside():
        return {path for path in tmp_path.rglob("*") if path.is_file()
                and folder not in path.parents and cache not in path.parents}

    before = outside()
    start = time.monotonic()
    with pytest.raises(ValueError, match=message) as refused:
        zoo.download("standard-s0", mirror=url, timeout=1)
    assert "\n" not in str(refused.value)
    assert time.monotonic() - start < 8  # a stalled mirror costs the timeout, not forever
    assert entries(cache) == []
    assert outside() == before
    assert socket.getdefaulttimeout() is None  # the timeout was only set around the download


def test_download_clears_what_a_killed_download_left(served, cache):
    _, url, _ = served
    cache.mkdir(parents=True)
    left = cache / f".standard-s0.download-{socket.gethostname()}.{dead_pid()}.abcdefgh"
    (left / "unpacked").mkdir(parents=True)
    assert zoo.download("standard-s0", mirror=url) == cache / "standard-s0"
    assert entries(cache) == ["standard-s0"]
