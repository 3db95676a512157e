"""ei_zoo.cli: user errors exit 2 with one line, checked before any work."""

import errno
import json
import os
import re
import shutil
import sys
import textwrap

import numpy as np
import pytest

import ei_zoo
from ei_zoo.cli import main
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import bundle, zoo
from ei_zoo.training.recipe import train_and_export

from conftest import TINY, entries, hashes, run_python, serve_folder


@pytest.mark.parametrize("where", ["file", "read_only"])
def test_train_refuses_an_unwritable_out_before_training(where, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    if where == "file":
        out.write_text("not a folder")
        expected = r"--out .*out: .*out is a file, not a folder; choose a folder path\."
    else:
        import errno
        import tempfile

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
        expected = r"--out .*out cannot be written \(read-only file system\); choose a writable"
    assert cli_main(["train", "--epochs", "1", "--limit", "64", "--batch-size", "32", "--out",
                     str(out),
                     "--work-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert re.search(expected, error) and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "runs" / "standard-s0").exists()  # nothing started


@pytest.mark.parametrize("images, message", [
    (np.zeros((0, 32, 32, 3), "float32"), r"shape \(0, 32, 32, 3\).*N >= 1"),
    (np.zeros((32, 32, 3), "float32"), r"rank 3.*add a batch axis: images\[None\]"),
    (np.zeros((2, 64, 64, 3), "float32"),
     r"shape \(2, 64, 64, 3\); this network takes \[N, 32, 32, 3\]"),
    (np.zeros((2, 32, 32, 3), "int32"), r"dtype int32"),
])
def test_loaded_models_check_their_images(tiny_export, images, message):
    for entry in (ei_zoo.load(tiny_export).predict,
                  ei_zoo.load(tiny_export, format="saved_model").serve,
                  ei_zoo.load(tiny_export, format="saved_model").activations):
        with pytest.raises(ValueError, match=message):
            entry(images)
    served = ei_zoo.load(tiny_export, format="saved_model")
    good = np.zeros((2, 32, 32, 3), "uint8")
    assert served.serve(good).shape == (2, 10)
    assert ei_zoo.load(tiny_export).predict(good, verbose=0).shape == (2, 10)


def test_a_damaged_metadata_file_names_the_file_and_the_fix(tiny_export, tmp_path, capsys):
    folder = tmp_path / "standard-s0"
    shutil.copytree(tiny_export, folder)
    text = (folder / "metadata.json").read_text()
    (folder / "metadata.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"metadata.json is damaged .*re-download or re-export"):
        bundle.read_metadata(folder)
    assert cli_main(["info", str(folder)]) == 2
    assert "metadata.json is damaged" in capsys.readouterr().err


def test_analyze_refuses_more_images_than_the_test_split(capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["analyze", "standard-s0", "--images", "999999"])
    assert stop.value.code == 2
    assert "999999 is more than the 10,000 CIFAR-10 test images" in capsys.readouterr().err


def test_every_export_has_a_model_card(tiny_export, tmp_path, capsys):
    card = (tiny_export / "README.md").read_text()
    front = card.split("---")[1]
    for line in ("license: cc-by-4.0", "library_name: keras", "- cifar10", "type: accuracy",
                 "value: 0.125"):
        assert line in front, line
    for section in ("## Intended use", "## Training", "## Cell types", "## How to load it",
                    "## Limitations", "## Citation"):
        assert section in card, section
    assert "README.md" in bundle.read_metadata(tiny_export)["files"]  # verified like the rest
    assert cli_main(["info", str(tiny_export), "--card"]) == 0
    assert capsys.readouterr().out.strip() == card.strip()

    # pack ships it.
    import tarfile

    mirror = zoo.pack(tiny_export.parent, tmp_path / "mirror")
    with tarfile.open(mirror / "standard-s0.tar.gz") as tar:
        assert "standard-s0/README.md" in tar.getnames()


def test_a_download_killed_between_its_renames_keeps_the_cached_copy(tiny_export, cache,
                                                                     tmp_path):
    """The replaced copy waits beside the cache entry, and the next look-up puts it back."""
    exported = tmp_path / "exported"
    shutil.copytree(tiny_export, exported / "standard-s0")
    mirror = zoo.pack(exported, tmp_path / "mirror")
    with serve_folder(mirror) as (url, _):
        zoo.download("standard-s0", mirror=url)
        code = textwrap.dedent(f"""
            import os, pathlib
            from ei_zoo.hub import zoo
            rename = pathlib.Path.rename
            def killed_after_the_first(self, target):
                result = rename(self, target)
                if pathlib.Path(target).name.endswith(".old"):
                    os._exit(137)  # like SIGKILL: no clean-up runs
                return result
            pathlib.Path.rename = killed_after_the_first
            zoo.download("standard-s0", mirror={url!r})
        """)
        result = run_python([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 137, result.stderr[-2000:]
    assert not (cache / "standard-s0").exists()  # killed between the renames
    assert zoo.resolve("standard-s0") == cache / "standard-s0"
    bundle.verify_export(cache / "standard-s0")
    assert sorted(path.name for path in cache.iterdir()) == ["standard-s0"]


def test_export_of_a_finished_run(cifar_dir, tmp_path):
    """The README's `ei-zoo export runs/<id>` works on a run that finished normally."""
    from ei_zoo.training.settings import TrainingConfig

    config = TrainingConfig(epochs=1, limit=128, batch_size=64, test_limit=256)
    train_and_export("standard", config, out=tmp_path / "exported",
                     work_dir=tmp_path / "runs", data_dir=cifar_dir, verbose=0)
    assert cli_main(["export", str(tmp_path / "runs" / "standard-s0"), "--out",
                     str(tmp_path / "again"), "--data-dir", cifar_dir]) == 0
    first, again = (bundle.read_metadata(tmp_path / folder / "standard-s0")
                    for folder in ("exported", "again"))
    assert first["files"]["connectivity.npz"] == again["files"]["connectivity.npz"]
    assert [entry["id"] for entry in json.loads(
        (tmp_path / "exported" / "index.json").read_text())["models"]] == ["standard-s0"]


def test_progress_goes_to_stderr_as_plain_lines(tiny_export, cifar_dir, tmp_path, capsys):
    """Results on stdout, progress on stderr; off a terminal, no ANSI codes; the Python
    API shows progress too."""
    from ei_zoo import analysis

    assert cli_main(["analyze", str(tiny_export), "--images", "500", "--reference",
                     str(tiny_export), "--out", str(tmp_path), "--data-dir", cifar_dir]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err
    assert re.search(r"standard-s0: 500/500 images", err) and "images" not in out.split(
        "Measured on")[0]
    assert "Measured on the first 500 CIFAR-10 test images" in out

    analysis.compare([tiny_export], num_images=250, reference=tiny_export, data_dir=cifar_dir)
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1] == "250/250 images" and "\x1b" not in err


def test_variants_lists_every_variant_with_its_size(capsys):
    assert main(["variants"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["variant", "dale", "PN", "IG", "OG", "timesteps"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == set(ei_zoo.list_variants())
    config = ei_zoo.get_config("ratio_4_1")
    assert rows["ratio_4_1"] == ["standard", str(config.principal), str(config.input_gating),
                                 str(config.output_gating), str(config.timesteps)]


@pytest.mark.parametrize("argv, message", [
    (["train", "--variant", "standrad", "--epochs", "1"], "Did you mean standard"),
    (["train", "--data-dir", "/nonexistent/tfds", "--epochs", "1"], "TFDS_DATA_DIR"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ei_zoo.data._host_reachable", lambda *a, **k: False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "exported").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["frobnicate"],
                                  ["train", "--batch-size", "x"]])
def test_argument_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


@pytest.fixture
def finished_run(tmp_path):
    """`runs/standard-s0` as `ei-zoo train` leaves a finished one-epoch run of a tiny
    network, made without training (its checkpoint holds the initial weights)."""
    import pandas as pd

    from ei_zoo.hub import files
    from ei_zoo.network.models import resolve_config
    from ei_zoo.training.fit import prepare_model
    from ei_zoo.training.run_folder import start_run
    from ei_zoo.training.settings import TrainingConfig

    network = resolve_config("standard", **TINY)
    config = TrainingConfig(epochs=1, limit=64, batch_size=32, test_limit=64,
                            precision="float32")
    run_dir = tmp_path / "runs" / "standard-s0"
    start_run(run_dir, network, config)
    model = prepare_model(network, config)
    model.optimizer.build(model.trainable_variables)
    (run_dir / "backup").mkdir()
    model.save_weights(run_dir / "backup" / "epoch-1.weights.h5")
    files.write_json(run_dir / "backup" / "training_metadata.json",
                     {"epoch": 1, "weights": "epoch-1.weights.h5"})
    pd.DataFrame({"epoch": [0], "accuracy": [0.1], "loss": [2.3], "epoch_seconds": [1.0],
                  "test_accuracy": [0.1], "test_loss": [2.3]}).to_csv(run_dir / "history.csv",
                                                                       index=False)
    return run_dir


def test_export_beside_a_damaged_export_warns_and_exports(finished_run, tiny_export, cifar_dir,
                                                          tmp_path):
    """Issue 34 (#13): another network's damaged export in --out is named in a warning and
    left out of the index; it never fails this export."""
    out = tmp_path / "o13"
    damaged = shutil.copytree(tiny_export, out / "inh_pn-s3")
    weights = bytearray((damaged / "connectivity.npz").read_bytes())
    weights[-100] ^= 0xFF
    (damaged / "connectivity.npz").write_bytes(bytes(weights))
    with pytest.warns(UserWarning, match=r"o13/inh_pn-s3 is left out of index\.json: .*"
                                         r"connectivity\.npz does not match its sha256"):
        assert cli_main(["export", str(finished_run), "--out", str(out), "--data-dir",
                         cifar_dir]) == 0
    bundle.verify_export(out / "standard-s0")
    assert [entry["id"] for entry in json.loads((out / "index.json").read_text())["models"]] \
        == ["standard-s0"]


DISK_FULL, READ_ONLY = errno.ENOSPC, errno.EROFS


def _fails(code):
    def write(*args, **kwargs):
        raise OSError(code, os.strerror(code))  # as a failed write or fsync: no file named
    return write


@pytest.mark.parametrize("command, code", [
    ("download", DISK_FULL), ("download", READ_ONLY), ("pack", DISK_FULL), ("pack", READ_ONLY),
    ("index", DISK_FULL), ("index", READ_ONLY), ("export", DISK_FULL), ("perturb", READ_ONLY)])
def test_a_full_or_read_only_disk_is_one_line_and_nothing_half_written(
        command, code, request, tiny_export, cache, tmp_path, monkeypatch, capsys):
    """Issue 34 (#14): the OSError of a disk that fills up or is read-only while a command
    writes is one line naming what was being written and the fix, exit 2, and what was
    there before is as it was."""
    from ei_zoo.hub import files

    exported = tmp_path / "exported"
    shutil.copytree(tiny_export, exported / "standard-s0")
    export = exported / "standard-s0"
    before = hashes(tmp_path)
    fix = "free space there" if code == DISK_FULL else "make it writable"
    if command == "download":
        zoo.pack(exported, tmp_path / "mirror")
        before = hashes(tmp_path)
        monkeypatch.setattr(zoo, "extract_archive", _fails(code))
        argv = ["download", "standard-s0", "--mirror", str(tmp_path / "mirror")]
        written, fix = cache / "standard-s0", f"{fix} or choose another --cache-dir"
    elif command == "pack":
        monkeypatch.setattr(zoo, "write_archive", _fails(code))
        argv = ["pack", "--exported", str(exported), "--out", str(tmp_path / "mirror")]
        written, fix = tmp_path / "mirror" / "standard-s0.tar.gz", f"{fix} or choose another --out"
    elif command == "index":
        monkeypatch.setattr(files, "sync", _fails(code))
        argv = ["index", "--exported", str(exported)]
        written, fix = exported / "index.json", f"{fix} or choose another --exported"
    elif command == "export":
        run = request.getfixturevalue("finished_run")
        before = hashes(tmp_path)
        monkeypatch.setattr(files, "sync", _fails(code))  # metadata.json, the export's last file
        argv = ["export", str(run), "--out", str(tmp_path / "o"), "--data-dir",
                request.getfixturevalue("cifar_dir")]
        written, fix = tmp_path / "o" / "standard-s0", f"{fix} or choose another --out"
    else:
        monkeypatch.setattr("ei_zoo.cli.commands.TEST_IMAGES", 50)  # a short --save
        monkeypatch.setattr(files, "sync", _fails(code))
        argv = ["perturb", str(export), "--save", "--images", "50", "--data-dir",
                request.getfixturevalue("cifar_dir")]
        written = export / "measured"
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines()
             if not re.fullmatch(r"Downloading \S+|\S+: \d+/\d+ \w+", line)]
    assert lines == [f"ei-zoo {command}: error: {os.strerror(code)} writing {written}; {fix}."], err
    if command == "pack":
        assert entries(tmp_path / "mirror") == []  # no archive, whole or partial
        (tmp_path / "mirror").rmdir()
    assert _unlocked(hashes(tmp_path)) == _unlocked(before)  # nothing written, nothing lost
    assert not [path for path in tmp_path.rglob(".*") if ".lock" not in path.name]


def _unlocked(found):
    """`hashes` without the run folder's lock files."""
    return {name: sha for name, sha in found.items() if ".lock" not in name}


def test_index_refuses_a_read_only_folder_before_hashing_the_exports(tiny_export, tmp_path,
                                                                     monkeypatch, capsys):
    import tempfile

    from ei_zoo.hub import index

    shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    monkeypatch.setattr(tempfile, "TemporaryFile", _fails(READ_ONLY))
    monkeypatch.setattr(index, "index_entry", lambda folder: pytest.fail("hashed"))
    assert cli_main(["index", "--exported", str(tmp_path / "exported")]) == 2
    assert re.fullmatch(r"ei-zoo index: error: --exported \S+ cannot be written \(read-only "
                        r"file system\); choose a writable folder\.\n", capsys.readouterr().err)
