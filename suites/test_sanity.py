"""Sanity suite (Adebayo et al. 2018): does a method's map change when the model's weights
are randomised from the top layer down, and when it explains another class? The maths is
in ``attrbench.checks.sanity``."""

import pytest

from attrbench.checks import sanity

pytestmark = pytest.mark.sanity


@pytest.mark.attrbench_subjects(*sanity.SUITE.subjects["model_randomization"])
def test_model_randomization(bench):
    bench.run(sanity.model_randomization)


@pytest.mark.attrbench_subjects(*sanity.SUITE.subjects["target_sensitivity"])
def test_target_sensitivity(bench):
    bench.run(sanity.target_sensitivity)
