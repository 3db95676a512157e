"""ei_zoo.cli.commands as a user runs them: one run per run folder, results on stdout and
progress on stderr, Ctrl-C, a quiet API, cached models listed, README examples that
cannot replace a shipped network."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import ei_zoo
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    MEASURED_FILES,
    export_folders,
    file_hashes,
    parse_model_id,
    verify_export,
)
from ei_zoo.hub.index import list_models, read_index
from ei_zoo.hub.measured import read_measured
from ei_zoo.training.recipe import export_run, train_and_export
from ei_zoo.training.run_folder import read_checkpoint
from ei_zoo.training.settings import TrainingConfig

from conftest import REPO, TINY, entries, hashes

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard")


def _env(cifar_dir=None, **extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a user has: nothing set
    if cifar_dir is not None:
        env["TFDS_DATA_DIR"] = cifar_dir
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _cli(*args):
    return [sys.executable, "-m", "ei_zoo.cli", *map(str, args)]


def test_a_second_run_on_a_run_folder_refuses_at_once_and_a_killed_one_frees_it(cifar_dir,
                                                                               tmp_path):
    run_dir = tmp_path / "runs" / "standard-s0"
    config = TrainingConfig(epochs=1, limit=128, test_limit=256)
    run_dir.mkdir(parents=True)
    files.write_json(run_dir / "run.json", {"network": ei_zoo.get_config("standard").to_dict(),
                                            "training": config.to_dict()})
    with files.folder_lock(run_dir, "another training run", "wait"):
        with pytest.raises(ValueError, match=rf"{run_dir} is in use by another training run "
                                             rf"\(pid {os.getpid()} on .*, since .*\); wait"):
            train_and_export("standard", config, out=tmp_path / "exported",
                             work_dir=tmp_path / "runs", data_dir=cifar_dir)
        with pytest.raises(ValueError, match="is in use by another training run"):
            export_run(run_dir, out=tmp_path / "exported")
    # Nothing but the run's own file and the lock's.
    assert {path.name for path in run_dir.iterdir()} - {".lock", ".lock.holder"} == {"run.json"}

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ei_zoo.hub import files\n"
         f"with files.folder_lock({str(run_dir)!r}, 'a run', 'wait'):\n"
         "    print('locked', flush=True); time.sleep(600)"],
        env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match=rf"in use by a run \(pid {holder.pid} on "):
            with files.folder_lock(run_dir, "a run", "wait"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with files.folder_lock(run_dir, "a run", "wait"):  # the OS freed it with its holder
        pass


def test_train_and_export_write_results_to_stdout_and_plain_progress_to_stderr(cifar_dir,
                                                                               tmp_path):
    """Off a terminal: stdout holds the one-line result, stderr Keras's per-epoch lines
    without ANSI codes; the history has the test curve; the default --out stays clean."""
    train = subprocess.run(
        _cli("train", "--precision", "float32",
             "--epochs", "2", "--limit", "128", "--test-limit", "256", "--batch-size",
             "64", "--out", tmp_path / "mine", "--work-dir", tmp_path / "runs"),
        cwd=REPO, env=_env(cifar_dir), capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    assert re.fullmatch(r"standard-s0: test accuracy \d\.\d{4} after 2 epochs \(\d+ s\); "
                        r"exported to .*mine/standard-s0\n", train.stdout), train.stdout
    assert "\x1b" not in train.stdout + train.stderr
    assert "Epoch 1/2" in train.stderr and re.search(r"2/2 - \d+s - ", train.stderr)
    history = (tmp_path / "mine" / "standard-s0" / "history.csv").read_text().splitlines()
    assert "test_accuracy" in history[0].split(",") and len(history) == 3

    export = subprocess.run(
        _cli("export", tmp_path / "runs" / "standard-s0", "--out", tmp_path / "again"),
        cwd=tmp_path, env=_env(cifar_dir), capture_output=True, text=True, timeout=600)
    assert export.returncode == 0, export.stderr[-3000:]
    assert export.stdout.count("\n") == 1 and "exported to" in export.stdout
    assert "\x1b" not in export.stdout + export.stderr and not any(
        noise in export.stderr for noise in NOISE)


def test_download_progress_off_a_terminal_is_plain(tiny_export, tmp_path):
    shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    assert cli_main(["pack", "--exported", str(tmp_path / "exported"), "--out",
                     str(tmp_path / "mirror")]) == 0
    result = subprocess.run(
        _cli("download", "standard-s0", "--mirror", tmp_path / "mirror", "--cache-dir",
             tmp_path / "cache"),
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'cache' / 'standard-s0'}\n"
    assert "\x1b" not in result.stderr and "Downloading file://" in result.stderr


def _interrupt(command, ready, cwd, env):
    """Run `command`, send Ctrl-C (SIGINT) once `ready(stderr so far)`; (code, stderr)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen += line
            if ready(seen):
                process.send_signal(signal.SIGINT)
                break
        seen += process.stderr.read()
        return process.wait(60), seen
    finally:
        process.kill()


