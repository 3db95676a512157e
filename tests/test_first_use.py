"""What a new user meets first (issue 11): the README's commands, one-line errors
instead of tracebacks, quiet and fast start-up, model cards, a crash-safe cache."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ei_zoo
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import bundle, zoo
from ei_zoo.training.recipe import train_and_export

from conftest import serve_folder

REPO = Path(__file__).resolve().parents[1]
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard")


def _run(args, cwd, env=None, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


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
    result = _run([sys.executable, "-c", code], tmp_path, {"TFDS_DATA_DIR": "data"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "data")


def test_help_and_file_commands_do_not_import_tensorflow(tiny_export, tmp_path):
    """`--help`, `variants`, `list`, `info` and `index` answer without Keras or TensorFlow."""
    exported = tmp_path / "exported"
    shutil.copytree(tiny_export, exported / "standard-s0")
    code = textwrap.dedent(f"""
        import contextlib, io, sys
        from ei_zoo.cli import main
        for argv in (["--help"], ["train", "--help"], ["variants"],
                     ["index", "--exported", {str(exported)!r}],
                     ["list", "--exported", {str(exported)!r}],
                     ["info", {str(exported / "standard-s0")!r}]):
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main(argv)
                except SystemExit as stop:
                    assert stop.code == 0, argv
        print(sorted(name for name in ("keras", "tensorflow", "jax") if name in sys.modules))
    """)
    result = _run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    assert not any(noise in result.stderr for noise in NOISE), result.stderr


def test_commands_that_load_tensorflow_print_no_start_up_notices(tiny_export, tmp_path):
    result = _run([sys.executable, "-m", "ei_zoo.cli", "download", "standard-s0",
                   "--mirror", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "cache")],
                  tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ei-zoo download: error:"), result.stderr


def test_every_command_line_answers_help():
    """`--help` works for every `ei-zoo` command, recipe and benchmark script.

    argparse formats help text with `%`: a literal percent sign in a help string
    (such as an f-string's `{x:.0%}`) is a traceback on `--help`, not a help page.
    """
    scripts = sorted(str(path) for folder in ("recipes", "benchmarks")
                     for path in (REPO / folder).glob("*.py")
                     if "__main__" in path.read_text())
    code = textwrap.dedent(f"""
        import argparse, contextlib, io, runpy, sys
        from ei_zoo.cli import build_parser, main
        commands = next(action for action in build_parser()._actions
                        if isinstance(action, argparse._SubParsersAction)).choices
        failures = []
        def answers(run, label):
            with contextlib.redirect_stdout(io.StringIO()) as page:
                try:
                    run()
                except SystemExit as stop:
                    if stop.code == 0 and "usage:" in page.getvalue():
                        return
                except Exception as error:
                    failures.append(f"{{label}}: {{type(error).__name__}}: {{error}}")
                    return
            failures.append(label)
        for command in sorted(commands):
            answers(lambda: main([command, "--help"]), f"ei-zoo {{command}} --help")
        for script in {scripts!r}:
            sys.argv = [script, "--help"]
            sys.path.insert(0, script.rsplit("/", 1)[0])
            answers(lambda: runpy.run_path(script, run_name="__main__"), script)
        print(len(commands), failures)
    """)
    result = _run([sys.executable, "-c", code], REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    count, failures = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(count) >= 10 and len(scripts) >= 9
    assert failures == "[]", failures


def test_subcommand_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("--seed SEED seeds the weights, the data order and the augmentation "
                    "(default: 0)", "(default: 10)", "(default: mixed_bfloat16)",
                    "(default: exported)", "(default: runs)"):
        assert default in text, default


def test_variants_parameter_counts_match_the_built_networks():
    for name in ei_zoo.list_variants():
        if "." in name:  # a study variant: its base's parameters
            continue
        config = ei_zoo.get_config(name)
        assert config.parameter_count() == ei_zoo.build_model(config).count_params(), name
    plain = ei_zoo.get_config("standard").replace(front_end_norm="none", kernel_size=5)
    assert plain.parameter_count() == ei_zoo.build_model(plain).count_params()


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
        result = _run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 137, result.stderr[-2000:]
    assert not (cache / "standard-s0").exists()  # killed between the renames
    assert zoo.resolve("standard-s0") == cache / "standard-s0"
    bundle.verify_export(cache / "standard-s0")
    assert sorted(path.name for path in cache.iterdir()) == ["standard-s0"]


def test_export_of_a_finished_run(cifar_dir, tmp_path):
    """The README's `ei-zoo export runs/<id>` works on a run that finished normally."""
    from ei_zoo import training

    config = training.TrainingConfig(epochs=1, limit=128, batch_size=64, test_limit=256)
    train_and_export("standard", config, out=tmp_path / "exported",
                     work_dir=tmp_path / "runs", data_dir=cifar_dir, verbose=0)
    assert cli_main(["export", str(tmp_path / "runs" / "standard-s0"), "--out",
                     str(tmp_path / "again"), "--data-dir", cifar_dir]) == 0
    first, again = (bundle.read_metadata(tmp_path / folder / "standard-s0")
                    for folder in ("exported", "again"))
    assert first["files"]["connectivity.npz"] == again["files"]["connectivity.npz"]
    assert [entry["id"] for entry in json.loads(
        (tmp_path / "exported" / "index.json").read_text())["models"]] == ["standard-s0"]


def test_the_lazy_public_names_are_all_there():
    """Every name `ei_zoo.__all__` lists resolves, and the lazy table lists no other."""
    assert set(ei_zoo._LAZY) <= set(ei_zoo.__all__)
    for name in ei_zoo.__all__:
        assert getattr(ei_zoo, name) is not None, name


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

    analysis.compare([tiny_export, tiny_export], num_images=250, reference=tiny_export,
                     data_dir=cifar_dir)
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1] == "500/500 images" and "\x1b" not in err
