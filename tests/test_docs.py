"""The README's and the documentation's code blocks: every Python block runs as written,
each in a fresh interpreter started in an empty folder (as a reader pastes it), and writes
nothing there; every `ei-zoo` command line of a shell block is one the program accepts."""

import re
import shlex
import sys

import pytest

from ei_zoo.cli.parser import build_parser

from conftest import REPO, run_python

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _blocks(language: str) -> list[tuple[str, str]]:
    return [(f"{page.relative_to(REPO)}#{number}", block)
            for page in PAGES
            for number, block in enumerate(
                re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S), 1)]


def _command_lines() -> list[tuple[str, str]]:
    """Each `ei-zoo ...` line of the shell blocks, comments cut, continuations joined."""
    return [(name, line.split("  #")[0].strip())
            for name, block in _blocks("bash")
            for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith(("ei-zoo ", "KERAS_BACKEND=jax ei-zoo "))]


def _synopsis(line: str) -> list[str]:
    """A synopsis as one concrete command: optional `[...]` parts kept, of `a|b` the first,
    placeholders as values (`N` as 1, `i/n` as 0/2)."""
    line = re.sub(r"\[([^\]]*)\]", lambda found: found.group(1).split(" | ")[0], line)
    words = [word.split("|")[0] for word in shlex.split(line)[1:] if word != "ei-zoo"]
    return [PLACEHOLDERS.get(word, word) for word in words]


PLACEHOLDERS = {"N": "1", "i/n": "0/2"}
PYTHON_BLOCKS = _blocks("python")


def test_the_pages_have_code_to_check():
    assert len(PYTHON_BLOCKS) >= 5 and len(_command_lines()) >= 15


def _state(folder) -> list[tuple[str, int, int]]:
    return sorted((str(path), path.stat().st_size, path.stat().st_mtime_ns)
                  for path in folder.rglob("*"))


@pytest.mark.parametrize("name, block", PYTHON_BLOCKS, ids=[name for name, _ in PYTHON_BLOCKS])
def test_python_block_runs_as_written(name, block, cifar_dir, tmp_path):
    """From a folder beside the shipped `exported/` (a link to it), as the pages say."""
    (tmp_path / "exported").symlink_to(REPO / "exported")
    before = _state(REPO / "exported")
    result = run_python([sys.executable, "-c", block], tmp_path,
                        {"TFDS_DATA_DIR": cifar_dir, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, f"{name}:\n{result.stderr[-3000:]}"
    assert [path.name for path in tmp_path.iterdir()] == ["exported"], f"{name} wrote files"
    assert _state(REPO / "exported") == before, f"{name} changed the shipped zoo"
    if name == "README.md#1":  # the quickstart prints what it says it prints
        assert "accuracy 0.8" in result.stdout and "area4        OG" in result.stdout


@pytest.mark.parametrize("name, line", _command_lines())
def test_shell_command_is_accepted(name, line):
    """Parsed by the program's own parser (some train for hours or need a cluster, so
    they are checked, not run)."""
    words = _synopsis(line.removeprefix("KERAS_BACKEND=jax "))
    try:
        build_parser().parse_args(words)
    except SystemExit as stopped:
        pytest.fail(f"{name}: `ei-zoo {' '.join(words)}` is refused (exit {stopped.code})")


def test_the_api_reference_covers_the_public_api():
    """Every name of `ei_zoo.__all__` and `ei_zoo.analysis.__all__` is on an API page,
    itself or through the module that defines it."""
    import importlib

    documented = set(re.findall(r"^::: (\S+)", "\n".join(
        page.read_text() for page in (REPO / "docs" / "api").glob("*.md")), re.M))
    missing = []
    for package in ("ei_zoo", "ei_zoo.analysis"):
        module = importlib.import_module(package)
        for name in module.__all__:
            home = getattr(module, name).__module__
            if not {f"{home}.{name}", home} & documented:
                missing.append(f"{package}.{name} ({home})")
    assert not missing, missing
