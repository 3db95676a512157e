"""The `ei-zoo` command line.

    ei-zoo variants                         the registered networks and their sizes
    ei-zoo train --variant standard ...     train, evaluate and export one network
    ei-zoo export RUN_DIR                   export a finished training run (again)
    ei-zoo list | info ID | download ID     the pretrained zoo
    ei-zoo index [--exported DIR]           rewrite exported/index.json from the exports
    ei-zoo pack [--out DIR]                 archives and index for a download mirror
    ei-zoo analyze ID [--images N]          selectivity and density of one model
    ei-zoo perturb ID [--save]              each population clamped; drive shares; class tuning
    ei-zoo perturb --zoo [--shard i/n|auto] --save   ... of every export (a SLURM array)
    ei-zoo explore ID | --zoo [--out DIR]   a neuron explorer site: what every neuron does
    ei-zoo reproduce [--out DIR]            every figure, table and the claims report

User errors, and a disk that is full or read-only, end in one line on stderr naming
the problem and the fix, and exit code 2; nothing half-written is left behind.
Results go to stdout, progress to stderr. `--help`, `variants`, `list`, `info`
and `index` never import Keras or TensorFlow, so they answer at once; the other
commands import TensorFlow without its native start-up notices.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from ei_zoo.cli.parser import build_parser
from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub import files
from ei_zoo.optional import quietly_import

# Commands that read files only: they must answer without importing Keras or TensorFlow.
WITHOUT_KERAS = ("variants", "list", "index", "info")


# What Ctrl-C leaves, by command: each writes its results whole or not at all.
INTERRUPTED = {
    "train": "; the run keeps its last finished epoch: run the same command again to resume",
    "export": "; nothing was exported",
    "download": "; the cache is as it was",
    "analyze": "; nothing was written",
    "perturb": "; nothing was written but the tables of the exports it printed as kept",
    "explore": "; nothing was written",
    "reproduce": "; nothing was written",
    "pack": "; the archives written so far are whole",
}


# The option that names the folder a command writes, for the fix when its disk is full or
# read-only: `--out` unless given here; None where it writes in place or in several folders.
WRITES_TO = {"download": "--cache-dir", "info": "--cache-dir", "index": "--exported",
             "perturb": None, "train": None}


def interrupted_message(command: str) -> str:
    return f"ei-zoo {command}: interrupted{INTERRUPTED.get(command, '')}"


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"ei-zoo: warning: {message}\n"


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; its exit status."""
    warnings.formatwarning = _one_line_warning
    try:
        if args.command not in WITHOUT_KERAS:
            quietly_import("keras")  # imports TensorFlow on its backend, without the notices
        code = args.run(args)
    except BrokenPipeError:  # e.g. `ei-zoo list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except USER_ERRORS as error:
        print(f"ei-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full or read-only disk is the user's to fix, not a bug
        problem = files.disk_problem(error, WRITES_TO.get(args.command, "--out"))
        if problem is None:
            raise
        print(f"ei-zoo {args.command}: error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message(args.command), file=sys.stderr)
        return INTERRUPTED_STATUS
    return code or 0


INTERRUPTED_STATUS = 130  # 128 + SIGINT, as shells report it


def console() -> None:
    """The `ei-zoo` program: `main`, with Ctrl-C ending it at once, as a kill would.

    SIGINT prints the command's one line, removes its unfinished staging folders
    and exits with 130 without unwinding through TensorFlow (docs/design-notes.md,
    "Interrupts"); everything the zoo writes survives a kill (`ei_zoo.hub.files`).
    """
    # TensorFlow's C++ log (oneDNN, CPU features, tf.data notices) would bury the
    # program's output; set before TensorFlow is imported, and a user's own value wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args()

    def interrupted(signum, frame):
        print(interrupted_message(args.command), file=sys.stderr, flush=True)
        files.remove_unfinished()
        sys.stdout.flush()
        os._exit(INTERRUPTED_STATUS)

    signal.signal(signal.SIGINT, interrupted)
    sys.exit(run(args))

