"""The explorer's small charts, as inline SVG with axes: a neuron's response histogram
(counts on a log axis) and its mean response per class.

Each returns one `<svg>` element (no script, no file, every text escaped), so a
page of a hundred neuron cards stays one self-contained file. Tick positions come
from matplotlib's locators, so the charts' ticks are those a matplotlib figure
would have.

Example:
    >>> svg = histogram_svg(np.array([0.0, 0.0, 0.3, 0.9]), bins=4, x_label="rate")
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib.ticker import MaxNLocator

WIDTH = 360
FONT = 11
AXIS = "#444"
BAR = "#4a6fa5"
HIGHLIGHT = "#c0392b"
# Counts start at half an image, so a bin of one image is a visible bar on the log axis.
LOG_FLOOR = 0.5


def _ticks(low: float, high: float, count: int = 4) -> np.ndarray:
    """matplotlib's 'nice' tick values within [low, high]."""
    ticks = MaxNLocator(nbins=count).tick_values(low, high)
    span = high - low
    return ticks[(ticks >= low - 1e-9 * span) & (ticks <= high + 1e-9 * span)]


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-12 else "0"


def _svg(height: int, parts: list[str], label: str) -> str:
    return (f"<svg class='chart' viewBox='0 0 {WIDTH} {height}' role='img' "
            f"aria-label='{html.escape(label)}' font-size='{FONT}' "
            f"font-family='system-ui, sans-serif'>{''.join(parts)}</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' fill='{AXIS}' {extra}>"
            f"{html.escape(text)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, extra: str = "") -> str:
    return (f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
            f"stroke='{AXIS}' {extra}/>")


def _x_axis(left: float, right: float, bottom: float, low: float, high: float,
            label: str) -> list[str]:
    """A horizontal axis at `bottom` for values low..high, with ticks and its label."""
    scale = (right - left) / (high - low)
    parts = [_line(left, bottom, right, bottom)]
    for tick in _ticks(low, high):
        x = left + (tick - low) * scale
        parts += [_line(x, bottom, x, bottom + 4), _text(x, bottom + 15, _label(tick))]
    parts.append(_text((left + right) / 2, bottom + 29, label))
    return parts


def histogram_svg(values: np.ndarray, bins: int, x_label: str) -> str:
    """The histogram of `values` in `bins` equal bins, counts on a log axis.

    Args:
        values: one neuron's response to each image.
        bins: the number of bins over [min, max] of `values`.
        x_label: the x axis's label (what a response is, with its unit).

    Returns:
        An `<svg>` element; each bar's tooltip names its range and count.
    """
    counts, edges = np.histogram(values, bins=bins)
    left, right, top, bottom = 58, WIDTH - 16, 8, 100
    decades = max(1, int(np.ceil(np.log10(max(counts.max(), 1)))))
    y_floor, y_ceiling = np.log10(LOG_FLOOR), float(decades)
    height_of = (bottom - top) / (y_ceiling - y_floor)
    step = (right - left) / len(counts)
    parts = []
    for position, count in enumerate(counts):
        height = (np.log10(count) - y_floor) * height_of if count else 0.0
        tip = f"{_label(edges[position])} to {_label(edges[position + 1])}: {count:,} images"
        parts.append(f"<rect x='{left + position * step:.1f}' y='{bottom - height:.1f}' "
                     f"width='{max(step - 1, 1):.1f}' height='{height:.1f}' fill='{BAR}'>"
                     f"<title>{html.escape(tip)}</title></rect>")
    parts.append(_line(left, top, left, bottom))
    for decade in range(decades + 1):
        y = bottom - (decade - y_floor) * height_of
        parts += [_line(left - 4, y, left, y), _text(left - 6, y + 3.5, f"{10 ** decade:,}",
                                                     anchor="end")]
    parts.append(_text(11, (top + bottom) / 2, "images (log)",
                       extra=f"transform='rotate(-90 11 {(top + bottom) / 2:.1f})'"))
    parts += _x_axis(left, right, bottom, edges[0], edges[-1], x_label)
    return _svg(bottom + 36, parts, f"histogram of responses; {x_label}")


def class_bars_svg(means, names, overall: float, preferred: int | None, x_label: str) -> str:
    """Horizontal bars of a neuron's mean response per class, named on the left.

    Args:
        means: the mean response to each class's images, in `names`' order.
        names: the class names.
        overall: the mean over all images, drawn as a dashed line.
        preferred: the index of the preferred class (its bar and name in red), or None.
        x_label: the x axis's label.

    Returns:
        An `<svg>` element; each bar's tooltip names its class and value.
    """
    means = np.nan_to_num(np.asarray(means, "float64"))
    left, right, top, row = 82, WIDTH - 16, 6, 13
    bottom = top + row * len(means)
    low = min(0.0, float(means.min()), overall)
    high = max(float(means.max()), overall)
    high = high if high > low else low + 1.0
    scale = (right - left) / (high - low)
    zero = left + (0.0 - low) * scale
    parts = []
    for position, (value, name) in enumerate(zip(means, names)):
        y = top + position * row
        colour, weight = ((HIGHLIGHT, "bold") if position == preferred else (BAR, "normal"))
        start, end = sorted((zero, left + (value - low) * scale))
        parts += [f"<rect x='{start:.1f}' y='{y + 1:.1f}' width='{end - start:.1f}' "
                  f"height='{row - 2}' fill='{colour}'><title>"
                  f"{html.escape(f'{name}: {_label(value)}')}</title></rect>",
                  _text(left - 4, y + row - 2.5, name, anchor="end",
                        extra=f"font-weight='{weight}'")]
    mean_x = left + (overall - low) * scale
    parts += [_line(zero, top, zero, bottom),
              _line(mean_x, top, mean_x, bottom, "stroke-dasharray='3 2'"),
              *_x_axis(left, right, bottom, low, high, x_label)]
    return _svg(bottom + 36, parts, f"mean response per class; {x_label}")
