"""Speed of the in-silico perturbations against the plain forward passes they need.

`ei_zoo.analysis.perturbation.perturbation_tables` makes one pass for the rates' means and
class tuning, one for the intact network and one per population and clamp (2 areas x 3
cell types x 3 clamps): `passes()` in all. Each clamped pass runs the same layers as the
served network, with one population's rates replaced, so the whole should cost little
more than that many passes of the SavedModel's `serve` (target: perturbation / (passes x
serve) <= 1.3). Measured in one process on the same first N CIFAR-10 test images, batch
500 as `ei-zoo perturb` uses: `serve` after one untimed warm-up batch (median of three
passes), then `perturbation_tables` once, the model loaded beforehand.

    python benchmarks/perturb_speed.py [--quick | --tiny] [--exported exported]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import common

NETWORK = "standard-s0"
BATCH_SIZE = 500  # ei_zoo.analysis.function.perturb's default
IMAGES = {"full": 10_000, "quick": 2_000, "tiny": 64}
TARGET = 1.3


def measure(folder: Path, num_images: int) -> dict:
    """Seconds of one `serve` pass and of `perturbation_tables` on `folder`'s network."""
    import numpy as np
    import tensorflow as tf

    from ei_zoo import data
    from ei_zoo.analysis.perturbation import passes, perturbation_tables
    from ei_zoo.hub.bundle import SAVED_MODEL
    from ei_zoo.hub.zoo import load

    images, labels = data.test_images(num_images)
    served = tf.saved_model.load(str(folder / SAVED_MODEL))
    batches = [tf.constant(images[start:start + BATCH_SIZE])
               for start in range(0, num_images, BATCH_SIZE)]
    np.asarray(served.serve(batches[0]))  # warm-up: the first call's trace

    def serve_pass():
        start = time.perf_counter()
        for batch in batches:
            np.asarray(served.serve(batch))
        return time.perf_counter() - start

    serve_seconds = statistics.median(serve_pass() for _ in range(3))
    model = load(folder)
    start = time.perf_counter()
    table, _ = perturbation_tables(model, images, labels, folder.name, BATCH_SIZE)
    perturb_seconds = time.perf_counter() - start
    needed = passes()
    return {
        "network": folder.name, "images": num_images, "batch_size": BATCH_SIZE,
        "passes": needed, "rows": len(table),
        "serve_seconds": serve_seconds,  # unrounded: a tiny run's pass takes milliseconds
        "perturbation_seconds": perturb_seconds,
        "seconds_per_pass": round(perturb_seconds / needed, 3),
        "perturbation_ratio_vs_serve_passes": round(perturb_seconds / (needed * serve_seconds),
                                                    3),
        "target": TARGET,
        "peak_rss_mib": common.peak_rss_mib(),
    }


def main(argv=None) -> int:
    args, mode, machine = common.shipped_network_arguments(__doc__.splitlines()[0], argv)
    with tempfile.TemporaryDirectory(prefix="ei_zoo_bench_") as scratch:
        [folder] = common.network_folders(scratch, [NETWORK], mode, args.exported)
        result = measure(folder, IMAGES[mode])
    ratio = result["perturbation_ratio_vs_serve_passes"]
    common.say(
        f"perturbation of {result['network']} on {result['images']} images: "
        f"{result['perturbation_seconds']:.1f} s for {result['passes']} passes "
        f"({result['seconds_per_pass']:.2f} s each) against serve {result['serve_seconds']:.2f} "
        f"s per pass: {ratio:.2f}x (target <= {TARGET}x, "
        f"{'met' if ratio <= TARGET else 'missed'})")
    common.emit({**result, "mode": mode, "machine": machine, "measured_at": common.now()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
