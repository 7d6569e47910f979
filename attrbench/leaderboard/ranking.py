"""Scores, intervals, rank ranges, controls and sanity marks, in each suite and overall.

Scores. Each suite's :class:`attrbench.suite.Suite` (``attrbench.checks.SUITES``) says how
it sums a method up: ``summary_metrics == (HOLDS_RATE,)`` is the fraction of the method's
verdict rows (``holds`` not None) that hold — an exact number, with no sampling behind
it; otherwise the score is the mean ``value`` of the method's rows with one of those
metrics. Error rows are shown but never scored, so a method whose rows all errored has no
score in that suite.

Intervals. A score's bootstrap replicates are the means of its rows' replicates
(:mod:`attrbench.leaderboard.intervals`; an exact row is constant), so two methods'
replicates are paired wherever their rows are; a score's interval is the percentile
interval of its replicates.

Ranks (docs/leaderboards.md says why). Two methods are told apart when the 95 % interval
of the paired bootstrap difference of their scores excludes 0. A method's rank is the
range 1 + (methods told apart above it) … k − (methods told apart below it), one number
when it is told apart from every other. In an exact suite the difference is the exact
difference, so equal scores are ties and every other pair is told apart. Overall, each
bootstrap replicate ranks every suite (ties share their average rank); a method's mean
rank over the overall suites is then a replicate of its mean rank, and mean ranks are told
apart by the same paired rule (lower is better). The overall suites are those with
``Suite.overall_rank`` that scored a contestant in this run (else every suite that did).
Only a method with a score in every overall suite is ranked overall: a mean over
different suites is no comparison, so a method scored in fewer (a variant run in one
suite, a method that needs images, an interaction method) keeps its suite scores and
ranks but gets no overall rank, and the table says how many suites it covers.

Controls. Methods of kind ``control`` (``Record.kind``; the method registry for rows
stored without it) are references, not contestants: they get scores and intervals but no
rank and no part in anyone's rank; each contestant's score is compared with each
control's by the paired rule: ▲ better, ▼ worse, ≈ cannot be told apart.

Sanity marks. A suite with a ``failure_mark`` marks every method with a verdict row of it
that does not hold; the mark follows the method's name on every page.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.stats import rankdata

from attrbench.checks import SUITES
from attrbench.leaderboard import intervals
from attrbench.results import CONTROL_KIND, Record
from attrbench.suite import Suite

#: Marks of a contestant's score against a control's.
BEATS, TIED, WORSE = "▲", "≈", "▼"
VERSUS = {1: BEATS, 0: TIED, -1: WORSE}


# ------------------------------------------------------------------------------- kinds


def kinds(records: Iterable[Record]) -> dict[str, str]:
    """Each method's kind: from its rows, or (rows stored before ``kind`` was) from the
    method registry by the name before any ``[options]``; "" when neither knows it."""
    found: dict[str, str] = {}
    for r in records:
        if r.kind or r.method not in found:
            found[r.method] = r.kind or found.get(r.method, "")
    for method, kind in found.items():
        if not kind:
            found[method] = _registered_kind(method)
    return found


def _registered_kind(method: str) -> str:
    from attrbench.methods import default_registry

    try:
        return default_registry.entry(method.split("[", 1)[0]).kind
    except Exception:  # not registered here (a plugin not installed): no kind to tell
        return ""


def controls(records: Iterable[Record]) -> set[str]:
    """The methods of kind "control"."""
    return {m for m, kind in kinds(records).items() if kind == CONTROL_KIND}


def sanity_marks(records: Iterable[Record]) -> dict[str, str]:
    """method -> the ``failure_mark`` of every suite (in ``SUITES`` order) with one in which
    it has a verdict row (not an error) that does not hold."""
    failed = {(r.suite, r.method) for r in records if r.holds is False and not r.error}
    marks: dict[str, str] = defaultdict(str)
    for suite in SUITES.values():
        if suite.failure_mark:
            for name, method in sorted(failed):
                if name == suite.name:
                    marks[method] += suite.failure_mark
    return dict(marks)


# ------------------------------------------------------------------------------ scores


def shown_suites(suite: Suite, records: Iterable[Record]) -> list[tuple[Suite, list[Record]]]:
    """The other suites with rows whose summary ``suite``'s page also shows (``Suite.shown_on``)."""
    shown = [(other, [r for r in records if r.suite == other.name]) for other in SUITES.values()
             if other.shown_on == suite.page and other is not suite]  # fmt: skip
    return [(other, rows) for other, rows in shown if rows]


