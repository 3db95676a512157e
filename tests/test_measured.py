"""What analysis keeps beside an export (`ei_zoo.hub.measured`): apart from the export's own
files, under its own manifest, written as one unit, verified by every reader."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ei_zoo import analysis
from ei_zoo.analysis.explore import explore
from ei_zoo.analysis.measure import measure
from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    CLASS_TUNING,
    DRIVE,
    MEASURED,
    MEASURED_MANIFEST,
    PERTURBATION,
    RESPONSE_MOMENTS,
    file_hashes,
    unlisted_files,
)
from ei_zoo.hub.measured import read_measured, write_measured

TABLE = pd.DataFrame({"area": ["area3", "area4"], "share": [1 / 3, 0.048799999999999955]})


@pytest.fixture
def export(tiny_export, tmp_path):
    return shutil.copytree(tiny_export, tmp_path / "standard-s0")


def test_measures_live_apart_under_their_own_manifest(export):
    own = file_hashes(export, exclude=())
    write_measured(export, {DRIVE: TABLE, RESPONSE_MOMENTS: {"a": np.arange(3.0)}})
    assert file_hashes(export, exclude=()).items() >= own.items()  # own files unchanged
    kept = read_measured(export)
    assert set(kept) == {DRIVE, RESPONSE_MOMENTS}
    assert (export / MEASURED / DRIVE).read_text().splitlines()[1:] == [
        "area3,0.3333333", "area4,0.0488"]  # 7 significant digits, no float noise
    assert unlisted_files(export) == []
    manifest = json.loads((export / MEASURED / MEASURED_MANIFEST).read_text())
    assert manifest["model"] == "standard-s0" and set(manifest["files"]) == set(kept)


def test_a_kept_measure_is_replaced_only_when_asked_and_the_rest_is_kept(export):
    write_measured(export, {DRIVE: TABLE, CLASS_TUNING: TABLE})
    with pytest.raises(FileExistsError, match=r"already keeps drive.csv.*--overwrite"):
        write_measured(export, {DRIVE: TABLE.iloc[:1]})
    write_measured(export, {DRIVE: TABLE.iloc[:1]}, replace=True)
    kept = read_measured(export)
    assert set(kept) == {DRIVE, CLASS_TUNING}
    assert len(pd.read_csv(kept[DRIVE])) == 1 and len(pd.read_csv(kept[CLASS_TUNING])) == 2


def test_a_write_cut_short_leaves_the_previous_unit(export, monkeypatch):
    write_measured(export, {DRIVE: TABLE})
    before = file_hashes(export, exclude=())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "replace_folder", killed)
    with pytest.raises(KeyboardInterrupt):
        write_measured(export, {DRIVE: TABLE.iloc[:1], PERTURBATION: TABLE}, replace=True)
    assert file_hashes(export, exclude=()) == before
    assert [path.name for path in export.parent.iterdir()] == ["standard-s0"]  # no leftovers


@pytest.mark.parametrize("damage, message", [
    ("tamper", "drive.csv does not match its sha256"),
    ("remove", "drive.csv is missing"),
    ("metadata", "measured on another version of"),
    ("manifest", "manifest.json is missing or damaged"),
    ("unknown", "is not a measured manifest"),
])
def test_every_reader_refuses_kept_measures_that_do_not_verify(export, damage, message,
                                                               cifar_dir, tmp_path):
    write_measured(export, {DRIVE: TABLE, PERTURBATION: TABLE})
    where = export / MEASURED
    if damage == "tamper":
        (where / DRIVE).write_text("area,share\narea3,0.9\n")
    elif damage == "remove":
        (where / DRIVE).unlink()
    elif damage == "metadata":
        metadata = json.loads((export / "metadata.json").read_text())
        (export / "metadata.json").write_text(json.dumps({**metadata, "seed": 7}))
    elif damage == "manifest":
        (where / MEASURED_MANIFEST).write_text("{")
    else:
        manifest = json.loads((where / MEASURED_MANIFEST).read_text())
        manifest["files"]["notes.csv"] = "0" * 64
        (where / MEASURED_MANIFEST).write_text(json.dumps(manifest))
    for read in (lambda: read_measured(export),
                 lambda: measure(export, 100, data_dir=cifar_dir),
                 lambda: explore(export, tmp_path / "site", num_images=100,
                                 data_dir=cifar_dir)):
        with pytest.raises(ValueError, match=message) as refused:
            read()
        assert "\n" not in str(refused.value) and "--overwrite" in str(refused.value)
    assert not (tmp_path / "site").exists()


def test_an_unlisted_file_among_the_kept_measures_is_found(export):
    write_measured(export, {DRIVE: TABLE})
    (export / MEASURED / "notes.txt").write_text("not listed")
    assert unlisted_files(export) == [f"{MEASURED}/notes.txt"]


def test_measuring_again_on_one_machine_writes_the_same_bytes(export, cifar_dir, tmp_path):
    """The perturbation and class-tuning tables of two runs, as kept: byte for byte."""
    written = []
    for run in range(2):
        copy = shutil.copytree(export, tmp_path / f"run{run}" / "standard-s0")
        perturbation, tuning = analysis.perturb(copy, 200, data_dir=cifar_dir, verbose=False)
        write_measured(copy, {PERTURBATION: perturbation, CLASS_TUNING: tuning})
        written.append({name: path.read_bytes() for name, path in read_measured(copy).items()})
    assert written[0] == written[1]


def test_perturb_save_refuses_to_replace_kept_measures_before_any_work(export, capsys,
                                                                      monkeypatch):
    from ei_zoo.analysis import function
    from ei_zoo.cli import main as cli_main

    write_measured(export, {DRIVE: TABLE})
    before = file_hashes(export, exclude=())
    monkeypatch.setattr(function, "perturb", lambda *args, **kwargs: pytest.fail("worked"))
    assert cli_main(["perturb", str(export), "--save"]) == 2
    error = capsys.readouterr().err.strip()
    assert "already keeps drive.csv" in error and "--overwrite" in error
    assert "\n" not in error and "Traceback" not in error
    assert file_hashes(export, exclude=()) == before
