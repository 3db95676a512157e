"""`python -m ei_zoo.cli`: the `ei-zoo` program."""

from ei_zoo.cli import console

if __name__ == "__main__":
    console()
