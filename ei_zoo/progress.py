"""Progress of long work, on stderr, so that stdout carries only results.

On a terminal this is Keras's progress bar; when stderr is redirected (a
log, CI), plain lines without ANSI codes, one every `step` of the total.
"""

from __future__ import annotations

import contextlib
import sys

from keras.utils import Progbar


class Progress:
    """`Progress(total, unit)`; call `add(count)` as work is done."""

    def __init__(self, total: int, unit: str = "image", label: str = "", step: float = 0.25):
        self.total, self.unit, self.label = total, unit, label
        self.count, self.step, self._next = 0, step, step
        self.interactive = interactive()
        self._bar = None
        if self.interactive:
            self._bar = Progbar(total, unit_name=unit)

    def add(self, count: int) -> None:
        self.count += count
        if self._bar is not None:
            with contextlib.redirect_stdout(sys.stderr):  # Progbar writes to stdout
                self._bar.add(count)
        elif self.count >= self._next * self.total or self.count >= self.total:
            plural = self.unit + ("es" if self.unit.endswith("s") else "s")
            print(f"{self.label}{self.count}/{self.total} {plural}", file=sys.stderr, flush=True)
            while self._next * self.total <= self.count:
                self._next += self.step


def interactive() -> bool:
    """Whether progress goes to a terminal (stderr), where bars may redraw in place."""
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


PROGRESS_MODES = ("auto", "bar", "epochs")


def keras_verbose(mode: str = "auto") -> int:
    """`verbose` for Keras's fit and evaluate: `bar`, Keras's bar (which writes ANSI codes
    even to a file); `epochs`, one plain line per epoch; `auto`, the bar on a terminal
    and plain lines off one."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"Unknown progress mode {mode!r}; use one of {PROGRESS_MODES}.")
    return 1 if mode == "bar" or (mode == "auto" and interactive()) else 2

