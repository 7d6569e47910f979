"""Intervals, paired differences and rank ranges from stored per-sample values.

A row keeps the per-sample values its value aggregates (``Record.samples``) and the rule
that aggregates them (``Record.aggregate``, one of ``AGGREGATES``). Its 95 % interval is
the percentile bootstrap over samples (Efron & Tibshirani 1993, *An Introduction to the
Bootstrap*, §13.3): ``N_BOOT`` resamples of the samples with replacement, the aggregate of
each, and the 2.5 % and 97.5 % order statistics of those replicates (the 25th and 975th of
1000). A row without samples (a value computed exactly, e.g. by enumerating every input of
a Boolean circuit, a verdict, or a row stored before samples were kept) or with a single
sample has a degenerate interval [value, value].

Pairing. Resampled indices depend only on the row's (check, subject, metric), its number
of samples and the run's seed, never on the method: sample i of a subject is the same
input for every method, so two methods' replicates of one row are paired, and so are the
suite scores averaged from them. The difference of two methods' scores then gets its own
percentile interval (a paired bootstrap), which is what decides whether they are told
apart (``separated``). Two exceptions are unpaired: rows whose sample counts differ, and
rows of hypothesis-drawn cases (subject ``generated``), whose cases are drawn per method;
their indices are also keyed by the method. Everything is seeded from the row's key, so
the same records give the same intervals, ranks and bytes.

Note on ``max``/``min`` rows (a worst case over samples): the bootstrap of an extreme is
bounded by the observed extreme, so such an interval says how much the worst case depends
on which samples were drawn, with the observed value as its far end.

Note on ``min_of_means`` rows (the strongest of A attacks): the percentile bootstrap of a
minimum of means is biased low (E min ≤ min E; with attacks of near-equal strength the
replicates can sit entirely below the observed value). Such a row's interval is built
from the columns instead: each column's mean gets its percentile interval at the
Bonferroni level 1 − (1 − LEVEL)/A from the same resampled indices, and the row's interval
is [min of the lows, min of the highs]. When every column's interval covers its mean
(probability ≥ LEVEL), the minimum of the means lies between those two minima, so the
interval is conservative, and it contains the observed value whenever each column's
interval contains its own mean. Paired comparisons (rank ranges, controls) still use the
replicates of the aggregate itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from attrbench.checks.generated import GENERATED
from attrbench.results import Record

#: Bootstrap resamples per row and per suite score.
N_BOOT = 1000
#: Coverage of every interval.
LEVEL = 0.95
#: Largest (resamples × sample values) array built at once; larger rows are resampled in chunks.
CHUNK_ELEMENTS = 2**22


def _mean(a: np.ndarray) -> np.ndarray:
    """(B, S): the mean over samples, undefined (NaN) samples left out."""
    return np.nanmean(a, axis=1)


def _max(a: np.ndarray) -> np.ndarray:
    """(B, S): the largest sample (the worst residual of a "lower is better" row)."""
    return np.nanmax(a, axis=1)


def _min(a: np.ndarray) -> np.ndarray:
    """(B, S): the smallest sample."""
    return np.nanmin(a, axis=1)


def _grid_mean(a: np.ndarray) -> np.ndarray:
    """(B, S, G): the mean over samples at each grid point (NaN samples left out), then
    over the grid points where it is defined (Sensitivity-n's curve mean, 003 §4.1)."""
    return np.nanmean(np.nanmean(a, axis=1), axis=1)


def _min_of_means(a: np.ndarray) -> np.ndarray:
    """(B, S, A): the mean over samples of each column, then the smallest column (the
    strongest of several attacks)."""
    return np.nanmin(np.nanmean(a, axis=1), axis=1)


#: name -> function of a (B, S, ...) array of resampled values returning (B,) aggregates.
AGGREGATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": _mean,
    "max": _max,
    "min": _min,
    "grid_mean": _grid_mean,
    "min_of_means": _min_of_means,
}


def as_array(samples: Sequence) -> np.ndarray:
    """Stored samples as floats: None (an undefined sample) as NaN, "inf" as inf."""
    return np.asarray(samples, dtype=float)


def _apply(rule: str, resampled: np.ndarray) -> np.ndarray:
    try:
        fn = AGGREGATES[rule]
    except KeyError:
        raise ValueError(f"unknown aggregate {rule!r}; choose one of {', '.join(AGGREGATES)}") from None
    with warnings.catch_warnings():  # an all-NaN resample aggregates to NaN: no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(resampled)


def aggregate(samples: Sequence, rule: str) -> float:
    """The value ``rule`` gives for ``samples`` (a row's own value, recomputed)."""
    return float(_apply(rule, as_array(samples)[None])[0])


def _seed(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:15], 16)


