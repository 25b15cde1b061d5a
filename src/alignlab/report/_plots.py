"""The report's figures as inline SVG text: heatmap, forest plots, loss curves.

Figures are built with matplotlib's object API (:class:`~matplotlib.figure.Figure`,
never ``pyplot``), so no GUI backend is touched and no global figure state is
kept; rendering to SVG needs no display.  Output is deterministic: the SVG
hash salt and root id are fixed per figure, the date and creator metadata are
dropped, and text is drawn as glyph paths (``svg.fonttype = path``) from the
DejaVu Sans that ships with matplotlib, so the file needs no fonts to open.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_hex
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from alignlab.report._format import DASH, mpl_text, num

CMAP: Final = "PuOr_r"
"""Diverging colour map of differences (direction only: orange up, purple down, white none)."""
MISSING_COLOUR: Final = "#e6e6e6"
"""Background of a heatmap cell without a comparison."""

_COMMENT: Final = re.compile(r"<!--.*?-->\n?", re.DOTALL)

_ID: Final = re.compile(r'\bid="([^"]+)"')
_ID_OR_REFERENCE: Final = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')

_RC: Final[dict[RcKeyType, Any]] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "svg.fonttype": "path",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "text.usetex": False,
}


@dataclass(frozen=True)
class Point:
    """One difference with its interval, as the heatmap and forest plots draw it."""

    value: float
    low: float
    high: float
    significant: bool


@contextmanager
def _style(svg_id: str) -> Iterator[None]:
    with mpl.rc_context({**_RC, "svg.hashsalt": f"alignlab-report:{svg_id}", "svg.id": svg_id}):
        yield


def _to_svg(figure: Figure, svg_id: str) -> str:
    buffer = io.StringIO()
    figure.savefig(
        buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
    )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE
    # matplotlib repeats every string as an (escaped) comment; drop them: smaller, no stray text
    text = _COMMENT.sub("", text).strip()
    # Every figure uses the same element ids (figure_1, glyphs such as DejaVuSans-41): prefix
    # them with the figure's id so the ids of one HTML document are unique.
    own = set(_ID.findall(text)) - {svg_id}
    return _ID_OR_REFERENCE.sub(
        lambda m: f"{m.group(1)}{svg_id}-{m.group(2)}" if m.group(2) in own else m.group(0), text
    )


def colormap() -> Colormap:
    """The diverging colour map, NaN drawn as :data:`MISSING_COLOUR`."""
    return mpl.colormaps[CMAP].with_extremes(bad=MISSING_COLOUR)


def colour(value: float, limit: float, *, tint: float = 1.0) -> str:
    """Hex colour of ``value`` on a symmetric scale ``+-limit``, blended with white by ``tint``."""
    if math.isnan(value):
        return MISSING_COLOUR
    position = 0.5 + 0.5 * max(-1.0, min(1.0, value / limit)) if limit > 0 else 0.5
    red, green, blue, _ = colormap()(position)
    return to_hex(
        (1 - tint + tint * red, 1 - tint + tint * green, 1 - tint + tint * blue), keep_alpha=False
    )


def symmetric_limit(values: Sequence[float]) -> float:
    """The colour scale's half-width: the largest finite ``|value|`` (1 when there is none)."""
    finite = [abs(value) for value in values if math.isfinite(value)]
    return max(finite, default=0.0) or 1.0