def _scored_rows(records: Iterable[Record], suite: Suite) -> dict[str, list[Record]]:
    rows = [r for r in records if r.suite == suite.name and not r.error]
    if suite.holds_rate:
        rows = [r for r in rows if r.holds is not None]
    else:
        rows = [r for r in rows if r.metric in suite.summary_metrics and r.value is not None]
    by_method: dict[str, list[Record]] = defaultdict(list)
    for r in rows:
        by_method[r.method].append(r)
    return by_method


def _row_score(r: Record, suite: Suite) -> float:
    return float(r.holds) if suite.holds_rate else r.value


def suite_scores(records: Iterable[Record], suite: Suite) -> dict[str, float]:
    """Each method's summary score in ``suite`` (controls too); methods without a score
    are left out."""
    means = {m: _mean([_row_score(r, suite) for r in rows]) for m, rows in _scored_rows(records, suite).items()}
    return {method: mean for method, mean in means.items() if not math.isnan(mean)}


def _mean(values: list[float]) -> float:
    try:
        return math.fsum(values) / len(values)  # exact sum: independent of the row order
    except ValueError:  # inf and -inf
        return math.nan


def score_replicates(records: Iterable[Record], suite: Suite, n_boot: int = intervals.N_BOOT) -> dict[str, np.ndarray]:
    """Each scored method's (n_boot,) replicates of its suite score: the mean over its rows
    of their replicates (constant for an exact suite). A replicate undefined in every row
    keeps the point score."""
    scores = suite_scores(records, suite)
    out = {}
    for method, rows in _scored_rows(records, suite).items():
        if method not in scores:
            continue
        if suite.holds_rate:
            out[method] = np.full(n_boot, scores[method])
            continue
        stacked = np.stack([intervals.row_replicates(r, n_boot) for r in rows])
        with warnings.catch_warnings():  # a replicate undefined in every row: NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            reps = np.nanmean(stacked, axis=0)
        out[method] = np.where(np.isnan(reps), scores[method], reps)
    return out


# ----------------------------------------------------------------------------- ranking


def order(scores: Mapping[str, float], direction: str) -> list[str]:
    """Methods sorted by score, best first in ``direction``, then by name."""
    sign = -1.0 if direction == "higher" else 1.0
    return sorted(scores, key=lambda method: (sign * scores[method], method))


@dataclass(frozen=True)
class SuiteRanking:
    """One suite's scores and ranks (see the module docstring)."""

    suite: Suite
    scores: dict[str, float]  # every method with a score, controls included
    intervals: dict[str, tuple[float, float]]
    replicates: dict[str, np.ndarray] = field(repr=False)
    ranks: dict[str, tuple[int, int]]  # contestants only
    contestants: list[str]  # in order: score best first, then name
    controls: list[str]  # controls with a score, by name
    versus: dict[str, dict[str, str]]  # contestant -> control -> BEATS | TIED | WORSE
    exact: bool  # the score has no sampling behind it (holds_rate)
    sampled: bool  # some scored row keeps samples (else every interval is degenerate)

    def midranks(self) -> dict[str, np.ndarray]:
        """Each contestant's rank in every replicate, ties sharing their average rank."""
        if not self.contestants:
            return {}
        sign = -1.0 if self.suite.direction == "higher" else 1.0
        stacked = sign * np.stack([self.replicates[m] for m in self.contestants])
        ranks = rankdata(stacked, axis=0, method="average")
        return dict(zip(self.contestants, ranks))

    def point_midranks(self) -> dict[str, float]:
        """Each contestant's rank by its score, ties sharing their average rank."""
        if not self.contestants:
            return {}
        sign = -1.0 if self.suite.direction == "higher" else 1.0
        ranks = rankdata([sign * self.scores[m] for m in self.contestants], method="average")
        return {m: float(r) for m, r in zip(self.contestants, ranks)}


