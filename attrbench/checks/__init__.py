"""Checks: pure functions ``(method, subject, ctx) -> Outcome``, one module per suite.

Each check is decorated with :func:`attrbench.checks.context.check`, which records its
suite, check name, metric, score direction and (for axioms) the axiom a method must
claim for a violation to fail the gate. Checks never import pytest.
"""
