"""Sensitivity-n suite (003 §4): do attributions predict the output change when features
are removed? The maths is in ``attrbench.checks.sensitivity_n``."""

import pytest

from attrbench.checks import sensitivity_n

pytestmark = pytest.mark.sensitivity_n


@pytest.mark.attrbench_subjects("analytic/*", "digits/mlp_relu", "digits/cnn_tanh")
def test_sensitivity_1(bench):
    bench.run(sensitivity_n.sensitivity_1)
