"""The case registry (attrbench/checks/cases): a check names the strategy of its drawn
cases, ``generated`` looks the name up, and a name nobody registered is a typed error."""

import pytest

from attrbench.checks import axioms
from attrbench.checks.cases import CASES, case_strategy
from attrbench.checks.generated import generated
from attrbench.errors import InvalidOptionError
from attrbench.subjects.networks import build_network


def test_every_axiom_check_names_a_registered_case_strategy():
    """Each axiom check's ``CheckInfo.cases`` is a key of CASES, and the lookup returns the
    strategy registered under that name."""
    for check in axioms.CHECKS:
        assert check.info.cases in CASES, check.info.check
        assert case_strategy(check.info.cases) is CASES[check.info.cases]
        assert case_strategy(check.info.cases).__name__ == check.info.cases


def test_an_unregistered_case_strategy_is_a_typed_error_naming_the_registered_ones():
    with pytest.raises(InvalidOptionError, match="network_cases"):
        case_strategy("no_such_cases")
    with pytest.raises(InvalidOptionError, match="no case strategy 'no_such_cases'"):
        generated(axioms.completeness, "no_such_cases")  # when the check is wrapped, before any draw


def test_build_network_rejects_an_unknown_activation():
    with pytest.raises(InvalidOptionError, match="gelu"):
        build_network(3, (4,), 2, "gelu", True, 0)
