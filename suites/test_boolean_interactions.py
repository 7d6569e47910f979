"""Interaction recovery on the Boolean circuits (order-2 methods only; marked ``boolean``
too, so ``-m boolean`` runs both kinds of method). The maths is in
``attrbench.checks.interactions``."""

import pytest

from attrbench.checks import interactions

pytestmark = [pytest.mark.interactions, pytest.mark.boolean, pytest.mark.attrbench_order(2)]


@pytest.mark.attrbench_subjects(*interactions.SUITE.subjects["interaction_recovery"])
def test_interaction_recovery(bench):
    bench.run(interactions.interaction_recovery)


@pytest.mark.attrbench_subjects(*interactions.SUITE.subjects["order_recovery"])
def test_order_recovery(bench):
    bench.run(interactions.order_recovery)


@pytest.mark.attrbench_subjects(*interactions.SUITE.subjects["top_pair_precision"])
def test_top_pair_precision(bench):
    bench.run(interactions.top_pair_precision)
