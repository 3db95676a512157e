"""Time and memory of `ei_zoo.analysis.extract` at two numbers of images, each in its own
process.

`extract` streams the images in batches; with `reduce="mean_space"` no batch's full
[B, T, H, W, C] rates outlive the batch, so the memory it needs beyond its result
([N, T, C] per population, a few MB) should not grow with the number of images;
`reduce=None` keeps every position and does grow. Each measurement is a fresh process
that reads the first N CIFAR-10 test images (float32, 12 KiB each, in memory before
`extract` starts), loads the `.keras` model, warms it up on 8 images, times one
`extract` of area 4's three populations and runs it again under `tracemalloc`, whose
peak is what that call allocated beyond what was live before it (numpy and Python;
TensorFlow's own buffers are not traced); the process's peak resident memory
(ru_maxrss) covers everything, the images included.

    python benchmarks/extract_speed.py [--quick | --tiny] [--export exported/standard-s0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import common

LAYERS = ["area4.PN", "area4.IG", "area4.OG"]
REDUCTIONS = ("mean_space", "none")
TRAINED_EXPORT = common.REPO / "exported" / "standard-s0"


def measure_once(folder: Path, num_images: int, reduce: str) -> dict:
    """One measurement, in this (fresh) process."""
    from ei_zoo import data
    from ei_zoo.analysis import extract
    from ei_zoo.hub.zoo import load

    images, _ = data.test_images(num_images)
    start = time.perf_counter()
    model = load(folder)
    load_seconds = time.perf_counter() - start
    option = None if reduce == "none" else reduce
    extract(model, images[:8], LAYERS, reduce=option)  # warm-up: TensorFlow's first trace
    start = time.perf_counter()
    arrays = extract(model, images, LAYERS, reduce=option)
    seconds = time.perf_counter() - start
    del arrays
    tracemalloc.start()
    arrays = extract(model, images, LAYERS, reduce=option)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"reduce": reduce, "images": num_images, "seconds": round(seconds, 3),
            "images_per_second": round(num_images / seconds, 1),
            "load_seconds": round(load_seconds, 3),
            "traced_peak_mib": round(traced_peak / 2**20, 1),
            "result_mib": round(sum(array.nbytes for array in arrays.values()) / 2**20, 3),
            "images_mib": round(images.nbytes / 2**20, 1),
            "peak_rss_mib": common.peak_rss_mib()}


def compare(folder: Path, sizes: tuple[int, ...]) -> dict:
    """Every reduction at every size, each in a fresh process; growth from the smallest
    size to the largest."""
    runs = {reduce: {} for reduce in REDUCTIONS}
    for reduce in REDUCTIONS:
        for num_images in sizes:
            run = runs[reduce][num_images] = common.run_script(
                "extract_speed.py",
                ["--worker", reduce, "--export", folder, "--images", num_images])
            common.say(f"extract reduce={reduce:10s} N={num_images:5d}: {run['seconds']:6.2f} s "
                       f"({run['images_per_second']:.0f} img/s), traced peak "
                       f"{run['traced_peak_mib']:.1f} MiB (result {run['result_mib']:.1f}), "
                       f"peak RSS {run['peak_rss_mib']:.0f} MiB")
    largest, smallest = max(sizes), min(sizes)
    return {
        "runs": {reduce: {str(n): run for n, run in by_size.items()}
                 for reduce, by_size in runs.items()},
        "traced_growth_mib": {reduce: round(runs[reduce][largest]["traced_peak_mib"]
                                            - runs[reduce][smallest]["traced_peak_mib"], 1)
                              for reduce in REDUCTIONS},
        "rss_growth_mib": {reduce: round(runs[reduce][largest]["peak_rss_mib"]
                                         - runs[reduce][smallest]["peak_rss_mib"], 1)
                           for reduce in REDUCTIONS},
        "images": list(sizes), "layers": LAYERS,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--export", type=Path, default=None,
                        help="export folder to measure, read only (default: "
                             "exported/standard-s0; --tiny: an untrained tiny export)")
    parser.add_argument("--images", type=int, nargs="+", default=None,
                        help="numbers of test images (default: by mode)")
    parser.add_argument("--worker", choices=REDUCTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        common.emit(measure_once(args.export, args.images[0], args.worker))
        return 0
    machine = common.machine()  # its load average: how busy the machine was at the start
    mode = common.mode_of(args)
    sizes = tuple(args.images or common.SIZES[mode]["extract_images"])
    with tempfile.TemporaryDirectory(prefix="ei_zoo_bench_") as scratch:
        folder = args.export or (common.make_export(scratch, "standard-s0", mode)
                                 if mode == "tiny" else TRAINED_EXPORT)
        result = compare(Path(folder), sizes)
    growth = result["traced_growth_mib"]
    common.say(f"extract: from N={min(sizes)} to N={max(sizes)} the traced peak grew "
               f"{growth['mean_space']:+.1f} MiB with reduce='mean_space', "
               f"{growth['none']:+.1f} MiB with reduce=None")
    common.emit({**result, "export": str(folder) if args.export or mode != "tiny" else
                 "untrained tiny standard, exported for this run", "mode": mode,
                 "machine": machine, "measured_at": common.now()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
