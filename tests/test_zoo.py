import io
import json
import os
import shutil
import sys
import tarfile

import keras
import numpy as np
import pytest

import ei_zoo.hub.zoo as zoo
from ei_zoo.hub import index
from ei_zoo.hub.bundle import sha256_file, verify_export

from conftest import REPO, entries, run_python, serve_folder


@pytest.fixture
def exported(tiny_export, tmp_path):
    """A copy of the tiny export in its own `exported/` folder."""
    folder = tmp_path / "exported"
    shutil.copytree(tiny_export, folder / tiny_export.name)
    return folder


@pytest.fixture
def mirror(exported, tmp_path):
    """`exported` packed and served on loopback: (folder, url, request counts)."""
    folder = zoo.pack(exported, tmp_path / "mirror")
    with serve_folder(folder) as (url, server):
        yield folder, url, server.requests


def _rewrite_index(mirror_folder, **changes):
    index = json.loads((mirror_folder / "index.json").read_text())
    index["models"][0].update(changes)
    (mirror_folder / "index.json").write_text(json.dumps(index))


def test_load_downloads_once_then_uses_the_cache(trained_tiny, mirror, cache, images):
    folder, url, counts = mirror
    model, _ = trained_tiny
    loaded = zoo.load("standard-s0", mirror=url)
    assert counts == {"/index.json": 1, "/standard-s0.tar.gz": 1}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images, training=False)),
        keras.ops.convert_to_numpy(model(images, training=False)), atol=1e-6)
    assert entries(cache) == ["standard-s0"]
    verify_export(cache / "standard-s0")

    saved_model = zoo.load("standard-s0", format="saved_model", mirror=url)
    assert saved_model.serve(images).shape == (4, 10)
    assert zoo.resolve("standard-s0") == cache / "standard-s0"
    assert counts == {"/index.json": 1, "/standard-s0.tar.gz": 1}

    # An explicit download always fetches, and replaces the cached copy.
    assert zoo.download("standard-s0", mirror=url) == cache / "standard-s0"
    assert counts == {"/index.json": 2, "/standard-s0.tar.gz": 2}
    assert entries(cache) == ["standard-s0"]


def test_mirror_from_environment_and_cache_dir_argument(mirror, cache, tmp_path, monkeypatch):
    _, url, counts = mirror
    monkeypatch.setenv("EI_ZOO_MIRROR", url)
    folder = zoo.resolve("standard-s0", cache_dir=tmp_path / "elsewhere")
    assert folder == tmp_path / "elsewhere" / "standard-s0"
    assert counts["/standard-s0.tar.gz"] == 1
    assert not cache.exists()


def test_local_models_need_no_mirror(exported, cache, monkeypatch):
    monkeypatch.setenv("EI_ZOO_EXPORTED", str(exported))
    assert zoo.resolve("standard-s0") == exported / "standard-s0"
    assert zoo.resolve(exported / "standard-s0") == exported / "standard-s0"
    with pytest.raises(FileNotFoundError, match="No model 'standard-s9'.*EI_ZOO_MIRROR"):
        zoo.load("standard-s9")
    with pytest.raises(ValueError, match="format="):
        zoo.load("standard-s0", format="onnx")
    with pytest.raises(ValueError, match="set EI_ZOO_MIRROR"):
        zoo.download("standard-s0")


def test_the_zoo_on_this_machine_is_the_repository_s_from_any_folder(tmp_path, monkeypatch):
    """Without $EI_ZOO_EXPORTED or ./exported, an editable install's zoo is the repository's
    exported/: what `load` finds, and what a download of a shipped id must match."""
    monkeypatch.delenv("EI_ZOO_EXPORTED", raising=False)
    monkeypatch.chdir(tmp_path)
    assert index.exported_dir() == REPO / "exported"
    [shipped] = [entry for entry in index.read_index(REPO / "exported" / "index.json")
                 if entry["id"] == "standard-s0"]
    assert index.shipped_files("standard-s0") == shipped["files"]
    assert index.shipped_files("standard-s99") is None


def test_load_reads_the_keras_model_in_safe_mode(tiny_export, tmp_path):
    """A `.keras` holding Python code (a Lambda layer's) is refused, never run."""
    folder = shutil.copytree(tiny_export, tmp_path / "standard-s0")
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(folder / "model.keras")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"]["model.keras"] = sha256_file(folder / "model.keras")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="safe_mode=False"):
        zoo.load(folder)


