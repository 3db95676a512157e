"""Speed and memory of the analysis against a plain forward pass, on the same images.

`ei_zoo.analysis.analyze` streams the test images through the SavedModel's
`activations` endpoint and keeps running moments, so it should cost little
more than `serve` (target: analyze/serve <= 1.5) and its memory should not
grow with the number of images. Each measurement runs in its own process,
so its peak resident memory (ru_maxrss) is its own; every timing includes
`tf.saved_model.load`, as `analyze` does, and streams the first N CIFAR-10
test images in TFDS order, batch 250, as the analysis does.

    python benchmarks/analysis_speed.py [--quick] [--export exported/standard-s0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common

from ei_zoo.hub.bundle import METADATA, SAVED_MODEL

KINDS = ("serve", "activations", "analyze")
BATCH_SIZE = 250  # ei_zoo.analysis.measure's default
TRAINED_EXPORT = common.REPO / "exported" / "standard-s0"


def test_images(num_images: int, batch_size: int = BATCH_SIZE):
    """The analysis's input: the first `num_images` test images, float32 0-255, batched."""
    import tensorflow as tf

    from ei_zoo import data

    return (data.load_split("test").take(num_images).batch(batch_size)
            .map(lambda image, label: tf.cast(image, tf.float32),
                 num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


def measure_once(kind: str, folder: Path, num_images: int) -> dict:
    """Seconds of one measurement of `kind` on `num_images` images, in this process."""
    import numpy as np
    import tensorflow as tf

    start = time.perf_counter()
    if kind == "analyze":
        from ei_zoo.analysis import analyze

        # The export is its own reference: no look-up of standard-s0 elsewhere.
        analyze(folder, num_images=num_images, batch_size=BATCH_SIZE, reference=folder)
        load_seconds = None
    else:
        served = tf.saved_model.load(str(folder / SAVED_MODEL))
        load_seconds = time.perf_counter() - start
        endpoint = getattr(served, kind)
        for batch in test_images(num_images):
            tf.nest.map_structure(np.asarray, endpoint(batch))
    seconds = time.perf_counter() - start
    return {"kind": kind, "images": num_images, "seconds": round(seconds, 3),
            "images_per_second": round(num_images / seconds, 1),
            "load_seconds": None if load_seconds is None else round(load_seconds, 3),
            "peak_rss_mib": common.peak_rss_mib()}


def compare(folder: Path, sizes: tuple[int, ...]) -> dict:
    """Every kind at every size, each in a fresh process; figures at the largest size."""
    runs = {kind: {} for kind in KINDS}
    for num_images in sizes:
        for kind in KINDS:
            runs[kind][num_images] = common.run_script(
                "analysis_speed.py",
                ["--worker", kind, "--export", folder, "--images", num_images])
            run = runs[kind][num_images]
            common.say(f"analysis {kind:11s} N={num_images:6d}: {run['images_per_second']:7.0f} "
                       f"img/s ({run['seconds']:.1f} s), peak RSS {run['peak_rss_mib']:.0f} MiB")
    largest, smallest = max(sizes), min(sizes)
    result = {f"{kind}_images_per_second": runs[kind][largest]["images_per_second"]
              for kind in KINDS}
    result.update({f"{kind}_seconds": runs[kind][largest]["seconds"] for kind in KINDS})
    result["ratio_analyze_vs_serve"] = round(
        runs["analyze"][largest]["seconds"] / runs["serve"][largest]["seconds"], 3)
    result["ratio_activations_vs_serve"] = round(
        runs["activations"][largest]["seconds"] / runs["serve"][largest]["seconds"], 3)
    result["load_seconds"] = runs["serve"][largest]["load_seconds"]
    result["peak_rss_mib"] = {kind: {str(n): runs[kind][n]["peak_rss_mib"] for n in sizes}
                              for kind in KINDS}
    result["rss_growth_mib"] = {
        kind: round(runs[kind][largest]["peak_rss_mib"] - runs[kind][smallest]["peak_rss_mib"], 1)
        for kind in KINDS}
    result["images"] = list(sizes)
    result["batch_size"] = BATCH_SIZE
    common.say(f"analysis: analyze/serve {result['ratio_analyze_vs_serve']:.2f} at N={largest}; "
               f"peak RSS of analyze {result['peak_rss_mib']['analyze']} MiB by N")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--export", type=Path, default=None,
                        help="export folder to measure (default: exported/standard-s0 when it "
                             "exists, else a freshly exported untrained standard)")
    parser.add_argument("--images", type=int, nargs="+", default=None,
                        help="numbers of test images (default: by mode)")
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # one measurement, in this (fresh) process
        common.emit(measure_once(args.worker, args.export, args.images[0]))
        return 0
    mode = common.mode_of(args)
    sizes = tuple(args.images or common.SIZES[mode]["analysis_images"])
    with tempfile.TemporaryDirectory(prefix="ei_zoo_bench_") as scratch:
        folder = args.export
        if folder is None and mode != "tiny" and (TRAINED_EXPORT / METADATA).is_file():
            folder = TRAINED_EXPORT
        source = str(folder) if folder is not None else "untrained standard, exported for this run"
        if folder is None:
            folder = common.make_export(Path(scratch), "standard-s0", mode)
        common.say(f"analysis: measuring {source}")
        result = compare(Path(folder), sizes)
    common.emit({**result, "export": source, "mode": mode})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
