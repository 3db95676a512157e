"""Shared test fixtures.

The real CIFAR-10 is the prepared TFDS data dir in `../shared/tensorflow_datasets`
(or `$TFDS_DATA_DIR`). Tests that need it are skipped where it is absent, except
when `EI_ZOO_REQUIRE_CIFAR=1` (CI sets it): then its absence is a failure.
"""

import collections
import contextlib
import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests start child processes in temporary folders: they get the README's relative
# TFDS_DATA_DIR as the absolute path it names here (ei_zoo itself changes no variable).
if os.environ.get("TFDS_DATA_DIR"):
    os.environ["TFDS_DATA_DIR"] = os.path.abspath(os.environ["TFDS_DATA_DIR"])

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "tensorflow_datasets"


def entries(folder):
    """The names in `folder`, sorted ([] where it does not exist)."""
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def hashes(folder):
    """sha256 of every file under `folder`, by its relative path."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="session", autouse=True)
def shipped_zoo_untouched():
    """The shipped `exported/` is byte-identical after the whole run: no test, example or
    tool may write into it."""
    before = hashes(REPO / "exported")
    yield
    assert hashes(REPO / "exported") == before, "a test changed the shipped exported/"


def dead_pid():
    """The id of a process of this host that has ended (and been reaped)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


def run_python(args, cwd, env=None, timeout=300):
    """A child process with the repository on its path; its CompletedProcess (text)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _real_data_dir():
    for candidate in (os.environ.get("TFDS_DATA_DIR"), SHARED_DATA):
        if candidate and (Path(candidate) / "cifar10").is_dir():
            return os.path.abspath(candidate)  # child processes may start in other folders
    return None


@pytest.fixture(scope="session")
def cifar_dir():
    """Path of a TFDS data dir holding the real CIFAR-10."""
    found = _real_data_dir()
    if found is None:
        message = f"real CIFAR-10 not found in $TFDS_DATA_DIR or {SHARED_DATA}"
        if os.environ.get("EI_ZOO_REQUIRE_CIFAR") == "1":
            pytest.fail(message + " (EI_ZOO_REQUIRE_CIFAR=1)")
        pytest.skip(message)
    return found


@pytest.fixture
def images():
    """A small batch of random raw-pixel images, [4, 32, 32, 3] float32 in 0-255."""
    return np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")


TINY = dict(principal=8, input_gating=2, output_gating=2, area1_channels=4, area2_channels=8,
            timesteps=2)


@pytest.fixture(scope="session")
def trained_tiny():
    """A tiny `standard` network after a few training steps, and its `History`.

    Trained so that weights and the batch-norm moving statistics differ from
    their init: an export that ran batch norm in training mode would then differ.
    """
    import keras

    import ei_zoo

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    model = ei_zoo.build_model("standard", **TINY)
    ei_zoo.balance_biases(model, x)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return model, history


@pytest.fixture(scope="session")
def tiny_export(trained_tiny, tmp_path_factory):
    """`trained_tiny` exported as `<tmp>/exported/standard-s0` (do not modify it; copy it)."""
    from ei_zoo.hub.export import export_model

    model, history = trained_tiny
    folder = tmp_path_factory.mktemp("exported") / "standard-s0"
    return export_model(model, folder, metadata={"seed": 0, "test_accuracy": 0.125},
                        history=history.history)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty KERAS_HOME and exported folder, so only the mirror has models."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("EI_ZOO_EXPORTED", str(tmp_path / "nothing_exported"))
    monkeypatch.delenv("EI_ZOO_MIRROR", raising=False)
    return tmp_path / "keras" / "ei_zoo"


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, counts GETs per path in `server.requests`, and lets
    `server.behaviour[path](handler)` override a path's answer."""

    def do_GET(self):
        self.server.requests[self.path] += 1
        action = self.server.behaviour.get(self.path)
        if action is None:
            super().do_GET()
        else:
            action(self)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_folder(folder):
    """Serve `folder` on loopback; yields (url, server)."""
    handler = functools.partial(_MirrorHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.behaviour, server.requests, server.release = {}, collections.Counter(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def outgoing_by_cell_type(weights):
    """Effective weights by the cell type they leave: docs/science.md, section 2's table of
    outgoing weights.

    PN: its kernels onto g, f, IG and OG in both areas, area-3 PN -> area 4 (the
    W_x kernels of area 4) and area-4 PN -> readout. IG: onto i. OG: onto o.
    The area-2 -> area-3 kernel (`area3/input`) has no cell type and is left out.
    """
    groups = {"PN": [weights["area4/input"], weights["readout"]], "IG": [], "OG": []}
    for area in ("area3", "area4"):
        groups["PN"] += [weights[f"{area}/PN->{target}"] for target in ("g", "f", "IG", "OG")]
        groups["IG"].append(weights[f"{area}/IG->i"])
        groups["OG"].append(weights[f"{area}/OG->o"])
    return {cell_type: np.concatenate([w.ravel() for w in ws]) for cell_type, ws in groups.items()}


def perturbation_table(model, drop_of, images=2_000, num_classes=10):
    """A network's perturbation table made by `ei_zoo.analysis.perturbation.perturbation_rows`
    from synthetic correctness: the intact network gets 80% of `images` right, and each
    clamp of (area, cell type) loses `drop_of(area, cell_type, clamp)` of them (a fraction,
    rounded to whole images)."""
    from ei_zoo.analysis.perturbation import CLAMPS, perturbation_rows
    from ei_zoo.network.config import AREAS, CELL_TYPES

    labels = np.arange(images) % num_classes
    intact = np.arange(images) < 0.8 * images
    rows = perturbation_rows(model, ("intact", "intact", "none"), intact, intact, labels,
                             num_classes)
    for area in AREAS:
        for cell_type in CELL_TYPES:
            for clamp in CLAMPS:
                correct = intact.copy()
                correct[:round(drop_of(area, cell_type, clamp) * images)] = False
                rows += perturbation_rows(model, (area, cell_type, clamp), correct, intact,
                                          labels, num_classes)
    return pd.DataFrame(rows)
