"""TensorFlow, for the parts of ei_zoo that need it, with a one-line error where it is missing.

The layers, models, the `.keras` zoo and reading exports run on any Keras 3
backend. tf.data pipelines, SavedModel export and loading, and the
SavedModel-based analysis need TensorFlow itself; the modules built on them
import it through `tensorflow()`, so its absence says what needs it and how
to install it instead of a bare `ModuleNotFoundError`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

INSTALL = 'pip install "ei_zoo[cpu]"'


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send what C++ code writes to stderr to /dev/null while the block runs.

    TensorFlow's import prints absl and oneDNN notices from C++ that neither
    TF_CPP_MIN_LOG_LEVEL nor Python's logging reaches; they are start-up
    noise, and turning oneDNN off to silence them would change numerics.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured): nothing to quiet
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quietly_import(name: str):
    """Import module `name` with TensorFlow's native start-up notices silenced.

    `keras` counts: on its TensorFlow backend, importing Keras imports TensorFlow.
    """
    if name not in sys.modules:
        with _quiet_native_stderr():
            importlib.import_module(name)
    return sys.modules[name]


# The modules that the `cpu` and `gpu` extras install, by the name users know them by.
NAMES = {"tensorflow": "TensorFlow", "tensorflow_datasets": "TensorFlow Datasets"}


def tensorflow(purpose: str = "This", module: str = "tensorflow"):
    """The `tensorflow` module (or `tensorflow_datasets`), imported quietly, or a
    one-line ImportError saying that `purpose` needs it and how to install it."""
    try:
        return quietly_import(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs {NAMES[module]}, which is not installed; {INSTALL}.") from None


def lazy_exports(package: str, lazy: dict[str, str], names: list[str]):
    """`(__getattr__, __dir__)` for `package`, whose names in `lazy` (name -> module)
    are imported from their module, quietly, on first use (PEP 562); `names` is
    what `dir()` lists. For the packages whose import must not load TensorFlow."""

    def __getattr__(name):
        if name in lazy:
            value = getattr(quietly_import(lazy[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return names

    return __getattr__, __dir__