def heatmap_svg(
    rows: Sequence[str],
    columns: Sequence[str],
    splits: Sequence[str],
    points: Mapping[tuple[str, str, str], Point],
    *,
    svg_id: str,
) -> str:
    """Rows x columns of differences, one panel per split, one shared colour scale.

    Args:
        rows: Method variants (top to bottom).
        columns: ``eval / metric`` names (left to right).
        splits: One panel each, left to right.
        points: ``(row, column, split) -> Point``; absent or NaN cells are grey with an en dash.
        svg_id: The root ``<svg>`` element's id.

    Returns:
        The ``<svg>`` element's text.
    """
    limit = symmetric_limit([point.value for point in points.values()])
    with _style(svg_id):
        width = len(splits) * (0.85 * len(columns) + 0.6) + 2.6
        height = 0.42 * len(rows) + 1.9
        figure = Figure(figsize=(width, height), layout="constrained")
        axes_list = figure.subplots(1, len(splits), sharey=True, squeeze=False)[0]
        image = None
        for axes, split in zip(axes_list, splits, strict=True):
            values = np.array(
                [
                    [
                        points[(r, c, split)].value if (r, c, split) in points else np.nan
                        for c in columns
                    ]
                    for r in rows
                ],
                dtype=float,
            )
            image = axes.imshow(
                np.ma.masked_invalid(values),
                cmap=colormap(),
                vmin=-limit,
                vmax=limit,
                aspect="auto",
                interpolation="nearest",
            )
            for i, row in enumerate(rows):
                for j, column in enumerate(columns):
                    point = points.get((row, column, split))
                    label = DASH if point is None else num(point.value, signed=True)
                    if point is not None and point.significant:
                        label += "*"
                    strong = point is not None and abs(point.value) > 0.6 * limit
                    axes.text(
                        j,
                        i,
                        label,
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if strong else "black",
                    )
            axes.set_title(mpl_text(split))
            axes.set_xticks(range(len(columns)), [mpl_text(c) for c in columns])
            axes.tick_params(axis="x", labelrotation=35)
            for tick in axes.get_xticklabels():
                tick.set_horizontalalignment("right")
            axes.set_yticks(range(len(rows)), [mpl_text(r) for r in rows])
            axes.tick_params(length=0)
            axes.spines[:].set_visible(False)
        if image is not None:
            bar = figure.colorbar(image, ax=list(axes_list), shrink=0.8, pad=0.02)
            bar.set_label("difference from reference")
        return _to_svg(figure, svg_id)


