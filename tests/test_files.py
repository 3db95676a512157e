"""ei_zoo.hub.files: exports written whole or not at all, staging folders cleaned up."""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

import ei_zoo
import ei_zoo.hub.export
from ei_zoo.hub import files
from ei_zoo.hub.bundle import read_metadata, verify_export
from ei_zoo.hub.export import export_model
from ei_zoo.hub.files import staging_folder

from conftest import REPO, dead_pid, entries, hashes


def _half_written_saved_model(model, folder):
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\0" * 1000)
    raise OSError("No space left on device")


def _interrupted(model):
    raise KeyboardInterrupt  # Ctrl-C after the SavedModel and model.keras are written


@pytest.mark.parametrize("failure", ["saved_model", "interrupted", "metadata"])
def test_export_failing_midway_leaves_no_trace(failure, trained_tiny, tiny_export, tmp_path,
                                               monkeypatch):
    model, _ = trained_tiny
    models = tmp_path / "models"
    target = models / "standard-s0"
    metadata = {"seed": 1}
    if failure == "saved_model":
        monkeypatch.setattr(ei_zoo.hub.export, "_write_saved_model", _half_written_saved_model)
    elif failure == "interrupted":
        monkeypatch.setattr(ei_zoo.hub.export, "effective_weights", _interrupted)
    else:
        metadata["git"] = object()  # not JSON: fails while metadata.json is written
    raised = (OSError, KeyboardInterrupt, TypeError)

    with pytest.raises(raised):  # the first export of this model
        export_model(model, target, metadata=metadata)
    assert entries(models) == []

    shutil.copytree(tiny_export, target)  # a previous version
    before = hashes(target)
    with pytest.raises(raised):
        export_model(model, target, metadata=metadata)
    assert entries(models) == ["standard-s0"]
    assert hashes(target) == before
    verify_export(target)


def test_export_cleans_up_after_a_killed_writer(trained_tiny, tiny_export, tmp_path):
    model, _ = trained_tiny
    models = tmp_path / "models"
    models.mkdir()
    host, dead = socket.gethostname(), dead_pid()
    # Killed between moving the previous version aside and moving the new one in.
    shutil.copytree(tiny_export, models / f".standard-s0.tmp-{host}.{dead}.abcdefgh.old")
    (models / f".standard-s0.tmp-{host}.{dead}.abcdefgh").mkdir()
    (models / f".standard-s0.tmp-{host}.{dead}.ijklmnop").mkdir()  # killed while writing
    live = f".standard-s0.tmp-{host}.{os.getpid()}.qrstuvwx"  # a writer still at work
    elsewhere = f".standard-s0.tmp-node7.cluster.{dead}.yzyzyzyz"  # another machine's
    (models / live).mkdir()
    (models / elsewhere).mkdir()

    staging = staging_folder(models / "standard-s0")
    assert read_metadata(models / "standard-s0")["seed"] == 0  # the previous version is back
    verify_export(models / "standard-s0")
    assert entries(models) == sorted([elsewhere, live, staging.name, "standard-s0"])
    staging.rmdir()

    export_model(model, models / "standard-s0", metadata={"seed": 5})
    assert read_metadata(models / "standard-s0")["seed"] == 5
    assert entries(models) == sorted([elsewhere, live, "standard-s0"])


def test_a_failed_write_removes_the_folders_it_made_but_not_others(tmp_path):
    """A download that fails leaves no empty cache folder behind, nor a folder that other
    files had come to share; a finished one keeps its folders."""
    with pytest.raises(OSError), files.staging(tmp_path / "keras" / "ei_zoo" / "m"):
        raise OSError("refused")
    assert entries(tmp_path) == []
    with pytest.raises(OSError), files.staging(tmp_path / "keras" / "ei_zoo" / "m"):
        (tmp_path / "keras" / "other").write_text("x")
        raise OSError("refused")
    assert entries(tmp_path / "keras") == ["other"]
    with files.staging(tmp_path / "out" / "m") as staging:
        files.replace_folder(staging, tmp_path / "out" / "m")
    assert entries(tmp_path / "out") == ["m"]


def test_an_interrupt_removes_unfinished_staging_folders_but_not_finished_ones(tmp_path):
    """What `ei-zoo`'s Ctrl-C handler deletes before it exits: staging folders still
    being written, never one that `replace_folder` has begun to move into place."""
    with files.staging(tmp_path / "a") as writing, files.staging(tmp_path / "b") as moving:
        (writing / "half.csv").write_text("x")
        (moving / "whole.csv").write_text("y")
        files.replace_folder(moving, tmp_path / "b")
        files.remove_unfinished()
        assert not writing.exists()
        assert (tmp_path / "b" / "whole.csv").read_text() == "y"
    assert entries(tmp_path) == ["b"]


def test_an_interrupt_removes_the_folders_made_for_the_staging_folder(tmp_path):
    """Ctrl-C exits at once, so no `finally` runs: `remove_unfinished` removes the
    folders `staging` made to hold its folder too, where they are left empty."""
    with files.staging(tmp_path / "results" / "standard-s0"):
        files.remove_unfinished()
        assert entries(tmp_path) == []


