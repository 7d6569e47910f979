"""A suite's definition: one :class:`Suite` per suite, defined next to its checks.

Each suite module of :mod:`attrbench.checks` defines ``SUITE``; markers, leaderboard pages
and ``attrbench list suites`` read these objects. This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The summary rule "fraction of verdict rows that hold"; any other name means a mean.
HOLDS_RATE = "holds_rate"


@dataclass(frozen=True)
class Plot:
    """A figure of ``Curves``: ``y`` against the curves' x, one panel per value of
    ``panel`` and one line per value of ``line``, averaged over any other column."""

    file: str
    y: str
    panel: str = "subject"
    line: str = "method"
    caption: str = ""


@dataclass(frozen=True)
class Curves:
    """A check whose details hold curves (equal-length lists under ``columns``): written
    as a long CSV beside the suite page, optionally summarised in the page as a table of
    means over subjects (grouped by ``table``), and drawn as ``plots`` with matplotlib
    (``attrbench.figures``). ``labels`` are the text columns; the rest are numbers."""

    check: str
    columns: tuple[str, ...]
    csv: str
    x: str
    labels: tuple[str, ...] = ()
    table: tuple[str, ...] = ()
    table_values: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    xlog: bool = False


@dataclass(frozen=True)
class Suite:
    """A suite: its pytest marker, the subjects each check runs on, its page and how its
    summary score is computed."""

    name: str  # also the pytest marker name
    title: str
    marker_help: str  # one line, shown by `pytest --markers`
    description: str  # the page's prose
    summary_metrics: tuple[str, ...]  # (HOLDS_RATE,) or metrics whose rows are averaged
    direction: str  # "higher" | "lower"
    subjects: Mapping[str, tuple[str, ...]]  # check name -> subject globs
    page: str  # e.g. "axioms.md"
    label: str = ""  # summary score's header name (default: the metric)
    notes: str = ""
    curves: Curves | None = None
    verdict_matrix: bool = False  # README shows this suite's claimed/holds matrix
