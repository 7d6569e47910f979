"""Axioms suite: the CI gate on the axioms each method claims (002 §2.2).

Thin by design: the maths is in ``attrbench.checks.axioms``. A claimed axiom that breaks
fails its test (and the run); an unclaimed one is recorded for the axiom matrix.
"""

import pytest

from attrbench.checks import axioms

pytestmark = pytest.mark.axioms


@pytest.mark.attrbench_subjects("analytic/*")
def test_completeness(bench):
    bench.run(axioms.completeness)
