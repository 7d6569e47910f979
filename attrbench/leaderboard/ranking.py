"""Scores and ranks of the methods in each suite and overall.

Scores. Each suite's :class:`attrbench.suite.Suite` (``attrbench.checks.SUITES``) says how
it sums a method up: ``summary_metrics == (HOLDS_RATE,)`` is the fraction of the method's
verdict rows (``holds`` not None) that hold; otherwise the score is the mean ``value`` of
the method's rows with one of those metrics. Error rows are shown but never scored, so a
method whose rows all errored has no score in that suite.

Ranks. Within a suite the methods with a score are sorted by (score, best first in the
suite's direction; then method name) and numbered 1..k: ties get distinct ranks and the
alphabetically first method takes the better one. The overall rank numbers the methods
the same way by (mean of their ranks over the suites where they have a score, name); a
method with no score anywhere has no rank and is listed last.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from attrbench.checks import SUITES
from attrbench.results import Record
from attrbench.suite import Suite


def suite_scores(records: Iterable[Record], suite: Suite) -> dict[str, float]:
    """Each method's summary score in ``suite``; methods without a score are left out."""
    rows = [r for r in records if r.suite == suite.name and not r.error]
    if suite.holds_rate:
        samples = [(r.method, float(r.holds)) for r in rows if r.holds is not None]
    else:
        samples = [(r.method, r.value) for r in rows if r.metric in suite.summary_metrics and r.value is not None]
    by_method: dict[str, list[float]] = defaultdict(list)
    for method, value in samples:
        by_method[method].append(value)
    means = {method: _mean(values) for method, values in by_method.items()}
    return {method: mean for method, mean in means.items() if not math.isnan(mean)}


def _mean(values: list[float]) -> float:
    try:
        return math.fsum(values) / len(values)  # exact sum: independent of the row order
    except ValueError:  # inf and -inf
        return math.nan


def rank(scores: Mapping[str, float], direction: str) -> dict[str, int]:
    """Ordinal ranks 1..k: sorted by score (best first in ``direction``), then name."""
    sign = -1.0 if direction == "higher" else 1.0
    order = sorted(scores, key=lambda method: (sign * scores[method], method))
    return {method: position for position, method in enumerate(order, 1)}


@dataclass(frozen=True)
class Standing:
    """A method's row of the overall table."""

    method: str
    scores: dict[str, float]  # suite name -> summary score
    ranks: dict[str, int]  # suite name -> rank in that suite
    mean_rank: float | None
    rank: int | None


def standings(records: Iterable[Record]) -> list[Standing]:
    """Every method with rows in a suite of ``SUITES``, in overall-rank order."""
    records = [r for r in records if r.suite in SUITES]
    scores = {name: suite_scores(records, suite) for name, suite in SUITES.items()}
    ranks = {name: rank(scores[name], suite.direction) for name, suite in SUITES.items()}
    methods = {r.method for r in records}
    mean_ranks = {}
    for method in methods:
        own = [ranks[name][method] for name in SUITES if method in ranks[name]]
        if own:
            mean_ranks[method] = sum(own) / len(own)
    overall = rank(mean_ranks, "lower")
    return [
        Standing(
            method,
            {name: scores[name][method] for name in SUITES if method in scores[name]},
            {name: ranks[name][method] for name in SUITES if method in ranks[name]},
            mean_ranks.get(method),
            overall.get(method),
        )
        for method in sorted(methods, key=lambda m: (overall.get(m, math.inf), m))
    ]
