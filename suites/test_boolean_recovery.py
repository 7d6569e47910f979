"""Boolean recovery suite (001): do attributions recover what the circuit's variables do?
The maths is in ``attrbench.checks.boolean``."""

import pytest

from attrbench.checks import boolean

pytestmark = pytest.mark.boolean


@pytest.mark.attrbench_subjects("boolean/*_4")
def test_influence_recovery(bench):
    bench.run(boolean.influence_recovery)
