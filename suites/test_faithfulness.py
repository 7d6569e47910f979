"""Faithfulness suite: deletion and insertion (Petsiuk et al. 2018), ROAD (Rong et al. 2022)
and infidelity (Yeh et al. 2019) — does removing what a map calls important change the
model's output as the map says? The maths is in ``attrbench.checks.faithfulness``."""

import pytest

from attrbench.checks import faithfulness

pytestmark = pytest.mark.faithfulness


@pytest.mark.attrbench_subjects(*faithfulness.SUITE.subjects["deletion_insertion"])
def test_deletion_insertion(bench):
    bench.run(faithfulness.deletion_insertion_auc)


@pytest.mark.attrbench_subjects(*faithfulness.SUITE.subjects["road"])
def test_road(bench):
    bench.run(faithfulness.road_accuracy)


@pytest.mark.attrbench_subjects(*faithfulness.SUITE.subjects["infidelity"])
def test_infidelity(bench):
    bench.run(faithfulness.infidelity_normalized)
