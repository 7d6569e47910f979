"""Checks on hypothesis-drawn cases: the property-based half of the axioms suite.

``generated(check_fn, cases)`` turns a subject check ``(method, subject, ctx) ->
Outcome`` into one that runs on cases drawn from the case strategy named ``cases`` (a key
of :data:`attrbench.checks.cases.CASES`, as in ``CheckInfo.cases``): each case becomes a
Subject (``case.to_subject()``) and the check decides whether it holds there.

- Derandomised: hypothesis draws from a ``random.Random`` seeded from the check's
  ``torch.Generator`` (itself seeded from ``--attrbench-seed`` and the test's name), with
  no example database, so a seed gives the same cases on every machine. Hypothesis also
  mixes literals found in the source of every loaded "local" module into what it draws,
  which would make the cases depend on which modules a process happens to have imported
  (other suites, plugins, pytest-xdist's scheduling); the search runs with that pool
  emptied (``without_local_constants``).
- ``ctx.scale.hypothesis_examples`` cases are tried (25 / 100 / 500).
- Claims scope the search: a method that claims the check's axiom is tried only on cases
  its claim covers (``Claim.unless``), so a violation found is a violation of the claim;
  a method without the claim is tried on every case and a violation is recorded.
- A violation is shrunk by hypothesis to a small counterexample, reported readably with
  :func:`attrbench.checks.cases.describe` plus the check's own details on it.
  Shrinking stops after ``SHRINK_BUDGET`` × examples further calls, keeping the smallest
  counterexample found so far.
- The value is the worst of the cases' values (the check's direction); ``Outcome.samples``
  keeps every tried case's value (shrinking included), aggregated by "max" or "min", so
  the row's interval bootstraps over drawn cases. Cases are drawn per method, so two
  methods' rows are not paired.
- Every case is checked with a generator seeded alike, so a verdict is a function of the
  case; a method whose verdict on one case changes between calls (hypothesis' replay,
  or the final re-check of the counterexample) is reported as a MethodFailure.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace
from collections.abc import Callable

import torch

from attrbench.results import Outcome

#: The pseudo-subject of hypothesis-drawn cases (attrbench.checks.generated).
GENERATED = "generated"


def matches_generated(patterns) -> bool:
    """True when a glob in ``patterns`` matches the pseudo-subject ``generated``."""
    from fnmatch import fnmatchcase

    return any(fnmatchcase(GENERATED, p) for p in patterns)

#: Shrinking may use at most this many times ``hypothesis_examples`` further calls.
SHRINK_BUDGET = 1
#: The aggregate of the per-case values (``Outcome.samples``): the worst case in the
#: check's direction, as the value.
_WORST = {"lower": "max", "higher": "min"}


class _StopSearch(BaseException):
    """Ends the search (and shrinking) at once: hypothesis passes BaseExceptions through."""


@contextlib.contextmanager
def without_local_constants():
    """Run hypothesis with an empty pool of source-code constants and a fresh cache of
    them. Uses hypothesis internals (6.1xx: ``providers._get_local_constants`` and
    ``providers.CONSTANTS_CACHE``); where they do not exist there is no pool to empty."""
    try:
        from hypothesis.internal.cache import LRUCache
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        saved = providers._get_local_constants, providers.CONSTANTS_CACHE
    except (ImportError, AttributeError):
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = LRUCache(1024)
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = saved


def _seed(generator: torch.Generator) -> int:
    return int(torch.randint(2**62, (1,), generator=generator))


def generated(check_fn: Callable, cases: str, *, device: str = "cpu") -> Callable:
    """``check_fn`` run on cases from the case strategy named ``cases`` (see the module
    docstring). The result has the same ``info`` as ``check_fn``. Cases are drawn on the
    CPU and moved to ``device``."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import Flaky, NoSuchExample, Unsatisfiable

    from attrbench.checks.cases import case_strategy, describe
    from attrbench.guard import MethodFailure

    info = check_fn.info
    axiom = info.axiom
    strategy = case_strategy(cases)

    def nondeterministic(method) -> MethodFailure:
        return MethodFailure(
            f"method {method.name!r} in {info.check} gave different verdicts for the same drawn case: "
            "its output is not a function of its input"
        )

    def run(method, subject, ctx) -> Outcome:
        claimed = axiom is not None and method.claims_axiom(axiom)  # on some subjects
        drawn = strategy()
        if claimed:
            drawn = drawn.filter(lambda case: method.claims_axiom(axiom, case.tags))
        budget = ctx.scale.hypothesis_examples * (1 + SHRINK_BUDGET)
        state = {"tried": 0, "worst": None, "failing": None, "error": None, "values": []}
        better = max if info.direction == "lower" else min
        # one generator seed for every case, so a case's verdict is a function of the case
        case_seed = _seed(ctx.generator)

        def evaluate(case):
            case_ctx = replace(ctx, generator=torch.Generator().manual_seed(case_seed))
            return check_fn(method, case.to_subject().to(device), case_ctx)

        def violates(case) -> bool:
            if state["error"] is not None:
                return False
            if state["tried"] >= budget:
                raise _StopSearch
            state["tried"] += 1
            try:
                outcome = evaluate(case)
            except MethodFailure as exc:
                state["error"] = exc
                return False
            if outcome.value is not None:
                state["values"].append(float(outcome.value))
                worst = state["worst"]
                state["worst"] = outcome.value if worst is None else better(worst, outcome.value)
            if outcome.holds is False:
                state["failing"] = case
                return True
            return False

        config = settings(
            max_examples=ctx.scale.hypothesis_examples,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        try:
            with without_local_constants():
                find(drawn, violates, settings=config, random=random.Random(_seed(ctx.generator)))
        except (NoSuchExample, _StopSearch):
            pass
        except Unsatisfiable:
            return Outcome(
                value=None,
                holds=None,
                details={"cases": state["tried"], "note": "no drawn case is inside the method's claim"},
            )
        except Flaky:
            raise nondeterministic(method) from None
        if state["error"] is not None:
            raise state["error"]
        details = {
            "cases": state["tried"],
            "strategy": cases,
            "scope": f"cases its {axiom} claim covers" if claimed else "every case",
        }
        case = state["failing"]
        values = state["values"] or None
        per_case = {"samples": values, "aggregate": None if values is None else _WORST[info.direction]}
        if case is None:
            return Outcome(value=state["worst"], holds=True, details=details, **per_case)
        shrunk = evaluate(case)
        if shrunk.holds is not False:
            raise nondeterministic(method)
        details["counterexample"] = {**describe(case), "check": shrunk.details}
        return Outcome(value=state["worst"], holds=False, details=details, **per_case)

    run.info = replace(info)
    run.__name__ = f"{check_fn.__name__}_generated"
    run.__doc__ = f"{check_fn.__name__} on hypothesis-drawn cases ({cases})."
    return run