def test_ctrl_c_ends_train_and_analyze_with_one_line_and_status_130(tiny_export, cifar_dir,
                                                                    tmp_path):
    code, err = _interrupt(
        _cli("train", "--precision", "float32",
             "--epochs", "3", "--limit", "2048", "--test-limit", "256", "--batch-size",
             "64", "--out",
             tmp_path / "mine", "--work-dir", tmp_path / "runs"),
        lambda seen: "Epoch 2/3" in seen, tmp_path, _env(cifar_dir))
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        "ei-zoo train: interrupted; the run keeps its last finished epoch: run the same "
        "command again to resume")
    assert read_checkpoint(tmp_path / "runs" / "standard-s0" / "backup")[0] == 1
    assert not (tmp_path / "mine").exists()

    code, err = _interrupt(
        _cli("analyze", tiny_export, "--reference", tiny_export, "--out", tmp_path / "results"),
        lambda seen: "images" in seen, tmp_path, _env(cifar_dir))
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "ei-zoo analyze: interrupted; nothing was written"
    assert not (tmp_path / "results").exists()


# `ei-zoo analyze` whose figures take long: Ctrl-C comes while its folder is written.
SLOW_FIGURES = """
import sys, time
import ei_zoo.paper.figures
from ei_zoo.cli import console

def slow(*args, **kwargs):
    print("writing figures", file=sys.stderr, flush=True)
    time.sleep(600)

ei_zoo.paper.figures.figure_threshold_sensitivity = slow
sys.argv = ["ei-zoo", *sys.argv[1:]]
console()
"""


def test_ctrl_c_while_analyze_writes_leaves_its_out_as_it_was(tiny_export, cifar_dir, tmp_path):
    """Issue 34 (#11): Ctrl-C after the table is written but before the figures leaves
    an earlier analysis whole, with none of the new files beside it, and says so."""
    argv = ["analyze", str(tiny_export), "--reference", str(tiny_export), "--images", "100",
            "--data-dir", cifar_dir, "--out", str(tmp_path / "results")]
    assert cli_main(argv) == 0
    before = hashes(tmp_path / "results")
    assert {"standard-s0/table.csv", "standard-s0/thresholds.json"} <= set(before)
    again = [*argv[:4], "--images", "60", *argv[6:]]  # a table other than the earlier one
    code, err = _interrupt([sys.executable, "-c", SLOW_FIGURES, *again],
                           lambda seen: "writing figures" in seen, tmp_path, _env(cifar_dir))
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "ei-zoo analyze: interrupted; nothing was written"
    assert hashes(tmp_path / "results") == before
    assert entries(tmp_path) == ["results"] and entries(tmp_path / "results") == ["standard-s0"]


