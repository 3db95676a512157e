"""Train, evaluate and export one network: the same as `ei-zoo train`.

    python recipes/train.py --variant standard --seed 0 --epochs 10
"""

import sys

from ei_zoo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
