"""Hypothesis strategies and the reusable method tester for testing attribution methods."""

from attrbench.testing.method_tester import (
    PROPERTIES,
    Case,
    MethodContractError,
    MethodTester,
    check_method_contract,
    default_case,
)

__all__ = ["PROPERTIES", "Case", "MethodContractError", "MethodTester", "check_method_contract", "default_case"]
