"""Checks: pure functions ``(method, subject, ctx) -> Outcome``, one module per suite.

Each check is decorated with :func:`attrbench.checks.context.check`, which records its
suite, check name, metric, score direction and (for axioms) the axiom a method must
claim for a violation to fail the gate. Checks never import pytest. Each suite's module
defines its :class:`attrbench.suite.Suite` as ``SUITE``; ``SUITES`` holds them by name,
in the order of the leaderboard pages.
"""

from attrbench.checks import axioms, boolean, faithfulness, fragility, interactions, sanity, sensitivity_n
from attrbench.suite import Suite

_PAGE_ORDER = (
    axioms.SUITE, sensitivity_n.SUITE, fragility.SUITE, boolean.SUITE, interactions.SUITE, sanity.SUITE,
    faithfulness.SUITE,
)  # fmt: skip
SUITES: dict[str, Suite] = {suite.name: suite for suite in _PAGE_ORDER}