def test_list_models(exported, tmp_path):
    index.write_index(exported)
    listed = index.list_models(exported)
    assert listed["id"].tolist() == ["standard-s0"]
    assert set(index.INDEX_COLUMNS) <= set(listed.columns)
    row = listed.iloc[0]
    assert (row["variant"], row["seed"], row["test_accuracy"]) == ("standard", 0, 0.125)
    # The committed index pins each file of the export, not an archive: stable everywhere.
    folder = exported / "standard-s0"
    assert row["files"] == {path.relative_to(folder).as_posix(): sha256_file(path)
                            for path in folder.rglob("*") if path.is_file()}
    assert row["bytes"] == sum(path.stat().st_size for path in folder.rglob("*")
                               if path.is_file())
    empty = index.list_models(tmp_path / "nothing")
    assert empty.empty and set(index.INDEX_COLUMNS) <= set(empty.columns)


def _damaged_sibling(exported):
    """A copy of `exported/standard-s0` as `standard-s1`, its weights changed after export."""
    damaged = shutil.copytree(exported / "standard-s0", exported / "standard-s1")
    metadata = json.loads((damaged / "metadata.json").read_text())
    (damaged / "metadata.json").write_text(json.dumps({**metadata, "id": "standard-s1"}))
    weights = bytearray((damaged / "connectivity.npz").read_bytes())
    weights[-100] ^= 0xFF
    (damaged / "connectivity.npz").write_bytes(bytes(weights))
    return damaged


def test_a_damaged_export_is_left_out_of_the_index_with_a_warning(exported, tmp_path):
    """One damaged network never stops the index of the others (issue 34, #13): it is
    left out, with one line on stderr naming it and the fix."""
    damaged = _damaged_sibling(exported)
    with pytest.warns(UserWarning, match=r"standard-s1 is left out of index\.json: .*"
                                         r"connectivity\.npz does not match its sha256"):
        index.write_index(exported)
    assert [entry["id"] for entry in index.read_index(exported / "index.json")] == [
        "standard-s0"]
    (exported / "index.json").unlink()
    result = run_python([sys.executable, "-m", "ei_zoo.cli", "index", "--exported",
                         str(exported)], tmp_path)
    assert result.returncode == 0 and result.stdout == f"{exported / 'index.json'}\n"
    assert result.stderr == (
        f"ei-zoo: warning: {damaged} is left out of index.json: {damaged / 'connectivity.npz'} "
        "does not match its sha256 in metadata.json; re-download or re-export it.\n")
    assert [entry["id"] for entry in index.read_index(exported / "index.json")] == [
        "standard-s0"]
    with pytest.raises(ValueError, match="connectivity.npz does not match"):  # never shipped
        zoo.pack(exported, tmp_path / "mirror")
    assert not (tmp_path / "mirror").exists()  # refused before any archive is written


def test_pack_writes_only_its_mirror(exported, tmp_path):
    """`pack` leaves the committed index alone; the mirror's index adds the archives."""
    committed = index.write_index(exported).read_bytes()
    mirror = zoo.pack(exported, tmp_path / "mirror")
    assert (exported / "index.json").read_bytes() == committed
    [entry] = json.loads((mirror / "index.json").read_text())["models"]
    assert entry["sha256"] == sha256_file(mirror / "standard-s0.tar.gz")
    assert entry["archive_bytes"] == (mirror / "standard-s0.tar.gz").stat().st_size
    assert entry["files"] == json.loads(committed)["models"][0]["files"]


def test_pack_never_leaves_a_torn_archive(exported, tmp_path, monkeypatch):
    mirror = zoo.pack(exported, tmp_path / "mirror")
    before = (mirror / "standard-s0.tar.gz").read_bytes()

    def half_written(folder, archive):
        archive.write_bytes(b"\x1f\x8b half")
        raise OSError("disk full")

    monkeypatch.setattr(zoo, "write_archive", half_written)
    with pytest.raises(OSError):
        zoo.pack(exported, mirror)
    assert (mirror / "standard-s0.tar.gz").read_bytes() == before
    assert entries(mirror) == ["index.json", "standard-s0.tar.gz"]  # no partial file left


