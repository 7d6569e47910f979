"""Outcomes of checks and the Records that carry them to the leaderboards.

A check returns an :class:`Outcome`; a suite turns it into a :class:`Record` with the
columns of ``COLUMNS``. Records hold built-in types only (so they travel on pytest-xdist
reports as ``user_properties``) and serialise to one JSON object each.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from collections.abc import Mapping
from typing import Any

COLUMNS = (
    "suite", "check", "metric", "direction", "method", "subject",
    "value", "holds", "claimed", "error", "details", "scale", "seed",
    "source_hash", "plugin", "kind", "ci_low", "ci_high",
)  # fmt: skip
#: Record fields kept in results.jsonl only (the per-sample values and their rule are
#: too long for a CSV cell; the CSV has each row's interval instead).
STORE_ONLY = ("samples", "aggregate", "base_method", "options")
#: Fields added after the first stored leaderboards, and their value when a row lacks them
#: (an old row has no samples, so its interval is degenerate).
OPTIONAL_COLUMNS = {
    "source_hash": "", "plugin": "", "kind": "", "ci_low": None, "ci_high": None, "samples": None, "aggregate": None,
    "base_method": "", "options": None,
}  # fmt: skip
#: The method kind (``attrbench.methods.registry.MethodEntry.kind``) of a reference row:
#: shown on every leaderboard, never ranked (attrbench.leaderboard.ranking).
CONTROL_KIND = "control"

#: Score directions and the arrow every table header shows.
ARROWS = {"higher": "↑", "lower": "↓"}

#: user_properties key under which a test report carries its records.
REPORT_KEY = "attrbench_record"


def jsonable(obj: Any) -> Any:
    """Tensors, numpy values, tuples and sets as plain JSON types (non-finite floats as str)."""
    if hasattr(obj, "detach") and hasattr(obj, "tolist"):  # torch.Tensor
        return jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy array or scalar
        return jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj) if isinstance(obj, (set, frozenset)) else obj
        return [jsonable(v) for v in items]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return repr(obj)


def json_samples(samples: Any) -> list | None:
    """Per-sample values (a tensor, array or nested list of numbers) as nested lists of
    floats that JSON can hold: NaN (an undefined sample) as None, ±inf as "inf"/"-inf"
    (``numpy.asarray(..., dtype=float)`` reads both back)."""
    if samples is None:
        return None
    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().double()
    if hasattr(samples, "tolist"):
        samples = samples.tolist()
    return [_json_sample(v) for v in samples]


def _json_sample(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_json_sample(u) for u in v]
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return None
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


@dataclass
class Outcome:
    """What a check found: a scalar ``value`` (the metric), whether the property ``holds``
    (None for a pure measurement), JSON-able ``details`` (the counterexample when it
    does not hold: inputs, attributions, expected values), and the per-sample values the
    value aggregates (for its bootstrap interval)."""

    value: float
    holds: bool | None = None
    details: dict = field(default_factory=dict)
    #: The per-sample values ``value`` aggregates (a list, or a list of per-sample lists
    #: for a value aggregated over a grid or several attacks), and the name of the rule
    #: that aggregates them (``attrbench.leaderboard.intervals.AGGREGATES``); None where
    #: the value is exact (computed by enumeration, or a verdict), so its interval is
    #: degenerate.
    samples: list | None = None
    aggregate: str | None = None


@dataclass(frozen=True)
class Record:
    """One row of results.csv (see COLUMNS). ``value`` is None for an error row."""

    suite: str
    check: str
    metric: str
    direction: str  # "higher" or "lower": which values are better
    method: str
    subject: str
    value: float | None
    holds: bool | None
    claimed: bool
    error: str
    details: str  # JSON text
    scale: str
    seed: int
    #: What produced the row (attrbench.methods.registry.MethodEntry.provenance): a hash of
    #: the source of the module defining the method, and the distribution and version of a
    #: plugin method ("" for attrbench's built-ins). ``attrbench verify`` compares both.
    source_hash: str = ""
    plugin: str = ""
    #: The method's kind (``MethodEntry.kind``); "control" rows are references, never
    #: ranked. "" in rows stored before the column existed (the leaderboard then asks the
    #: method registry).
    kind: str = ""
    #: The 95 % interval of ``value`` (attrbench.leaderboard.intervals), filled in when the
    #: leaderboard is written, from ``samples`` alone; equal to ``value`` where exact.
    ci_low: float | None = None
    ci_high: float | None = None
    #: ``Outcome.samples`` and ``Outcome.aggregate`` (results.jsonl only, see STORE_ONLY).
    samples: list | None = None
    aggregate: str | None = None
    #: The registered method the row's method configures (its own name for a plain method)
    #: and the non-default options of a variant (``attrbench.methods.variants``; None for a
    #: plain method). "" and None in rows stored before these fields existed.
    base_method: str = ""
    options: dict | None = None

    def __post_init__(self) -> None:
        if self.direction not in ARROWS:
            raise ValueError(f"direction must be 'higher' or 'lower', got {self.direction!r}")
        if self.samples is not None:  # JSON-safe whatever the caller passed (NaN as None)
            object.__setattr__(self, "samples", json_samples(self.samples))

    @classmethod
    def from_outcome(cls, outcome: Outcome, *, claimed: bool, **columns: Any) -> Record:
        value = None if outcome.value is None else float(outcome.value)
        if value is not None and not math.isfinite(value):
            value = None if math.isnan(value) else value
        return cls(
            value=value,
            holds=None if outcome.holds is None else bool(outcome.holds),
            claimed=bool(claimed),
            error="",
            details=json.dumps(jsonable(outcome.details), sort_keys=True),
            samples=None if value is None else outcome.samples,
            aggregate=None if value is None or outcome.samples is None else outcome.aggregate,
            **columns,
        )

    @classmethod
    def from_error(cls, error: str, *, claimed: bool, **columns: Any) -> Record:
        return cls(value=None, holds=None, claimed=bool(claimed), error=error, details="{}", **columns)

    @property
    def violated(self) -> bool:
        return self.holds is False

    @property
    def key(self) -> tuple:
        """Identity of a row: a later run with the same key replaces it."""
        return (self.suite, self.check, self.metric, self.method, self.subject)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        names = {f.name for f in fields(cls)}
        data = {**OPTIONAL_COLUMNS, **data}
        missing = names - set(data)
        if missing:
            raise ValueError(f"record lacks {sorted(missing)}")
        return cls(**{k: data[k] for k in names})
