"""Fragility suite (004): how far do explanations move under perturbations that keep the
label? The maths is in ``attrbench.checks.fragility``."""

import pytest

from attrbench.checks import fragility

pytestmark = pytest.mark.fragility


@pytest.mark.attrbench_subjects("analytic/smooth", "analytic/linear", "digits/mlp_relu", "digits/cnn_relu")
def test_random_sign(bench):
    bench.run(fragility.random_sign)
