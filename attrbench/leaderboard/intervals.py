"""Intervals, paired differences and rank ranges from stored per-sample values.

A row keeps the per-sample values its value aggregates (``Record.samples``) and the rule
that aggregates them (``Record.aggregate``, one of ``AGGREGATES``). Its 95 % interval is
the percentile bootstrap over samples (Efron & Tibshirani 1993, *An Introduction to the
Bootstrap*, §13.3): ``N_BOOT`` resamples with replacement, the 2.5 % and 97.5 %
quantiles of the aggregate. A row without samples (a value computed exactly, e.g. by
enumerating every input of a Boolean circuit, or a verdict) has a degenerate interval.

Resampled indices depend only on the row's (check, subject, metric), its number of
samples and the run's seed, never on the method: sample i of a subject is the same input
for every method, so two methods' replicates are paired, and the difference of their
suite scores gets its own interval (a paired bootstrap). Where two methods' rows have
different sample counts (hypothesis draws cases per method) the indices differ and the
comparison is unpaired. Everything is seeded, so the same records give the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Mapping, Sequence

import numpy as np

#: Bootstrap resamples per row and per suite score.
N_BOOT = 1000
#: Coverage of every interval.
LEVEL = 0.95


def _mean(a: np.ndarray) -> np.ndarray:
    """Mean over the sample axis (axis 1 of a (B, S) replicate array), NaN ignored."""
    with np.errstate(invalid="ignore"), _quiet():
        return np.nanmean(a, axis=1)


def _max(a: np.ndarray) -> np.ndarray:
    with _quiet():
        return np.nanmax(a, axis=1)


def _min(a: np.ndarray) -> np.ndarray:
    with _quiet():
        return np.nanmin(a, axis=1)


def _grid_mean(a: np.ndarray) -> np.ndarray:
    """(B, S, G): the mean over samples at each grid point, then over the grid points
    where it is defined (Sensitivity-n's curve mean)."""
    with _quiet():
        return np.nanmean(np.nanmean(a, axis=1), axis=1)


def _min_of_means(a: np.ndarray) -> np.ndarray:
    """(B, S, A): the mean over samples of each column, then the smallest column (the
    strongest of several attacks)."""
    with _quiet():
        return np.nanmin(np.nanmean(a, axis=1), axis=1)


class _quiet:
    """Silence numpy's all-NaN slice warnings (an all-NaN resample aggregates to NaN)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


#: name -> function of a (B, S, ...) array of resampled values returning (B,) aggregates.
AGGREGATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": _mean,
    "max": _max,
    "min": _min,
    "grid_mean": _grid_mean,
    "min_of_means": _min_of_means,
}


def aggregate(samples: Sequence, rule: str) -> float:
    """The value ``rule`` gives for ``samples`` (the row's own value, recomputed)."""
    return float(AGGREGATES[rule](np.asarray(samples, dtype=float)[None])[0])


def _seed(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:15], 16)


def resample_indices(n: int, key: tuple, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement, from (seed, key, n) alone."""
    return np.random.default_rng(_seed(seed, *key, n)).integers(0, n, size=(n_boot, n))


def replicates(samples: Sequence | None, rule: str | None, key: tuple, seed: int, value: float | None,
               n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot,) bootstrap replicates of a row's value; constant ``value`` for a row
    without samples (exact) or with one sample."""
    if not samples or rule is None or len(samples) < 2:
        return np.full(n_boot, np.nan if value is None else float(value))
    a = np.asarray(samples, dtype=float)
    idx = resample_indices(len(a), key, seed, n_boot)
    return AGGREGATES[rule](a[idx])


def interval(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of replicates (NaN replicates dropped; NaNs if none is left)."""
    finite = reps[np.isfinite(reps)]
    if not len(finite):
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def separated(a: np.ndarray, b: np.ndarray, direction: str, level: float = LEVEL) -> bool:
    """True when the paired replicates say ``a`` is better than ``b``: the ``level``
    interval of a − b (b − a where lower is better) lies above 0."""
    diff = (a - b) if direction == "higher" else (b - a)
    low, _ = interval(diff, level)
    return bool(low > 0)


def rank_ranges(reps: Mapping[str, np.ndarray], direction: str, level: float = LEVEL) -> dict[str, tuple[int, int]]:
    """For each method, the ranks the data allow: from 1 + the number of methods
    separated above it to k − the number separated below it (k methods)."""
    names = list(reps)
    k = len(names)
    better = {m: sum(separated(reps[o], reps[m], direction, level) for o in names if o != m) for m in names}
    worse = {m: sum(separated(reps[m], reps[o], direction, level) for o in names if o != m) for m in names}
    return {m: (1 + better[m], k - worse[m]) for m in names}


def format_rank_range(low: int, high: int) -> str:
    """"3" for a separated rank, "3–5" where the data cannot tell ranks 3 to 5 apart."""
    return str(low) if low == high else f"{low}–{high}"
