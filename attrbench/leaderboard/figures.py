"""The curve files beside the leaderboard pages: for each of a suite's ``Suite.all_curves``, a
long CSV of the curves in its rows' details and figures of them, and for each suite with
``Suite.pair_figure`` the figure of the pixel pairs in its rows' details (the ``plots``
extra: matplotlib; nothing is re-run).

Drawn with matplotlib's object API on an Agg canvas (no pyplot state, no display), saved
as PNG without the software stamp, so the same table gives the same bytes.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable

import pandas as pd

from attrbench.checks import SUITES
from attrbench.leaderboard.store import row_order
from attrbench.results import Record
from attrbench.suite import Curves, PairFigure


def curve_frame(records: Iterable[Record], curves: Curves) -> pd.DataFrame:
    """The curves of ``curves.check`` in long format: columns method, subject, then
    ``curves.columns``, sorted by (method, subject, the label columns, x); error rows are
    left out."""
    frames = []
    for r in records:
        if r.check != curves.check or r.error:
            continue
        details = json.loads(r.details)
        if not all(column in details for column in curves.columns):
            continue
        part = pd.DataFrame({column: details[column] for column in curves.columns})
        part.insert(0, "subject", r.subject)
        part.insert(0, "method", r.method)
        frames.append(part)
    columns = ["method", "subject", *curves.columns]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True)[columns]
    for column in curves.columns:
        if column not in curves.labels:  # JSON keeps non-finite floats as text
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    order = ["method", "subject", *curves.labels, curves.x]
    return frame.sort_values(order, kind="stable", ignore_index=True)


def render_curves(records: Iterable[Record]) -> dict[str, str | bytes]:
    """File name → content of each suite's curve CSV and, with matplotlib, its figures."""
    records = sorted(records, key=row_order)
    files: dict[str, str | bytes] = {}
    for suite in SUITES.values():
        pairs = pair_rows(records, suite.pair_figure) if suite.pair_figure is not None else []
        png = pair_panels(pairs) if pairs else None
        if png is not None:
            files[suite.pair_figure.file] = png
        for curves in suite.all_curves:
            frame = curve_frame([r for r in records if r.suite == suite.name], curves)
            if frame.empty:
                continue
            files[curves.csv] = frame.to_csv(index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
            for plot in curves.plots:
                keys = [plot.panel, plot.line, curves.x]
                means = frame.groupby(keys, sort=True)[plot.y].mean().reset_index()
                png = curve_panels(means.dropna(subset=[plot.y]), x=curves.x, y=plot.y,
                                   panel=plot.panel, line=plot.line, xlog=curves.xlog)  # fmt: skip
                if png is not None:
                    files[plot.file] = png
    return files


def pair_rows(records: Iterable[Record], figure: PairFigure) -> list[Record]:
    """The rows ``figure`` draws: those of its check without an error, in row order."""
    return sorted((r for r in records if r.check == figure.check and not r.error), key=row_order)


def pair_panels(rows: list[Record]) -> bytes | None:
    """A PNG with one panel per row (titled by its method, and subject where several): the
    row's ``mean_input`` in grey with a line between the two pixels of each pair in
    ``pairs`` (row, column of pixel k = divmod(k, cols)), numbered by rank, its width
    proportional to the pair's ``mean_abs``; None without matplotlib or rows."""
    if not rows or not available():
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    several = len({r.subject for r in rows}) > 1
    cols = min(4, len(rows))
    fig = Figure(figsize=(2.6 * cols, 2.8 * math.ceil(len(rows) / cols)), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(math.ceil(len(rows) / cols), cols, squeeze=False)
    colours = _colours(20)
    for ax, r in zip(axes.flat, rows):
        details = json.loads(r.details)
        ax.imshow(details["mean_input"], cmap="gray_r")
        widest = max(details["mean_abs"]) or 1.0
        for rank, ((i, j), strength) in enumerate(zip(details["pairs"], details["mean_abs"]), 1):
            (yi, xi), (yj, xj) = divmod(i, details["grid"][1]), divmod(j, details["grid"][1])
            ax.plot([xi, xj], [yi, yj], "-o", color=colours[2 * (rank - 1) % 20],
                    linewidth=0.8 + 2.7 * strength / widest, markersize=3)  # fmt: skip
            ax.annotate(str(rank), ((xi + xj) / 2, (yi + yj) / 2), fontsize=7, ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax.set_title(f"{r.method}\n{r.subject}" if several else r.method, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(rows):]:
        ax.set_visible(False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def available() -> bool:
    """True when matplotlib can be imported (``pip install attrbench[plots]``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def curve_panels(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    panel: str = "subject",
    line: str = "method",
    xlog: bool = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> bytes | None:
    """A PNG grid with one panel per value of ``panel`` and, in each, one line per value
    of ``line`` (``y`` against ``x``, points marked); None without matplotlib or rows."""
    if frame.empty or not available():
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    panels = sorted(frame[panel].unique())
    lines = sorted(frame[line].unique())
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.9), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    colours = _colours(len(lines))
    for ax, name in zip(axes.flat, panels):
        part = frame[frame[panel] == name]
        for colour, label in zip(colours, lines):
            curve = part[part[line] == label].sort_values(x)
            if not curve.empty:
                ax.plot(curve[x], curve[y], marker="o", markersize=2.5, linewidth=1.2, color=colour, label=label)
        ax.set_title(str(name), fontsize=9)
        if xlog:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, linewidth=0.3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel(xlabel or x, fontsize=8)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel or y, fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(lines)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.9 / (3.2 * rows + 0.9), 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _colours(count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(count)]