def resample_indices(n: int, key: tuple, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement, from (seed, key, n) alone."""
    return np.random.default_rng(_seed(seed, *key, n)).integers(0, n, size=(n_boot, n))


def replicates(samples: Sequence | None, rule: str | None, key: tuple, seed: int, value: float | None,
               n_boot: int = N_BOOT) -> np.ndarray:  # fmt: skip
    """(n_boot,) bootstrap replicates of a row's value; the constant ``value`` for a row
    without samples (exact) or with one sample (NaN for a row without a value)."""
    constant = np.full(n_boot, np.nan if value is None else float(value))
    if samples is None or rule is None or len(samples) < 2 or value is None:
        return constant
    a = as_array(samples)
    return _over_resamples(a, resample_indices(len(a), key, seed, n_boot), lambda r: _apply(rule, r))


def _over_resamples(a: np.ndarray, idx: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` of the resampled ``a[idx]`` (B, S, ...) -> (B, ...), built in chunks of at most
    ``CHUNK_ELEMENTS`` values and concatenated over the resamples."""
    step = max(1, CHUNK_ELEMENTS // max(1, a.size))
    return np.concatenate([fn(a[idx[i : i + step]]) for i in range(0, len(idx), step)])


def row_key(record: Record) -> tuple:
    """What a row's resampled indices are keyed by: (check, subject, metric), shared by
    every method (paired), plus the method for drawn cases (``generated``: unpaired)."""
    key = (record.suite, record.check, record.subject, record.metric)
    return (*key, record.method) if record.subject == GENERATED else key


def row_replicates(record: Record, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot,) replicates of ``record.value`` (see ``replicates``)."""
    return replicates(record.samples, record.aggregate, row_key(record), record.seed, record.value, n_boot)


def interval(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of replicates: the (1 − level)/2 and (1 + level)/2 order
    statistics (``inverted_cdf``: no interpolation, so infinite replicates are kept);
    NaN replicates are dropped, and (NaN, NaN) is returned when none is left."""
    kept = reps[~np.isnan(reps)]
    if not len(kept):
        return (math.nan, math.nan)
    tail = (1 - level) / 2
    low, high = np.quantile(kept, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def min_of_means_interval(samples: Sequence, key: tuple, seed: int, level: float = LEVEL,
                          n_boot: int = N_BOOT) -> tuple[float, float]:  # fmt: skip
    """A ``min_of_means`` row's interval from its (S, A) samples (see the module note):
    [min_a low_a, min_a high_a] with (low_a, high_a) the percentile interval of column a's
    mean at the Bonferroni level 1 − (1 − level)/A, from the row's resampled indices."""
    a = as_array(samples)
    columns = a.shape[1]
    col_level = 1 - (1 - level) / columns
    idx = resample_indices(len(a), key, seed, n_boot)
    with warnings.catch_warnings():  # an all-NaN resampled column: NaN, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        means = _over_resamples(a, idx, lambda r: np.nanmean(r, axis=1))  # (n_boot, A)
    bounds = np.array([interval(means[:, c], col_level) for c in range(columns)])  # (A, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanmin(bounds, axis=0)
    return float(low), float(high)


def row_interval(record: Record, n_boot: int = N_BOOT) -> tuple[float | None, float | None]:
    """``record``'s interval: [value, value] where exact, (None, None) without a value."""
    if record.value is None:
        return (None, None)
    if record.samples is None or record.aggregate is None or len(record.samples) < 2:
        return (record.value, record.value)
    if record.aggregate == "min_of_means":
        low, high = min_of_means_interval(record.samples, row_key(record), record.seed, n_boot=n_boot)
    else:
        low, high = interval(row_replicates(record, n_boot))
    return (None, None) if math.isnan(low) else (low, high)


def with_interval(record: Record) -> Record:
    """``record`` with ``ci_low`` and ``ci_high`` set from its samples."""
    low, high = row_interval(record)
    return dataclasses.replace(record, ci_low=low, ci_high=high)


def better_sign(a: np.ndarray, b: np.ndarray, direction: str, level: float = LEVEL) -> int:
    """+1 when the paired replicates say ``a`` is better than ``b`` (the ``level`` interval
    of a − b, b − a where lower is better, lies above 0), −1 when worse (it lies below
    0), 0 when the data cannot tell them apart."""
    with np.errstate(invalid="ignore"):
        diff = (a - b) if direction == "higher" else (b - a)
    low, high = interval(diff, level)
    return 1 if low > 0 else -1 if high < 0 else 0


def separated(a: np.ndarray, b: np.ndarray, direction: str, level: float = LEVEL) -> bool:
    """True when ``a`` is told apart from ``b`` as the better one (``better_sign`` = +1)."""
    return better_sign(a, b, direction, level) == 1


def rank_ranges(reps: Mapping[str, np.ndarray], direction: str, level: float = LEVEL) -> dict[str, tuple[int, int]]:
    """For each method, the ranks the data allow: from 1 + the number of methods told
    apart above it to k − the number told apart below it (k methods)."""
    names = list(reps)
    k = len(names)
    sign = {(m, o): better_sign(reps[m], reps[o], direction, level) for m in names for o in names if o < m}
    sign.update({(o, m): -s for (m, o), s in list(sign.items())})
    above = {m: sum(sign[m, o] == -1 for o in names if o != m) for m in names}
    below = {m: sum(sign[m, o] == 1 for o in names if o != m) for m in names}
    return {m: (1 + above[m], k - below[m]) for m in names}


def format_rank_range(low: int, high: int) -> str:
    """"3" for a separated rank, "3–5" where the data cannot tell ranks 3 to 5 apart."""
    return str(low) if low == high else f"{low}–{high}"
