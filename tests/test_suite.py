"""The Suite objects (``attrbench.suite``, one ``SUITE`` per check module) agree with the
checks they describe and are what pytest registers as markers."""

from __future__ import annotations

import importlib

import pytest

from attrbench.checks import SUITES
from attrbench.checks.context import CheckInfo


@pytest.mark.parametrize("name", list(SUITES))
def test_subjects_name_exactly_the_checks_of_the_suite(name):
    """``Suite.subjects`` has one entry per check of the suite's module (its functions whose
    ``CheckInfo.suite`` is the suite), keyed by ``CheckInfo.check``, each with subject globs."""
    suite = SUITES[name]
    module = importlib.import_module(f"attrbench.checks.{name}")
    assert module.SUITE is suite
    infos = [getattr(value, "info", None) for value in vars(module).values()]
    checks = {info.check for info in infos if isinstance(info, CheckInfo) and info.suite == name}
    assert set(suite.subjects) == checks
    assert all(isinstance(globs, tuple) and globs for globs in suite.subjects.values())


def test_suites_are_in_page_order_with_distinct_pages():
    assert list(SUITES) == ["axioms", "sensitivity_n", "fragility", "boolean", "interactions", "sanity", "faithfulness"]
    pages = [s.page for s in SUITES.values()]
    assert len(set(pages)) == len(pages) and "README.md" not in pages


def test_each_suite_is_a_registered_marker(pytestconfig):
    """The plugin's ``pytest_configure`` registers one marker per Suite, with its help line."""
    markers = pytestconfig.getini("markers")
    for suite in SUITES.values():
        assert f"{suite.name}: {suite.marker_help}" in markers
