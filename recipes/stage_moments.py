"""Keep the stage moments (`ei_zoo.analysis.stages`: the PN cell state and every drive) in
each export of a folder that lacks them, so that `ei-zoo reproduce` reads them instead of
streaming the test images through every `.keras` model again.

    python recipes/stage_moments.py --exported exported

`ei-zoo perturb ID --save` keeps them with the other measures; this adds them alone.
"""

import argparse
import sys
from pathlib import Path

from ei_zoo.analysis.measure import RESPONSE_BATCH, kept_moments
from ei_zoo.analysis.stages import stage_moments
from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub.bundle import INDEX, STAGE_MOMENTS, export_folders, read_metadata
from ei_zoo.hub.export import write_measured
from ei_zoo.hub.index import write_index
from ei_zoo.network.config import CIFAR10_TEST_IMAGES
from ei_zoo.network.responses import moments_to_arrays


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", type=Path, required=True, help="folder of exports")
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="these model ids only")
    args = parser.parse_args(argv)
    try:
        folders = export_folders(args.exported)
        for folder in folders:
            if args.only and folder.name not in args.only:
                continue
            metadata = read_metadata(folder)
            if kept_moments(folder, metadata, CIFAR10_TEST_IMAGES, RESPONSE_BATCH,
                            STAGE_MOMENTS) is not None:
                print(f"{folder.name}: kept already", flush=True)
                continue
            moments = stage_moments(folder, CIFAR10_TEST_IMAGES, RESPONSE_BATCH, args.data_dir)
            write_measured(folder, {STAGE_MOMENTS: moments_to_arrays(moments, RESPONSE_BATCH)})
            print(f"{folder.name}: stage moments kept", flush=True)
        if (args.exported / INDEX).is_file():
            write_index(args.exported)
    except USER_ERRORS as error:
        print(f"stage_moments.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
