"""ei_zoo.cli: user errors exit 2 with one line, checked before any work."""

import json
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

from conftest import run_python, serve_folder


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
