"""`ei-zoo train --strategy multiworker` for real: two worker processes on 127.0.0.1."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import ei_zoo
from ei_zoo.cli import main as cli_main
from ei_zoo.hub.bundle import read_metadata, verify_export
from ei_zoo.training.multiworker import HEARTBEAT_SECONDS, weights_sha256

from conftest import REPO

SHA = re.compile(r"worker (\d) of 2: final weights sha256 ([0-9a-f]{64})")
# Each run must end well within this: startup, one short epoch, evaluation, export.
RUN_SECONDS = 400


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_workers(tmp_path, cifar_dir, run, started):
    """Both workers of a fresh cluster, each with its own folders, as on two machines;
    their processes are added to `started`."""
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    workers = []
    for index in range(2):
        folder = tmp_path / f"machine{index}"
        folder.mkdir(exist_ok=True)
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TFDS_DATA_DIR=cifar_dir,
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
                   TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")  # 2 workers, 2 cores
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "ei_zoo.cli", "train", "--strategy", "multiworker",
                   "--variant", "standard", "--epochs", "1", "--limit", "256",
                   "--test-limit", "256",
                   "--batch-size", "64", "--precision", "float32", "--progress", "bar",
                   "--work-dir", str(folder / "runs"), "--out", str(folder / "exported")]
        log = folder / f"run{run}.log"
        with log.open("w") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        started.append(process)
        workers.append((process, log))
    return workers


def _wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.2)


def test_two_workers_train_one_model_and_a_lost_worker_stops_the_run(cifar_dir, tmp_path):
    started = []
    began = time.monotonic()
    try:
        # A worker killed mid-epoch: the chief says so and exits, instead of hanging.
        workers = _start_workers(tmp_path, cifar_dir, 1, started)
        (chief, chief_log), (other, _) = workers
        # Keras's progress bar after the first of the epoch's 4 steps.
        _wait_for(lambda: "1/4" in chief_log.read_text() or chief.poll() is not None,
                  RUN_SECONDS, "the first training step")
        assert chief.poll() is None, chief_log.read_text()[-3000:]
        other.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        chief.wait(timeout=HEARTBEAT_SECONDS + 50)
        waited = time.monotonic() - killed
        errors = [line for line in chief_log.read_text().splitlines()
                  if line.startswith("ei-zoo train: error:")]
        assert chief.returncode == 2, chief_log.read_text()[-3000:]
        assert len(errors) == 1 and "worker 1 (127.0.0.1:" in errors[0], errors
        assert "start every worker again with the same command" in errors[0]
        print(f"the chief stopped {waited:.0f} s after worker 1 was killed, "
              f"{time.monotonic() - began:.0f} s into the test")

        # Started again, the run trains on both workers; the chief alone exports.
        other.wait(timeout=30)
        workers = _start_workers(tmp_path, cifar_dir, 2, started)
        outputs = []
        for process, log in workers:
            process.wait(timeout=RUN_SECONDS)
            outputs.append(log.read_text())
            assert process.returncode == 0, outputs[-1][-3000:]
        digests = dict(match for output in outputs for match in SHA.findall(output))
        assert set(digests) == {"0", "1"} and digests["0"] == digests["1"], digests

        export = tmp_path / "machine0" / "exported" / "standard-s0"
        verify_export(export)
        metadata = read_metadata(export)
        assert metadata["hardware"]["strategy"] == "multiworker"
        assert weights_sha256(ei_zoo.load(export)) == digests["0"]
        assert f"exported to {export}" in outputs[0]
        assert not (tmp_path / "machine1" / "exported").exists()
        assert not (tmp_path / "machine1" / "runs").exists()
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.mark.parametrize("tf_config", [None, "{not json"])
def test_multiworker_without_a_tf_config_is_a_one_line_error(tf_config, monkeypatch, capsys):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    assert cli_main(["train", "--strategy", "multiworker", "--work-dir", "unused"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ei-zoo train: error: ") and error.count("\n") == 1
    assert "TF_CONFIG" in error
