"""Shared fixtures for attrbench's unit tests."""

import sys

import pytest
import torch


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype, restoring the old default after."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


#: Prefixes of the throw-away plugin modules the registry and CLI tests generate.
GENERATED_MODULE_PREFIXES = ("abplug_", "abspec_", "abcli_")


@pytest.fixture
def isolated_method_registry():
    """Restore the method decorator ledger after a test, drop generated plugin modules,
    and fail if a non-built-in method was left in ``default_registry``. Not built on
    monkeypatch, so this teardown runs after every monkeypatch in the test is undone."""
    import attrbench.methods.builtins  # noqa: F401  registered before the snapshot: a test that
    # imported them first would otherwise have them wiped at teardown, and the module, still in
    # sys.modules, never registers them again ("no attribution method named 'gradient'")
    from attrbench.methods import registry

    ledger = list(registry._LEDGER)
    before = set(registry.default_registry.entries)
    modules_before = set(sys.modules)
    yield
    registry._LEDGER[:] = ledger
    for name in set(sys.modules) - modules_before:
        if name.startswith(GENERATED_MODULE_PREFIXES):
            del sys.modules[name]
    entries = registry.default_registry.entries
    leaked = {n for n in set(entries) - before if not entries[n].module.startswith("attrbench.")}
    assert not leaked, f"test leaked methods into default_registry: {sorted(leaked)}"


@pytest.fixture(autouse=True, scope="session")
def _fast_subprocess_runs():
    """Many tests run pytest or attrbench in a fresh interpreter (that is how the benchmark
    is really run). Two settings make those start faster without changing what they do:
    bytecode is cached (PYTHONDONTWRITEBYTECODE unset; ``__pycache__`` is git-ignored),
    and pytest's unraisable-exception plugin is off in them (``PYTEST_ADDOPTS``): its five
    ``gc.collect()`` passes at exit cost ~0.8 s per run once torch is loaded."""
    import os

    patch = pytest.MonkeyPatch()
    patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    patch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} {NO_UNRAISABLE}".strip())
    yield
    patch.undo()


#: Disables pytest's unraisable-exception plugin (see ``_fast_subprocess_runs``).
NO_UNRAISABLE = "-p no:unraisableexception"
