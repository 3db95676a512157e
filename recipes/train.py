"""Train, evaluate and export one network: `ei-zoo train`'s recipe, through the Python API.

    python recipes/train.py --variant standard --seed 0 --epochs 10 --out my_networks

Resumable like `ei-zoo train` (`ei_zoo.training.recipe.train_and_export`).
"""

import argparse
import sys
from pathlib import Path

from ei_zoo.errors import USER_ERRORS
from ei_zoo.training import add_arguments, config_from_arguments
from ei_zoo.training.recipe import train_and_export


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="standard", help="registered variant name")
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("exported"), help="export folder")
    parser.add_argument("--work-dir", type=Path, default=Path("runs"),
                        help="where checkpoints and history live while training")
    parser.add_argument("--data-dir", default=None, help="TFDS data dir holding cifar10")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an export of another run in --out")
    args = parser.parse_args(argv)
    try:
        path = train_and_export(args.variant, config_from_arguments(args), out=args.out,
                                work_dir=args.work_dir, data_dir=args.data_dir,
                                overwrite=args.overwrite)
    except USER_ERRORS as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
