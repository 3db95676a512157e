"""The package as installed: the README's test command in CI, no environment variable
changed by import, quiet start-up, every public name present."""

import sys

import ei_zoo

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
    importing ei_zoo leaves the environment as it was."""
    (tmp_path / "data").mkdir()
    code = ("import os; before = dict(os.environ); import ei_zoo, ei_zoo.data; "
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
