"""Faithfulness suite: deletion and insertion (Petsiuk et al. 2018), ROAD (Rong et al. 2022)
and infidelity (Yeh et al. 2019) — does removing what a map calls important change the
model's output as the map says? — and, where the evidence is known, localisation (Arras et
al. 2022, Zhang et al. 2018). The maths is in ``attrbench.checks.faithfulness`` and
``attrbench.checks.localisation``."""

import pytest

from attrbench.checks import faithfulness, localisation

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


@pytest.mark.attrbench_subjects(*faithfulness.SUITE.subjects["localisation"])
def test_localisation(bench):
    bench.run(localisation.relevance_mass_accuracy)