def _draw_forest(axes: Axes, rows: Sequence[str], points: Mapping[str, Point]) -> None:
    axes.axvline(0.0, color="#888888", linewidth=0.8, zorder=0)
    for i, row in enumerate(rows):
        point = points.get(row)
        if point is None or math.isnan(point.value):
            axes.text(
                0.5,
                i,
                f"{DASH} no comparison",
                ha="center",
                va="center",
                color="#888888",
                fontsize=8,
                transform=axes.get_yaxis_transform(),  # x in axes fraction, y in rows
            )
            continue
        low = point.value - point.low if math.isfinite(point.low) else 0.0
        high = point.high - point.value if math.isfinite(point.high) else 0.0
        axes.errorbar(
            [point.value],
            [i],
            xerr=[[max(low, 0.0)], [max(high, 0.0)]],
            fmt="o",
            color="#5e3c99" if point.significant else "#444444",
            markerfacecolor="#5e3c99" if point.significant else "white",
            capsize=3,
            linewidth=1.2,
        )
    axes.set_yticks(range(len(rows)), [mpl_text(r) for r in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.grid(axis="x", color="#eeeeee", linewidth=0.6)


def forest_svg(
    rows: Sequence[str],
    splits: Sequence[str],
    points: Mapping[tuple[str, str], Point],
    *,
    title: str,
    svg_id: str,
) -> str:
    """Each variant's difference and interval for one metric, one panel per split.

    Args:
        rows: Method variants (top to bottom).
        splits: One panel each, sharing the x axis so splits compare at a glance.
        points: ``(row, split) -> Point``; significant ones filled.
        title: The figure's title (the metric and the reference).
        svg_id: The root ``<svg>`` element's id.

    Returns:
        The ``<svg>`` element's text.
    """
    with _style(svg_id):
        figure = Figure(
            figsize=(2.9 * len(splits) + 1.9, 0.36 * len(rows) + 1.3), layout="constrained"
        )
        axes_list = figure.subplots(1, len(splits), sharex=True, sharey=True, squeeze=False)[0]
        for axes, split in zip(axes_list, splits, strict=True):
            _draw_forest(
                axes, rows, {row: points[(row, split)] for row in rows if (row, split) in points}
            )
            axes.set_title(mpl_text(split))
            axes.set_xlabel("difference (95% CI)")
        if not any(math.isfinite(point.value) for point in points.values()):
            axes_list[0].set_xlim(-0.1, 0.1)  # keep the zero line in the middle
        figure.suptitle(mpl_text(title), fontsize=10)
        return _to_svg(figure, svg_id)


def loss_svg(series: Sequence[tuple[str, Sequence[int], Sequence[float]]], *, svg_id: str) -> str:
    """Training loss against optimiser step, one line per train cell.

    Args:
        series: ``(label, steps, losses)`` per train cell.
        svg_id: The root ``<svg>`` element's id.

    Returns:
        The ``<svg>`` element's text.
    """
    with _style(svg_id):
        columns = 1 if len(series) <= 14 else 2
        figure = Figure(figsize=(7.5 + 2.2 * columns, 4.0), layout="constrained")
        axes = figure.subplots()
        for label, steps, losses in series:
            axes.plot(steps, losses, linewidth=1.2, label=mpl_text(label))
        axes.set_xlabel("optimiser step")
        axes.set_ylabel("training loss")
        axes.grid(color="#eeeeee", linewidth=0.6)
        if series:
            axes.legend(
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                ncols=columns,
                fontsize=8,
                frameon=False,
            )
        return _to_svg(figure, svg_id)


def calibration_svg(bins: Sequence[tuple[float, float, int]], *, svg_id: str) -> str:
    """Observed hit rate against forecast probability, one point per non-empty bin.

    Args:
        bins: ``(mean_probability, hit_rate, n)`` per bin; the marker's area grows with ``n``.
        svg_id: The root ``<svg>`` element's id.

    Returns:
        The ``<svg>`` element's text.
    """
    with _style(svg_id):
        figure = Figure(figsize=(4.2, 4.0), layout="constrained")
        axes = figure.subplots()
        axes.plot([0, 1], [0, 1], color="#888888", linewidth=0.8, linestyle="--", zorder=0)
        for probability, rate, n in bins:
            axes.scatter([probability], [rate], s=30 + 25 * n, color="#5e3c99", alpha=0.8, zorder=2)
            axes.annotate(
                f"n={n}",
                (probability, rate),
                textcoords="offset points",
                xytext=(7, -3),
                fontsize=8,
            )
        axes.set_xlim(0, 1)
        axes.set_ylim(-0.04, 1.04)
        axes.set_xlabel("forecast probability (bin mean)")
        axes.set_ylabel("observed hit rate")
        axes.grid(color="#eeeeee", linewidth=0.6)
        return _to_svg(figure, svg_id)


@dataclass(frozen=True)
class CurveSeries:
    """One reward model's best-of-N curve: proxy and gold reward (with intervals) against KL."""

    label: str
    kl: Sequence[float]
    proxy: Sequence[tuple[float, float, float]]
    """``(value, ci_low, ci_high)`` per point."""
    gold: Sequence[tuple[float, float, float]]
    """``(value, ci_low, ci_high)`` per point."""


def best_of_n_svg(series: Sequence[CurveSeries], *, svg_id: str) -> str:
    """Gold (left) and proxy (right) reward of best-of-N against its analytic KL.

    The over-optimisation picture of Gao et al. 2022 (arXiv:2210.10760): the
    proxy keeps rising with N while the gold reward may rise, then fall.

    Args:
        series: One curve per reward-model cell.
        svg_id: The root ``<svg>`` element's id.

    Returns:
        The ``<svg>`` element's text.
    """
    with _style(svg_id):
        figure = Figure(figsize=(10.0, 4.0), layout="constrained")
        gold_axes, proxy_axes = figure.subplots(1, 2)
        for curve in series:
            for axes, points in ((gold_axes, curve.gold), (proxy_axes, curve.proxy)):
                values = [p[0] for p in points]
                (line,) = axes.plot(
                    curve.kl, values, marker="o", markersize=3, label=mpl_text(curve.label)
                )
                axes.fill_between(
                    curve.kl,
                    [p[1] for p in points],
                    [p[2] for p in points],
                    color=line.get_color(),
                    alpha=0.15,
                    linewidth=0,
                )
        for axes, title in ((gold_axes, "gold reward"), (proxy_axes, "proxy reward")):
            axes.set_xlabel("KL(best-of-N || policy), nats")
            axes.set_ylabel(title)
            axes.set_title(title)
            axes.grid(color="#eeeeee", linewidth=0.6)
        if series:
            gold_axes.legend(fontsize=8, frameon=False)
        return _to_svg(figure, svg_id)