def test_import_and_load_are_quiet(tiny_export, tmp_path):
    code = ("import numpy as np, ei_zoo\n"
            f"model = ei_zoo.load({str(tiny_export)!r})\n"
            "model.predict(np.full((2, 32, 32, 3), 100.0, 'float32'), verbose=0)\n"
            f"ei_zoo.load({str(tiny_export)!r}, format='saved_model')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not any(noise in result.stderr for noise in NOISE), result.stderr


def test_list_shows_the_cached_models_too(tiny_export, tmp_path, capsys):
    shutil.copytree(tiny_export, tmp_path / "cache" / "standard-s0")
    (tmp_path / "exported").mkdir()
    models = list_models(tmp_path / "exported", tmp_path / "cache")
    assert models["id"].tolist() == ["standard-s0"] and models["where"].tolist() == ["cache"]
    assert cli_main(["list", "--exported", str(tmp_path / "exported"), "--cache-dir",
                     str(tmp_path / "cache")]) == 0
    assert re.search(r"standard-s0 .* cache", capsys.readouterr().out)
    assert cli_main(["list", "--study", "--exported", str(tmp_path / "exported"),
                     "--cache-dir", str(tmp_path / "cache")]) == 0
    assert capsys.readouterr().out.startswith("No models listed")


def test_readme_examples_never_write_into_the_shipped_zoo():
    """Every `ei-zoo train` or `export` the README and the docs show names its own --out,
    and no example passes --overwrite (the synopsis lists it as optional): run from the
    repository's root, none can touch exported/."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    blocks = [block for page in pages
              for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S)]
    commands = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()
                if re.search(r"ei-zoo (train|export) ", line)]
    assert len(commands) >= 4
    for line in commands:
        out = re.search(r"--out (\S+)", line)
        assert out and not out.group(1).strip("[]/").startswith("exported"), line
        assert "--overwrite" not in line.replace("[--overwrite]", ""), line  # shown as optional


def _tiny_exports(folder):
    """Three untrained tiny exports and their index in `folder`; `standard-s0`, with twice
    the PN channels, costs more than the other two together."""
    from ei_zoo.hub.export import export_model
    from ei_zoo.hub.index import write_index

    images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    for identifier, principal in (("inh_pn-s0", 8), ("standard-s0", 16), ("standard-s1", 8)):
        variant, seed = parse_model_id(identifier)
        keras.utils.set_random_seed(seed)
        model = ei_zoo.build_model(variant, **{**TINY, "principal": principal})
        ei_zoo.balance_biases(model, images)
        export_model(model, folder / identifier, metadata={"seed": seed, "test_accuracy": 0.1})
    write_index(folder)


def test_perturb_zoo_save_in_two_array_tasks_measures_every_export_once(cifar_dir, tmp_path):
    """recipes/perturb_zoo.sbatch as two tasks of a SLURM job array, side by side on one
    folder of exports: each measures and keeps the tables of its shard (balanced by cost,
    not dealt by name), together every export once, and the index lists every change."""
    exported = tmp_path / "exported"
    _tiny_exports(exported)
    env = _env(cifar_dir, SLURM_SUBMIT_DIR=str(REPO), SLURM_ARRAY_TASK_COUNT="2",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    tasks = [subprocess.Popen(
        ["bash", str(REPO / "recipes" / "perturb_zoo.sbatch"), "--exported", str(exported)],
        env={**env, "SLURM_ARRAY_TASK_ID": str(task)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for task in range(2)]
    outputs = []
    for task in tasks:
        out, err = task.communicate(timeout=600)
        assert task.returncode == 0, err[-2000:]
        outputs.append(out)
    measured = [re.findall(r"^== (\S+)$", out, re.M) for out in outputs]
    kept = [re.findall(r"^Kept in \S+/(\S+) \(", out, re.M) for out in outputs]
    assert measured == kept == [["standard-s0"], ["inh_pn-s0", "standard-s1"]]
    index = {entry["id"]: entry for entry in read_index(exported / "index.json")}
    for folder in export_folders(exported):
        verify_export(folder)
        assert set(read_measured(folder)) == set(MEASURED_FILES)
        assert index[folder.name]["files"] == file_hashes(folder, exclude=())
