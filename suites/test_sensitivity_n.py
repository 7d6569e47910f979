"""Sensitivity-n suite (003 §4.1): do a method's attribution sums over random subsets of
n features predict the output drop when those features are removed? One curve PCC(n)
per method and subject; the maths is in ``attrbench.checks.sensitivity_n``."""

import pytest

from attrbench.checks import sensitivity_n

pytestmark = pytest.mark.sensitivity_n


@pytest.mark.attrbench_subjects(*sensitivity_n.SUITE.subjects["sensitivity_n"])
def test_sensitivity_n(bench):
    bench.run(sensitivity_n.sensitivity_n_curve)
