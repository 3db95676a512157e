"""Speed of the training input pipeline alone (`ei_zoo.data.train_dataset`).

The model should never wait for data: the pipeline must deliver images
several times faster than the network trains on them (target >= 5x), since
on a CPU both share the same cores. The first pass fills the pipeline's
cache (decoding CIFAR-10) and is reported apart; the second pass, what every
later epoch costs, is the measurement.

    python benchmarks/pipeline_speed.py [--quick] [--train-images-per-second R]
"""

from __future__ import annotations

import argparse

import common


def epoch_seconds(dataset) -> tuple[float, int]:
    """Seconds to iterate one epoch of batches, and the images it held."""
    images = 0

    def one_pass():
        nonlocal images
        images = sum(int(batch.shape[0]) for batch, _ in dataset)

    return common.seconds_of(one_pass), images


def main(argv=None) -> int:
    from ei_zoo import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--train-images-per-second", type=float, default=None,
                        help="the network's training rate, to report the pipeline's multiple of it")
    args = parser.parse_args(argv)
    mode = common.mode_of(args)
    sizes = common.SIZES[mode]
    dataset = data.train_dataset(sizes["batch"], limit=sizes["pipeline_limit"])
    fill_seconds, _ = epoch_seconds(dataset)
    seconds, images = epoch_seconds(dataset)
    result = {
        "images_per_second": round(images / seconds, 1),
        "epoch_seconds": round(seconds, 2),
        "images": images,
        "first_epoch_seconds": round(fill_seconds, 2),
        "batch_size": sizes["batch"],
        "limit": sizes["pipeline_limit"],
        "mode": mode,
        "peak_rss_mib": common.peak_rss_mib(),
    }
    line = f"pipeline: {result['images_per_second']:.0f} img/s ({images} images in {seconds:.1f} s"
    line += f"; first epoch, filling the cache, {fill_seconds:.1f} s)"
    if args.train_images_per_second:
        result["ratio_vs_train"] = round(result["images_per_second"]
                                         / args.train_images_per_second, 2)
        line += f", {result['ratio_vs_train']:.1f}x the training rate"
    common.say(line)
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
