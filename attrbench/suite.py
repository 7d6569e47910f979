"""A suite's definition: one :class:`Suite` per suite, next to its checks.

Each module of :mod:`attrbench.checks` that is a suite defines ``SUITE``;
``attrbench.checks.SUITES`` collects them in page order. The pytest markers, the
leaderboard pages and scores and ``attrbench list suites`` all read these objects.
This module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping

#: The summary rule "fraction of the method's verdict rows that hold"; any other metric
#: name in ``Suite.summary_metrics`` means the mean ``value`` of the rows with it.
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
    means over subjects (grouped by ``table``; with ``pivot``, a label column whose values
    become the table's columns, each cell the mean of the first of ``table_values``), and
    drawn as ``plots`` with matplotlib (``attrbench.leaderboard.figures``). ``labels`` are
    the text columns; the rest are numbers."""

    check: str
    columns: tuple[str, ...]
    csv: str
    x: str
    labels: tuple[str, ...] = ()
    table: tuple[str, ...] = ()
    table_values: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    xlog: bool = False
    pivot: str = ""


@dataclass(frozen=True)
class PairFigure:
    """A figure of the pixel pairs a check keeps in its rows' details (``pairs``, ``mean_abs``,
    ``grid``, ``mean_input``): one panel per row, the subject's mean input with a line per
    pair (:func:`attrbench.leaderboard.figures.pair_panels`), in a section headed ``title``."""

    check: str
    file: str
    title: str
    caption: str


@dataclass(frozen=True)
class Suite:
    """A suite: its pytest marker, the subjects each of its checks runs on, its page and
    how its summary score is computed (rules in :mod:`attrbench.leaderboard.ranking`)."""

    name: str  # also the pytest marker name
    title: str
    marker_help: str  # one line, shown by `pytest --markers`
    description: str  # the page's prose
    summary_metrics: tuple[str, ...]  # (HOLDS_RATE,), or metrics whose rows are averaged
    direction: str  # of the summary score: "higher" or "lower" is better
    subjects: Mapping[str, tuple[str, ...]]  # check name -> the subject globs it runs on
    page: str  # the page's file name, e.g. "axioms.md"
    label: str = ""  # the summary score's name in headers (default: the metric)
    notes: str = ""  # a "Notes" section at the end of the page
    curves: Curves | None = None
    pair_figure: PairFigure | None = None
    #: Curves of the suite's other checks, each with its own CSV and figures.
    more_curves: tuple[Curves, ...] = ()
    verdict_matrix: bool = False  # the leaderboard shows this suite's claimed/holds matrix
    #: When set, a method with a verdict row of this suite that does not hold gets this mark
    #: beside its name on every leaderboard page, with a legend line (a sanity suite: such a
    #: method's other scores are not evidence of quality).
    failure_mark: str = ""
    #: The page of another suite that also shows this suite's summary ranking, in a section
    #: headed ``shown_as`` after that page's own summary (its methods are ranked apart from
    #: that suite's: the interaction methods on the Boolean page).
    shown_on: str = ""
    shown_as: str = ""
    #: False for a suite of another kind of method (the order-2 interaction methods): its
    #: scores are shown in the overall table but take no part in the overall rank.
    overall_rank: bool = True

    @property
    def holds_rate(self) -> bool:
        """True when the summary score is the fraction of verdict rows that hold."""
        return self.summary_metrics == (HOLDS_RATE,)

    @property
    def all_curves(self) -> tuple[Curves, ...]:
        """``curves`` (when set), then ``more_curves``: every curve file of the suite."""
        return (*((self.curves,) if self.curves is not None else ()), *self.more_curves)

    @property
    def score_name(self) -> str:
        """The summary score's name in headers."""
        return self.label or ", ".join(self.summary_metrics)
