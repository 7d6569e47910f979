"""Fragility suite (004): how far do explanations move under perturbations that keep the
predicted label? Random sign noise and the top-k and mass-center attacks of Algorithm 1;
the maths is in ``attrbench.checks.fragility`` and ``attrbench.attacks.interpretation``."""

import pytest

from attrbench.checks import fragility

pytestmark = pytest.mark.fragility


@pytest.mark.attrbench_subjects(*fragility.SUITE.subjects["fragility"])
def test_fragility(bench):
    bench.run(fragility.fragility)
