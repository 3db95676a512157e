"""ei_zoo.cli.parser: every command answers --help with its defaults, and the commands that
read files only never import TensorFlow."""

import shutil
import sys
import textwrap

import pytest

from ei_zoo.cli import main as cli_main

from conftest import REPO, run_python

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard")


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
    result = run_python([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    assert not any(noise in result.stderr for noise in NOISE), result.stderr


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
    result = run_python([sys.executable, "-c", code], REPO)
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


def test_explore_help_shows_the_explorers_own_default(capsys):
    """`--top`'s default is declared in the parser (for a fast --help) and must be the
    explorer's."""
    from ei_zoo.analysis.explore import TOP_K

    with pytest.raises(SystemExit):
        cli_main(["explore", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"responds to most (default: {TOP_K})" in text
