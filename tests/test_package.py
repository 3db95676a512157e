"""The package as installed: the README's test command in CI, no environment variable
changed by import, quiet start-up, every public name present."""

import re
import sys

import numpy as np
import pytest

import ei_zoo
from ei_zoo.cli import main as cli_main

from conftest import REPO, run_python


def test_ci_runs_the_readme_test_command_as_written():
    [command] = [line for line in (REPO / "README.md").read_text().splitlines()
                 if "python -m pytest" in line and line.startswith("python3 -m venv")]
    assert "TFDS_DATA_DIR=../shared/tensorflow_datasets" in command  # relative, as users type it
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest" in ci and "README.md" in ci
    assert "export TFDS_DATA_DIR" not in ci  # CI may not make the README's path absolute


def test_a_relative_data_dir_is_resolved_where_it_is_read_and_import_changes_no_variable(
        tmp_path):
    """The README's relative TFDS_DATA_DIR names the same folder however it is handed on;
    importing ei_zoo leaves the environment as it was (TensorFlow's own import sets
    variables of its own, such as TF2_BEHAVIOR, so it is imported first)."""
    (tmp_path / "data").mkdir()
    code = ("import os, tensorflow, tensorflow_datasets; before = dict(os.environ); "
            "import ei_zoo, ei_zoo.data; "
            "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items()); "
            "print(ei_zoo.data.resolve_data_dir())")
    result = run_python([sys.executable, "-c", code], tmp_path, {"TFDS_DATA_DIR": "data"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "data")


def test_commands_that_load_tensorflow_print_no_start_up_notices(tiny_export, tmp_path):
    result = run_python([sys.executable, "-m", "ei_zoo.cli", "download", "standard-s0",
                   "--mirror", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "cache")],
                  tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ei-zoo download: error:"), result.stderr


def test_the_lazy_public_names_are_all_there():
    """Every name `ei_zoo.__all__` lists resolves, and the lazy table lists no other."""
    assert set(ei_zoo._LAZY) <= set(ei_zoo.__all__)
    for name in ei_zoo.__all__:
        assert getattr(ei_zoo, name) is not None, name


def test_version_and_citation(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"ei-zoo {ei_zoo.__version__}"
    citation = (REPO / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(ei_zoo.__version__)}$", citation, re.M)
    assert "preferred-citation:" in citation and "year: 2019" in citation


def test_test_images_reads_the_split_in_order(cifar_dir):
    images, labels = ei_zoo.test_images(300, cifar_dir)
    assert images.shape == (300, 32, 32, 3) and images.dtype == "float32"
    assert labels.shape == (300,) and labels.dtype == "int64"
    batches = list(ei_zoo.data.test_dataset(100, cifar_dir, limit=300).as_numpy_iterator())
    np.testing.assert_array_equal(images, np.concatenate([x for x, _ in batches]))
    with pytest.raises(ValueError, match="from 1 to 10,000"):
        ei_zoo.test_images(10_001)