def rank_suite(records: Iterable[Record], suite: Suite, control_methods: set[str] | None = None) -> SuiteRanking:
    """Scores, intervals, rank ranges and control marks of ``suite``."""
    records = [r for r in records if r.suite == suite.name]
    control_methods = controls(records) if control_methods is None else control_methods
    scores = suite_scores(records, suite)
    reps = score_replicates(records, suite)
    bounds = {m: _bounds(scores[m], reps[m]) for m in scores}
    contestants = order({m: s for m, s in scores.items() if m not in control_methods}, suite.direction)
    refs = sorted(m for m in scores if m in control_methods)
    ranks = intervals.rank_ranges({m: reps[m] for m in contestants}, suite.direction)
    versus = {m: {c: VERSUS[intervals.better_sign(reps[m], reps[c], suite.direction)] for c in refs}
              for m in contestants}  # fmt: skip
    sampled = any(r.samples is not None for rows in _scored_rows(records, suite).values() for r in rows)
    return SuiteRanking(suite, scores, bounds, reps, ranks, contestants, refs, versus, suite.holds_rate, sampled)


def _bounds(score: float, reps: np.ndarray) -> tuple[float, float]:
    """The percentile interval of ``reps``; [score, score] where every replicate is equal
    (an exact score: its replicates are a float-rounded copy of it) or none is defined."""
    low, high = intervals.interval(reps)
    return (score, score) if math.isnan(low) or low == high else (low, high)


@dataclass(frozen=True)
class Standing:
    """A method's row of the overall table."""

    method: str
    scores: dict[str, float]  # suite name -> summary score
    ranks: dict[str, tuple[int, int]]  # suite name -> rank range there (contestants only)
    mean_rank: float | None  # mean over its suites of its rank (ties averaged); None for a control
    mean_rank_interval: tuple[float, float] | None
    rank: tuple[int, int] | None  # the overall rank range; None for a control or a method not ranked overall
    control: bool = False
    covered: int = 0  # overall suites where the method has a score
    required: int = 0  # overall suites in the run


@dataclass(frozen=True)
class Leaderboard:
    """Every suite's ranking and the overall standings, computed once per rendering."""

    suites: dict[str, SuiteRanking]
    standings: list[Standing]  # contestants in overall order, then methods without a score, then controls
    controls: set[str]
    marks: dict[str, str]


def analyse(records: Iterable[Record]) -> Leaderboard:
    """Rank every suite of ``SUITES`` and the methods overall (see the module docstring)."""
    records = [r for r in records if r.suite in SUITES]
    refs = controls(records)
    suites = {name: rank_suite(records, suite, refs) for name, suite in SUITES.items()}
    methods = {r.method for r in records}
    contestants = sorted(methods - refs)
    mid = {name: s.midranks() for name, s in suites.items()}
    points = {name: s.point_midranks() for name, s in suites.items()}
    scored = [name for name, s in suites.items() if s.contestants]
    required = [name for name in scored if SUITES[name].overall_rank] or scored
    covered = {m: sum(m in points[name] for name in required) for m in contestants}
    mean_reps, mean_points = {}, {}
    for method in contestants:
        if required and covered[method] == len(required):
            mean_reps[method] = np.mean([mid[name][method] for name in required], axis=0)
            mean_points[method] = float(np.mean([points[name][method] for name in required]))
    overall = intervals.rank_ranges({m: mean_reps[m] for m in order(mean_points, "lower")}, "lower")
    ranked = order(mean_points, "lower")
    unranked = sorted((m for m in contestants if m not in mean_points), key=lambda m: (-covered[m], m))
    standings = [
        Standing(
            method,
            {name: s.scores[method] for name, s in suites.items() if method in s.scores},
            {name: s.ranks[method] for name, s in suites.items() if method in s.ranks},
            mean_points.get(method),
            _bounds(mean_points[method], mean_reps[method]) if method in mean_points else None,
            overall.get(method),
            control=method in refs,
            covered=covered.get(method, 0),
            required=len(required),
        )
        for method in [*ranked, *unranked, *sorted(refs & methods)]
    ]
    return Leaderboard(suites, standings, refs, sanity_marks(records))


def standings(records: Iterable[Record]) -> list[Standing]:
    """Every method with rows in a suite of ``SUITES``: contestants in overall-rank order,
    then contestants without a score, then the controls."""
    return analyse(records).standings
