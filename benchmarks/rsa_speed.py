"""Speed of representational similarity analysis: RDMs of several networks and steps
over the same images, and how alike they are.

`ei_zoo.analysis.rdms` streams the images through each network (`extract`, reduced to
the spatial mean batch by batch) and computes one rsatoolbox RDM per network,
population and step; `compare_rdms` compares every RDM with every other. Measured in
one process, after one untimed warm-up pass: the forward passes alone (`extract` of the
same population of every network, each loading its `.keras` model as `rdms` does),
`rdms` whole, and `compare_rdms`. The full run takes area 4's PN of 4 shipped networks
(read only) at each of their 4 steps over the first 1,000 CIFAR-10 test images: 16 RDMs
of 1,000 x 1,000; `--tiny` makes untrained tiny exports for the run.

    python benchmarks/rsa_speed.py [--quick | --tiny] [--exported exported]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common

NETWORKS = ("standard-s0", "standard-s1", "inh_pn-s0", "no_dale-s0")
POPULATION = "area4.PN"


def measure(folders: list[Path], num_images: int) -> dict:
    """Seconds of the forward passes, `rdms` and `compare_rdms` on `folders`' networks."""
    from ei_zoo import data
    from ei_zoo.analysis import compare_rdms, extract, rdms

    start = time.perf_counter()
    images, _ = data.test_images(num_images)
    load_seconds = time.perf_counter() - start
    extract(folders[0], images[:8], [POPULATION])  # warm-up: TensorFlow's first trace
    forward = common.seconds_of(
        lambda: [extract(folder, images, [POPULATION]) for folder in folders])
    start = time.perf_counter()
    found = rdms(folders, [POPULATION], images=images)
    rdms_seconds = time.perf_counter() - start
    start = time.perf_counter()
    similarity = compare_rdms(found)
    compare_seconds = time.perf_counter() - start
    return {
        "networks": [folder.name for folder in folders], "population": POPULATION,
        "images": num_images, "rdms": found.n_rdm, "similarity_shape": list(similarity.shape),
        "image_load_seconds": round(load_seconds, 3),
        "forward_seconds": round(forward, 3),
        "rdms_seconds": round(rdms_seconds, 3),
        "rdm_seconds_beyond_forward": round(rdms_seconds - forward, 3),
        "compare_seconds": round(compare_seconds, 3),
        "peak_rss_mib": common.peak_rss_mib(),
    }


def main(argv=None) -> int:
    args, mode, machine = common.shipped_network_arguments(__doc__.splitlines()[0], argv)
    sizes = common.SIZES[mode]
    identifiers = NETWORKS[:sizes["rsa_networks"]]
    with tempfile.TemporaryDirectory(prefix="ei_zoo_bench_") as scratch:
        folders = common.network_folders(scratch, identifiers, mode, args.exported)
        result = measure(folders, sizes["rsa_images"])
    common.say(
        f"rsa: {result['rdms']} RDMs of {POPULATION} ({len(folders)} networks x steps) over "
        f"{result['images']} images: rdms {result['rdms_seconds']:.1f} s (forward passes "
        f"alone {result['forward_seconds']:.1f} s), compare_rdms {result['compare_seconds']:.2f} "
        f"s; peak RSS {result['peak_rss_mib']:.0f} MiB")
    common.emit({**result, "mode": mode, "machine": machine, "measured_at": common.now()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
