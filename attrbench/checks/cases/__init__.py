"""The hypothesis-drawn cases of the axioms suite (the pseudo-subject ``generated``) and
their registry.

- :mod:`~attrbench.checks.cases.draws`: strategies for the parts of a case (seeds,
  networks, inputs, baselines);
- :mod:`~attrbench.checks.cases.axiom_cases`: one frozen dataclass per axiom of 002 §2.2 /
  §4 holding everything a check of that axiom needs, each with ``.to_subject()``, and
  :func:`describe` for counterexamples;
- :mod:`~attrbench.checks.cases.strategies`: the ``*_cases`` strategies drawing them.

A check names the strategy of its cases by name (``CheckInfo.cases``, a key of
:data:`CASES`); :func:`attrbench.checks.generated.generated` looks it up with
:func:`case_strategy`. Plugin authors get the same strategies from
:mod:`attrbench.testing.strategies`.
"""

from __future__ import annotations

from collections.abc import Callable

from attrbench.checks.cases.axiom_cases import describe
from attrbench.checks.cases.strategies import (
    affine_maps,
    dummy_cases,
    equivalent_network_pairs,
    linear_combinations,
    monotone_cases,
    network_cases,
    single_feature_changes,
    symmetric_cases,
)
from attrbench.errors import InvalidOptionError

__all__ = ["CASES", "case_strategy", "describe"]

#: Case strategies by name: zero-argument factories of a hypothesis strategy of cases.
CASES: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        network_cases, monotone_cases, symmetric_cases, equivalent_network_pairs, dummy_cases,
        linear_combinations, single_feature_changes, affine_maps,
    )
}  # fmt: skip


def case_strategy(name: str) -> Callable:
    """The registered case strategy ``name`` (a key of :data:`CASES`)."""
    try:
        return CASES[name]
    except KeyError:
        raise InvalidOptionError(
            f"no case strategy {name!r}; CheckInfo.cases must name one of {', '.join(sorted(CASES))}."
        ) from None
