"""What the benchmark scripts share: run sizes, the timing loop, peak memory,
the machine description and the one-JSON-line protocol between scripts.

Every script prints human-readable lines and, as its LAST line, one JSON
object, so `run.py` (and anyone else) can run it in a subprocess, whose
memory then says nothing about the other parts, and read its result back.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"
# Benchmark the working tree, not whatever ei_zoo is installed.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODES = ("full", "quick", "tiny")
TINY_ENV = "EI_ZOO_BENCH_TINY"
# The conftest's tiny network: a smoke check of the code paths, not a measurement.
TINY_NETWORK = dict(principal=8, input_gating=2, output_gating=2, area1_channels=4,
                    area2_channels=8, timesteps=2)

# How much each mode measures. `full` gives the tighter numbers (about 3-4 min
# on a 2-core CPU), `quick` a first look in under 3 minutes, `tiny` only checks
# that every part runs (under a minute; the unit test uses it). `quick` still
# analyses 5,000 images: at 1,000, loading and the per-network work of
# `analyze` outweigh the forward passes and its ratio to `serve` read 1.5-1.7
# where 10,000 images give 0.9-1.2. `rsa_speed.py` and `extract_speed.py` (not run
# by `run.py`) use the `rsa_*` and `extract_images` sizes.
SIZES = {
    "full": dict(batch=128, warmup=3, steps=10, pairs=7,
                 analysis_images=(2_000, 10_000), pipeline_limit=None,
                 ratio_warmup=2, ratio_steps=8, ratio_repeats=3, ratio_variants=None,
                 rsa_images=1_000, rsa_networks=4, extract_images=(1_000, 4_000)),
    "quick": dict(batch=128, warmup=2, steps=4, pairs=3,
                  analysis_images=(1_000, 5_000), pipeline_limit=10_000,
                  ratio_warmup=1, ratio_steps=3, ratio_repeats=1, ratio_variants=None,
                  rsa_images=250, rsa_networks=2, extract_images=(500, 2_000)),
    "tiny": dict(batch=16, warmup=1, steps=2, pairs=2,
                 analysis_images=(64,), pipeline_limit=256,
                 ratio_warmup=1, ratio_steps=1, ratio_repeats=1,
                 ratio_variants=("ratio_1_64", "ratio_1_4", "ratio_4_1"),
                 rsa_images=16, rsa_networks=2, extract_images=(16, 64)),
}


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="fewer steps and images: a first look in under 3 minutes")
    parser.add_argument("--tiny", action="store_true",
                        help=f"tiny networks and sizes, only to check that it runs "
                             f"(also ${TINY_ENV}=1)")


def mode_of(args) -> str:
    if getattr(args, "tiny", False) or os.environ.get(TINY_ENV) == "1":
        return "tiny"
    return "quick" if getattr(args, "quick", False) else "full"


def mode_flags(mode: str) -> list[str]:
    """The command-line flags that select `mode` in another benchmark script."""
    return {"full": [], "quick": ["--quick"], "tiny": ["--tiny"]}[mode]


def network_overrides(mode: str) -> dict:
    """`build_model` overrides of a mode: the real networks except in `tiny`."""
    return dict(TINY_NETWORK) if mode == "tiny" else {}


def make_export(folder: Path, model_id: str, mode: str) -> Path:
    """Export an untrained network of `model_id`'s variant and seed into `folder`
    (mixed_bfloat16, as the zoo trains; tiny in `tiny` mode): weights do not change the
    speed."""
    from ei_zoo.hub.bundle import parse_model_id
    from ei_zoo.hub.export import export_model
    from ei_zoo.network.models import build_model, dtype_policy

    variant, seed = parse_model_id(model_id)
    with dtype_policy("mixed_bfloat16"):
        model = build_model(variant, **network_overrides(mode))
    return export_model(model, Path(folder) / model_id, metadata={"seed": seed})


def shipped_network_arguments(description: str, argv=None) -> tuple[argparse.Namespace,
                                                                      str, dict]:
    """The arguments of a script that measures shipped networks: the mode flags and
    `--exported`, the folder it reads them from (never writes).

    Returns:
        (arguments, mode, `machine()` as the run starts).
    """
    parser = argparse.ArgumentParser(description=description)
    add_mode_arguments(parser)
    parser.add_argument("--exported", type=Path, default=REPO / "exported",
                        help="folder holding the networks (read only)")
    args = parser.parse_args(argv)
    return args, mode_of(args), machine()


def network_folders(scratch, identifiers, mode: str, exported: Path) -> list[Path]:
    """The export folders a script measures: the shipped `identifiers` in `exported`, or
    in `tiny` mode untrained tiny exports of them made in `scratch`."""
    if mode == "tiny":
        return [make_export(scratch, identifier, mode) for identifier in identifiers]
    return [Path(exported) / identifier for identifier in identifiers]


def seconds_of(function, repeat: int = 1) -> float:
    """Wall seconds of `repeat` calls of `function` (which must block until done)."""
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return time.perf_counter() - start


def alternating(contestants: dict, rounds: int, repeat: int) -> dict[str, list[float]]:
    """Seconds of `repeat` calls of each contestant, A, B, A, B, ... for `rounds` rounds.

    Alternating, rather than timing A then B, spreads any drift of the
    machine (other load, thermal, caches) over both, so their ratio round by
    round is fair even when the absolute figures wander.
    """
    seconds = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, function in contestants.items():
            seconds[name].append(seconds_of(function, repeat))
    return seconds


def median(values) -> float:
    return float(statistics.median(values))


def synthetic_batch(batch_size: int, image_size: int = 32, classes: int = 10, seed: int = 0):
    """A fixed in-memory (images 0-255, labels) batch: training steps without an input pipeline."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, classes, batch_size).astype("int64")
    return tf.constant(images), tf.constant(labels)


def train_step(model, images, labels):
    """One optimizer step on a fixed batch; `train_on_batch` returns numpy, so it blocks."""
    return lambda: model.train_on_batch(images, labels)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _cpu_model() -> str | None:
    if shutil.which("lscpu"):
        result = subprocess.run(["lscpu"], capture_output=True, text=True,
                                env=dict(os.environ, LC_ALL="C"), check=False)
        for line in result.stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


# The CPU features that decide which kernels oneDNN runs, and how fast bfloat16 is.
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_features() -> list[str]:
    """`CPU_FEATURES` that /proc/cpuinfo lists (what `lscpu` shows as flags)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                          if line.startswith("flags")), [])
    except OSError:
        return []
    return [feature for feature in CPU_FEATURES if feature in flags]


def _memory_gib() -> float | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * page_size / 2**30, 1)


def machine() -> dict:
    """What the numbers were measured on (without importing TensorFlow).

    `load_average` is taken when the run starts: figures measured while the
    machine was busy with something else are not comparable.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_features": cpu_features(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-intel"),
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def say(text: str) -> None:
    print(text, flush=True)


def emit(result: dict) -> None:
    """Print the script's result as its last line: one JSON object."""
    print(json.dumps(result, sort_keys=True), flush=True)


def run_script(name: str, arguments=(), prefix: str = "") -> dict:
    """Run `benchmarks/<name>` in a fresh Python, echo its lines, return its last-line JSON."""
    command = [sys.executable, str(BENCHMARKS / name), *map(str, arguments)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if prefix and not lines[-1].startswith("{"):
            say(prefix + lines[-1])
    if process.wait() != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit status {process.returncode}.")
    if not lines or not lines[-1].startswith("{"):
        raise RuntimeError(f"{' '.join(command)} printed no JSON result as its last line.")
    return json.loads(lines[-1])
