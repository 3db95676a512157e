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
        self.interactive = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self._bar = None
        if self.interactive:
            self._bar = Progbar(total, unit_name=unit)

    def add(self, count: int) -> None:
        self.count += count
        if self._bar is not None:
            with contextlib.redirect_stdout(sys.stderr):  # Progbar writes to stdout
                self._bar.add(count)
        elif self.count >= self._next * self.total or self.count >= self.total:
            print(f"{self.label}{self.count}/{self.total} {self.unit}s", file=sys.stderr,
                  flush=True)
            while self._next * self.total <= self.count:
                self._next += self.step
