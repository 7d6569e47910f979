"""Axioms suite: the CI gate on the axioms each method claims (002 §2.2, §4, §5).

Thin by design: the maths is in ``attrbench.checks.axioms`` (``SUITE.subjects`` says where
each check runs). Each check runs on named analytic subjects and on hypothesis-drawn cases
(the subject ``generated``; the strategy is the check's ``CheckInfo.cases``). A claimed
axiom that breaks fails its test (and the run) with the counterexample; an unclaimed one
is recorded for the axiom matrix.
"""

import pytest

from attrbench.checks import axioms

pytestmark = pytest.mark.axioms


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["completeness"])
def test_completeness(bench):
    bench.run(axioms.completeness)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["sensitivity_a"])
def test_sensitivity_a(bench):
    bench.run(axioms.sensitivity_a)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["dummy"])
def test_dummy(bench):
    bench.run(axioms.dummy)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["linearity"])
def test_linearity(bench):
    bench.run(axioms.linearity)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["symmetry"])
def test_symmetry(bench):
    bench.run(axioms.symmetry)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["implementation_invariance"])
def test_implementation_invariance(bench):
    bench.run(axioms.implementation_invariance)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["asi"])
def test_asi(bench):
    bench.run(axioms.asi)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["ndp"])
def test_ndp(bench):
    bench.run(axioms.ndp)


@pytest.mark.attrbench_subjects(*axioms.SUITE.subjects["lipschitz"])
def test_lipschitz(bench):
    bench.run(axioms.lipschitz)
