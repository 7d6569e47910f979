"""Subject plugins: the ``attrbench.subjects`` entry-point group follows the same rules as
method plugins (shared ``attrbench.plugins.Catalog``), checked on real installed
distributions written into a temporary directory on ``sys.path``."""

from __future__ import annotations

import sys
import uuid

import pytest
from test_registry import PluginSite

import attrbench.subjects.builtins  # noqa: F401  (built-ins in the ledger before snapshots)
from attrbench.errors import DuplicateSubjectError, PluginError
from attrbench.plugins import PLUGINS_ENV
from attrbench.subjects.registry import SubjectRegistry, _LEDGER

GROUP = "attrbench.subjects"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A plugin directory on sys.path; the subject ledger and generated modules restored after."""
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    ledger, modules = list(_LEDGER), set(sys.modules)
    yield PluginSite(tmp_path)
    _LEDGER[:] = ledger
    for name in set(sys.modules) - modules:
        if name.startswith("abplug_"):
            del sys.modules[name]


def subject_module(name: str, tags=("linear",)) -> str:
    return f"""
        import torch
        from attrbench.subjects import Subject, register_subject

        @register_subject({name!r}, tags={set(tags)!r}, description="a plugin subject")
        def build():
            model = torch.nn.Linear(3, 2)
            x = torch.rand(4, 3)
            return Subject({name!r}, model, x, torch.zeros(4, dtype=torch.long), None, (0.0, 1.0), {set(tags)!r})
    """


def test_entry_point_subject_is_discovered_built_and_listed(site):
    """A distribution's ``attrbench.subjects`` module registers on import; a fresh registry
    finds it with its tags and description (without building), and builds it frozen."""
    name = f"plugin/linear_{uuid.uuid4().hex[:6]}"
    dist = site.dist({"main": site.module(subject_module(name))}, group=GROUP)
    registry = SubjectRegistry().discover()
    assert name in registry.available() and registry.problems == []
    entry = registry.entries[name]
    assert entry.tags == {"linear"} and entry.description == "a plugin subject" and dist in entry.source
    subject = registry.get(name)
    assert not subject.model.training and not any(p.requires_grad for p in subject.model.parameters())
    assert name not in SubjectRegistry(plugins="none").discover().available()
    assert name in SubjectRegistry(plugins=dist).discover().available()


def test_broken_and_duplicate_subject_plugins_are_reported_others_load(site):
    """A plugin whose import raises and one that re-registers a built-in name are recorded
    as problems (with a warning); a third, healthy plugin still loads."""
    good = f"plugin/good_{uuid.uuid4().hex[:6]}"
    site.dist({"good": site.module(subject_module(good))}, group=GROUP)
    site.dist({"broken": site.module("raise RuntimeError('subject plugin exploded')")}, group=GROUP)
    site.dist({"dup": site.module(subject_module("analytic/linear"))}, group=GROUP)
    with pytest.warns(UserWarning, match="subject plugin failed to load"):
        registry = SubjectRegistry().discover()
    messages = " ".join(p.message for p in registry.problems)
    assert "subject plugin exploded" in messages
    assert "registered twice" in messages and "built-in attrbench.subjects.analytic" in messages
    assert good in registry.available()
    assert registry.entries["analytic/linear"].module == "attrbench.subjects.analytic"


def test_direct_registration_errors():
    """register() refuses a taken name (naming both sources) and a non-callable factory;
    a factory whose subject's tags differ from the registration's is refused on build."""
    registry = SubjectRegistry()
    with pytest.raises(DuplicateSubjectError, match="registered twice"):
        registry.register("analytic/linear", lambda: None, source="test")
    with pytest.raises(PluginError, match="zero-argument factory"):
        registry.register("x/not_callable", 3)
    linear = registry.entries["analytic/linear"].obj
    registry.register("x/mislabelled", linear, tags={"image"})
    with pytest.raises(PluginError, match="make them agree"):
        registry.get("x/mislabelled")