def test_pack_is_deterministic(exported, tmp_path):
    first = zoo.pack(exported, tmp_path / "first")
    for path in (exported / "standard-s0").rglob("*"):
        os.utime(path, (1e9, 1e9))  # new file times must not change the bytes
    second = zoo.pack(exported, tmp_path / "second")
    for name in ("standard-s0.tar.gz", "index.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "standard-s0.tar.gz").read_bytes()[4:8] == bytes(4)  # gzip header mtime
    with tarfile.open(first / "standard-s0.tar.gz") as tar:
        names = tar.getnames()
        assert names == sorted(names) and all(name.split("/")[0] == "standard-s0" for name in names)
        assert {(member.mtime, member.uid, member.uname) for member in tar} == {(0, 0, "")}


def test_wrong_sha256_is_refused_and_the_cache_kept(mirror, cache):
    folder, url, _ = mirror
    zoo.download("standard-s0", mirror=url)
    before = {path.name: sha256_file(path) for path in (cache / "standard-s0").glob("*.*")}

    _rewrite_index(folder, sha256="0" * 64)
    with pytest.raises(ValueError, match="standard-s0.tar.gz .*does not match the sha256"):
        zoo.download("standard-s0", mirror=url)
    assert entries(cache) == ["standard-s0"]
    assert {path.name: sha256_file(path) for path in (cache / "standard-s0").glob("*.*")} == before

    _rewrite_index(folder, sha256=None)
    with pytest.raises(ValueError, match="no sha256"):
        zoo.download("standard-s0", mirror=url)


def test_wrong_sha256_leaves_an_empty_cache(mirror, cache):
    folder, url, _ = mirror
    _rewrite_index(folder, sha256="0" * 64)
    with pytest.raises(ValueError, match="does not match the sha256"):
        zoo.load("standard-s0", mirror=url)
    assert entries(cache) == []


def test_missing_archive_reports_http_404(mirror, cache):
    folder, url, _ = mirror
    (folder / "standard-s0.tar.gz").unlink()
    with pytest.raises(ValueError,
                       match=r"Could not download standard-s0.tar.gz from .*HTTP 404; check"):
        zoo.download("standard-s0", mirror=url)
    assert entries(cache) == []


def test_unreachable_mirror(cache):
    with pytest.raises(ValueError, match="Could not download index.json from http://127.0.0.1:9/"):
        zoo.download("standard-s0", mirror="http://127.0.0.1:9", timeout=5)
    assert entries(cache) == []


def test_unknown_id_suggests_the_closest(mirror, cache):
    _, url, counts = mirror
    with pytest.raises(ValueError, match="no model 'standard-s1'; did you mean standard-s0"):
        zoo.load("standard-s1", mirror=url)
    assert counts["/standard-s0.tar.gz"] == 0
    with pytest.raises(ValueError, match="not a model id"):
        zoo.download("../standard-s0", mirror=url)


def _hostile_archive(kind, outside):
    """A gzipped tar holding a valid-looking file and one member of the given `kind`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name, data=b"x", **fields):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)

        add("standard-s0/metadata.json", b"{}")
        if kind == "parent":
            add("standard-s0/../../evil.txt")
        elif kind == "absolute":
            add(str(outside / "evil.txt"))
        elif kind == "symlink":
            add("standard-s0/link", type=tarfile.SYMTYPE, linkname=str(outside), size=0)
        elif kind == "hardlink":
            add("standard-s0/link", type=tarfile.LNKTYPE, linkname="/etc/passwd", size=0)
        elif kind == "other_model":
            add("other-s0/metadata.json", b"{}")
    return buffer.getvalue()


@pytest.mark.parametrize("kind, problem", [
    ("parent", "an absolute or parent path"), ("absolute", "an absolute or parent path"),
    ("symlink", "a link"), ("hardlink", "a link"), ("other_model", "outside standard-s0/"),
])
def test_hostile_archive_is_refused(kind, problem, mirror, cache, tmp_path):
    folder, url, _ = mirror
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "standard-s0.tar.gz").write_bytes(_hostile_archive(kind, outside))
    _rewrite_index(folder, sha256=sha256_file(folder / "standard-s0.tar.gz"))
    refused = f"Refusing to unpack standard-s0.tar.gz: member .* is {problem}"
    with pytest.raises(ValueError, match=refused):
        zoo.download("standard-s0", mirror=url)
    assert entries(cache) == []
    assert entries(outside) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "keras" / "evil.txt").exists()


def test_corrupt_archive_is_refused(mirror, cache):
    folder, url, _ = mirror
    (folder / "standard-s0.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    _rewrite_index(folder, sha256=sha256_file(folder / "standard-s0.tar.gz"))
    with pytest.raises(ValueError, match="not a readable model archive"):
        zoo.download("standard-s0", mirror=url)
    assert entries(cache) == []


def test_local_folder_as_mirror(mirror, cache, tmp_path):
    folder, _, counts = mirror
    assert zoo.download("standard-s0", mirror=str(folder)) == cache / "standard-s0"
    verify_export(cache / "standard-s0")
    assert not counts
    with pytest.raises(FileNotFoundError, match="No exported models"):
        zoo.pack(tmp_path / "nothing_exported", tmp_path / "out")


def test_a_folder_of_exports_without_an_index_is_listed(tiny_export, tmp_path):
    """As `reproduce --exported DIR` analyses them, `list` shows them (not "No models")."""
    from ei_zoo.hub.index import list_models

    shutil.copytree(tiny_export, tmp_path / "zoo" / "standard-s0")
    listed = list_models(tmp_path / "zoo", cache_dir=tmp_path / "cache")
    assert list(listed["id"]) == ["standard-s0"] and list(listed["where"]) == ["exported"]