def test_a_folder_replaces_a_file_and_leaves_nothing_hidden(tmp_path):
    (tmp_path / "standard-s0").write_text("a file")
    with files.staging(tmp_path / "standard-s0") as staging:
        (staging / "metadata.json").write_text("{}")
        files.replace_folder(staging, tmp_path / "standard-s0")
    assert entries(tmp_path) == ["standard-s0"]
    assert entries(tmp_path / "standard-s0") == ["metadata.json"]


RESULTS = files.OutputFolder(".results_marker", "a results folder")


def test_an_output_folder_replaces_only_an_earlier_one_of_its_kind(tmp_path):
    """Missing, empty or an earlier one of its kind: replaced whole (no file of the earlier
    one stays); a folder of the user's, a file, or an earlier one holding something it
    did not write: refused, and left as it was."""
    out = tmp_path / "results"
    with RESULTS.writing(out) as folder:
        (folder / "perturbation.csv").write_text("old")
        (folder / "figures").mkdir()
    assert entries(out) == [".results_marker", "figures", "perturbation.csv"]
    with RESULTS.writing(out) as folder:  # a run that finds no perturbation table
        (folder / "claims.md").write_text("new")
    assert entries(out) == [".results_marker", "claims.md"]
    assert entries(tmp_path) == ["results"]  # no staging folder, no earlier version

    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"--out .*results holds notes\.txt, which is not "
                                         r"part of a results folder and would be lost"):
        RESULTS.check(out)
    mine, afile = tmp_path / "thesis", tmp_path / "file"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("work")
    afile.write_text("x")
    for folder in (mine, afile):
        with pytest.raises(ValueError, match=r"exists and is not a results folder \(it has no "
                                             r"valid \.results_marker\), which would be replaced"):
            with RESULTS.writing(folder):
                pytest.fail("the block ran")
    assert (mine / "chapter1.tex").read_text() == "work" and afile.read_text() == "x"
    (tmp_path / "empty").mkdir()
    assert RESULTS.check(tmp_path / "empty") == tmp_path / "empty"


def test_an_output_folder_that_fails_midway_leaves_out_as_it_was(tmp_path):
    out = tmp_path / "results"
    with RESULTS.writing(out) as folder:
        (folder / "table.csv").write_text("old")
    before = hashes(out)
    with pytest.raises(KeyboardInterrupt), RESULTS.writing(out) as folder:
        (folder / "table.csv").write_text("new")
        raise KeyboardInterrupt
    assert hashes(out) == before and entries(tmp_path) == ["results"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_names_what_was_written(code, tmp_path, monkeypatch):
    def fails(path):
        raise OSError(code, os.strerror(code))  # as a failed write or fsync: no file named

    monkeypatch.setattr(files, "sync", fails)
    with pytest.raises(OSError) as raised:
        files.write_json(tmp_path / "index.json", {})
    assert raised.value.errno == code and raised.value.filename == str(tmp_path / "index.json")
    fix = "free space there" if code == errno.ENOSPC else "make it writable"
    assert files.disk_problem(raised.value, "--out") == (
        f"{os.strerror(code)} writing {tmp_path / 'index.json'}; {fix} or choose another --out.")
    with pytest.raises(OSError) as raised, files.staging(tmp_path / "out" / "m") as staging:
        files.write_json(staging / "a.json", {})
    assert raised.value.filename == str(tmp_path / "out" / "m")  # not the hidden staging folder
    assert entries(tmp_path) == []  # no partial file, no staging folder
    assert files.disk_problem(OSError(errno.ENOENT, "gone", "x")) is None


NO_FCNTL = """
import sys
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
import ei_zoo
from ei_zoo.hub import files
models = ei_zoo.list_models()
model = ei_zoo.load("standard-s0")
with files.folder_lock(sys.argv[1], "a run", "wait"):
    try:
        with files.folder_lock(sys.argv[1], "a run", "wait"):
            raise SystemExit("a second lock was granted")
    except ValueError as error:
        refused = str(error)
print(len(models), type(model).__name__, "in use by a run" in refused)
"""


def test_list_load_and_the_run_lock_work_without_fcntl(tiny_export, tmp_path):
    from ei_zoo.hub.index import write_index

    shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    write_index(tmp_path / "exported")
    result = subprocess.run(
        [sys.executable, "-c", NO_FCNTL, str(tmp_path / "run")],
        env={**os.environ, "PYTHONPATH": str(REPO), "EI_ZOO_EXPORTED": str(tmp_path / "exported"),
             "KERAS_HOME": str(tmp_path / "keras")},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-3:] == ["1", "EINetwork", "True"], result.stdout


WRITER = """
import json, sys
from ei_zoo.hub import files
path, me = sys.argv[1], sys.argv[2]
torn = 0
for count in range(300):
    files.write_json(path, {"writer": me, "count": count, "pad": "x" * 2000})
    try:
        json.loads(open(path).read())
    except (ValueError, FileNotFoundError):
        torn += 1
print(torn)
"""


def test_two_processes_writing_one_json_file_never_tear_it(tmp_path):
    path = tmp_path / "index.json"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name],
                                env={**os.environ, "PYTHONPATH": str(REPO)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("a", "b")]
    results = [writer.communicate(timeout=300) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["0", "0"]  # no torn read, no missing file
    assert json.loads(path.read_text())["count"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]  # no temporary file left
    assert oct(path.stat().st_mode & 0o777) == "0o644"
