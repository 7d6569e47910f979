"""Tests of the method registry: registration, discovery (built-ins, entry points,
``module:attr`` specs), lookup, parameters and claims.

Isolation: every test that discovers plugins builds its own ``Registry()``; plugin modules
are imported only inside that registry's ``discover()``/``load_spec``, so the module-level
decorator writes only the ledger. The autouse ``_isolate_registry_state`` fixture restores
the ledger after each test, drops the generated plugin modules from ``sys.modules`` and
fails the test if a plugin method leaked into ``default_registry``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest
import torch

import attrbench
import attrbench.methods.builtins
from attrbench.errors import (
    AttrbenchError,
    DuplicateMethodError,
    InputShapeError,
    MethodParameterError,
    PluginError,
    UnknownAxiomError,
    UnknownMethodError,
)
from attrbench.methods import registry as reg_mod
from attrbench.methods.registry import (
    AXIOMS,
    Claim,
    Method,
    PluginProblem,
    Registry,
    as_claims,
    default_registry,
    load_spec,
)

pytestmark = pytest.mark.usefixtures("isolated_method_registry")

EXPECTED_BUILTINS = {
    "influence_decomposition",
    "influence_decomposition[attack=bitflip]",  # a built-in variant (attrbench.methods.variants)
    "saliency",
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
    "expected_gradients",
    "gradient_shap",
    "smoothgrad",
    "deeplift_rescale",
    "epsilon_lrp",
    "occlusion",
    "occlusion_window",
    "shapley_sampling",
    "nonmonotone_path",
    "random",
    "shapley_interaction_index",
    "banzhaf_interaction_index",
    "shapley_taylor_index",
    "integrated_hessians",
}


# -- isolation and plugin-building helpers ------------------------------------------------




class PluginSite:
    """A directory on ``sys.path`` holding generated modules and ``*.dist-info`` folders."""

    def __init__(self, root: Path):
        self.root = root

    def module(self, source: str, prefix: str = "abplug") -> str:
        """Write a uniquely named top-level module; return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    def dist(self, entry_points: dict[str, str], group: str = "attrbench.methods") -> str:
        """Write a real installed distribution (METADATA + entry_points.txt) declaring
        ``entry_points`` in ``group``; return its name."""
        name = f"abplug-dist-{uuid.uuid4().hex[:10]}"
        info = self.root / f"{name.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        lines = [f"[{group}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()
        return name

    def plugin(self, source: str, ep_name: str = "main", attr: str | None = None) -> tuple[str, str]:
        """A module plus a distribution whose entry point names it (or ``module:attr``)."""
        module = self.module(source)
        dist = self.dist({ep_name: f"{module}:{attr}" if attr else module})
        return module, dist


@pytest.fixture
def site(tmp_path, monkeypatch) -> PluginSite:
    """A fresh plugin directory prepended to ``sys.path``; ``ATTRBENCH_PLUGINS`` unset."""
    monkeypatch.delenv(reg_mod.PLUGINS_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return PluginSite(tmp_path)


def decorated_module(method_name: str, *, claims=("completeness",), scale: float = 2.0) -> str:
    """Source of a module plugin registering ``method_name`` with the public decorator."""
    return f"""
        import attrbench

        @attrbench.register_method(
            {method_name!r},
            claims={claims!r},
            kind="gradient",
            reference="Plugin et al. 2024, Eq. 1",
        )
        def plugin_method(model, x, target, baseline, *, scale={scale!r}):
            return x * scale
    """


def quiet_discover(registry: Registry) -> Registry:
    """Discover, failing the test on any warning (no plugin is expected to break)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.discover()
    assert registry.problems == []
    return registry


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# -- entry-point discovery ----------------------------------------------------------------


def test_entry_point_module_plugin_registers_on_import(site):
    """A distribution whose entry point names a module that registers with
    ``@attrbench.register_method`` on import is discovered by a fresh Registry, with its
    metadata, an entry-point source naming the distribution, and a working method."""
    name = unique("modplug")
    module, dist = site.plugin(decorated_module(name, claims=("completeness", "dummy")))
    registry = quiet_discover(Registry())

    assert EXPECTED_BUILTINS <= set(registry.available())
    assert name in registry.available()
    entry = registry.entries[name]
    assert [c.axiom for c in entry.claims] == ["completeness", "dummy"]
    assert entry.kind == "gradient"
    assert entry.reference == "Plugin et al. 2024, Eq. 1"
    assert entry.module == module
    assert "entry point main" in entry.source and dist in entry.source and module in entry.source

    method = registry.get(name, scale=3.0)
    x = torch.arange(4.0).reshape(1, 4)
    torch.testing.assert_close(method.attribute(None, x, torch.tensor([0])), 3 * x)
    assert name not in default_registry.entries


def test_entry_point_module_already_imported_registers_into_second_registry(site):
    """A module plugin imported once (by an earlier registry) still registers into a second
    fresh Registry: discovery falls back to the ledger entries of that module."""
    name = unique("twice")
    site.plugin(decorated_module(name))
    first = quiet_discover(Registry())
    second = quiet_discover(Registry())
    assert name in first.entries and name in second.entries
    assert first.entries[name].obj is second.entries[name].obj


def test_entry_point_register_callable_plugin(site):
    """An entry point naming a ``register(registry)`` callable is called with the
    discovering registry; methods it adds with ``registry.register`` and the
    ``registry.register_method`` decorator are available, configured and claimed."""
    direct, decorated = unique("cb_direct"), unique("cb_deco")
    source = f"""
        from attrbench import Claim

        def _direct(model, x, target, baseline, *, offset=0.0):
            return x + offset

        def register(registry):
            registry.register(
                {direct!r}, _direct, claims=("linearity",), kind="other", reference="ref A"
            )

            @registry.register_method(
                {decorated!r},
                claims=(Claim("ndp", frozenset({{"relu"}})),),
                needs_baseline=True,
                reference="ref B",
            )
            def _decorated(model, x, target, baseline):
                return x - baseline
    """
    module, dist = site.plugin(source, ep_name="hooks", attr="register")
    registry = quiet_discover(Registry())

    assert {direct, decorated} <= set(registry.available())
    assert registry.entries[direct].claims == (Claim("linearity"),)
    assert registry.entries[decorated].needs_baseline is True
    assert registry.get(decorated).claims_axiom("ndp") is True
    assert registry.get(decorated).claims_axiom("ndp", {"relu"}) is False
    x = torch.ones(2, 3)
    torch.testing.assert_close(registry.get(direct, offset=1.5).attribute(None, x, 0), x + 1.5)
    torch.testing.assert_close(registry.get(decorated).attribute(None, x, 0, x / 2), x / 2)
    assert direct not in default_registry.entries


def test_entry_point_register_callable_using_module_decorator(site):
    """A ``register(registry)`` callable that uses the module-level
    ``attrbench.register_method`` decorator inside the hook registers into the discovering
    registry (not the default one), tagged with the entry-point source."""
    name = unique("cb_ledger")
    source = f"""
        import attrbench

        def register(registry):
            @attrbench.register_method({name!r}, claims=("dummy",), reference="ref")
            def _m(model, x, target, baseline):
                return x
    """
    module, dist = site.plugin(source, ep_name="ledgerhook", attr="register")
    registry = quiet_discover(Registry())
    assert name in registry.entries
    assert "entry point ledgerhook" in registry.entries[name].source
    assert dist in registry.entries[name].source
    assert name not in default_registry.entries


def test_entry_point_import_failure_is_reported_and_others_load(site):
    """A plugin whose import raises is recorded in ``Registry.problems`` (its entry-point
    source, the exception type and message, and a traceback summary pointing into the
    plugin file) and warned about, while the other plugins and the built-ins still load."""
    token = uuid.uuid4().hex[:8]
    broken_module, broken_dist = site.plugin(
        f"""
        x = 1

        raise RuntimeError("plugin exploded {token}")
        """,
        ep_name="broken",
    )
    good_name = unique("survivor")
    good_module, good_dist = site.plugin(decorated_module(good_name), ep_name="good")

    registry = Registry()
    with pytest.warns(UserWarning, match=f"plugin failed to load.*plugin exploded {token}"):
        registry.discover()

    assert len(registry.problems) == 1
    problem = registry.problems[0]
    assert isinstance(problem, PluginProblem)
    assert "entry point broken" in problem.source and broken_dist in problem.source
    assert problem.message == f"RuntimeError: plugin exploded {token}"
    assert f"{broken_module}.py" in problem.traceback
    assert f'raise RuntimeError("plugin exploded {token}")' in problem.traceback
    assert problem.message in str(problem) and problem.traceback in str(problem)

    assert good_name in registry.entries
    assert EXPECTED_BUILTINS <= set(registry.entries)


def test_entry_point_module_registering_nothing_is_a_problem(site):
    """An entry point naming a module that registers no method is reported as a
    PluginError problem that says how to register (the decorator or a register hook)."""
    module, dist = site.plugin("VALUE = 1\n", ep_name="empty")
    registry = Registry()
    with pytest.warns(UserWarning, match="registered no method"):
        registry.discover()
    [problem] = registry.problems
    assert problem.message.startswith("PluginError:")
    assert "register_method" in problem.message and "register(registry)" in problem.message


def test_entry_point_duplicate_of_builtin_names_both_sources(site):
    """A plugin that registers a built-in name ("saliency") is recorded as that plugin's
    DuplicateMethodError problem naming both the built-in and the entry-point source; the
    built-in keeps the name and the other plugins still load."""
    dup_module, dup_dist = site.plugin(decorated_module("saliency"), ep_name="dup")
    good_name = unique("bystander")
    site.plugin(decorated_module(good_name), ep_name="good")

    registry = Registry()
    with pytest.warns(UserWarning, match="registered twice"):
        registry.discover()

    [problem] = registry.problems
    assert problem.message.startswith("DuplicateMethodError:")
    assert "'saliency'" in problem.message
    assert "built-in attrbench.methods.gradient.saliency" in problem.message
    assert f"entry point dup = {dup_module} ({dup_dist} 0.1)" in problem.message
    assert "entry point dup" in problem.source
    assert registry.entries["saliency"].module == "attrbench.methods.gradient"
    assert good_name in registry.entries


def test_plugins_none_env_loads_only_builtins(site, monkeypatch):
    """``ATTRBENCH_PLUGINS=none`` skips every entry point: a fresh Registry holds exactly
    the built-ins; ``Registry(plugins=...)`` overrides the environment variable."""
    name = unique("skipped")
    module, dist = site.plugin(decorated_module(name))
    monkeypatch.setenv("ATTRBENCH_PLUGINS", "none")

    registry = quiet_discover(Registry())
    assert set(registry.available()) == EXPECTED_BUILTINS
    assert module not in sys.modules  # never even imported

    overridden = quiet_discover(Registry(plugins=dist))
    assert name in overridden.entries


def test_plugins_allow_list_loads_only_named_distribution(site, monkeypatch):
    """An allow-list in ``ATTRBENCH_PLUGINS`` naming one distribution (case, blanks and
    ``-``/``_`` insensitive) loads only that distribution's plugin."""
    name_a, name_b = unique("allowed"), unique("blocked")
    module_a, dist_a = site.plugin(decorated_module(name_a), ep_name="a")
    module_b, dist_b = site.plugin(decorated_module(name_b), ep_name="b")

    monkeypatch.setenv("ATTRBENCH_PLUGINS", f" {dist_a.upper().replace('-', '_')} ")
    registry = quiet_discover(Registry())
    assert name_a in registry.entries
    assert name_b not in registry.entries
    assert module_b not in sys.modules
    assert set(registry.entries) == EXPECTED_BUILTINS | {name_a}


def test_plugins_argument_overrides_env_allow_list(site, monkeypatch):
    """``Registry(plugins=B)`` loads distribution B even when ``ATTRBENCH_PLUGINS`` names
    only A, and does not load A."""
    name_a, name_b = unique("env_listed"), unique("arg_listed")
    module_a, dist_a = site.plugin(decorated_module(name_a), ep_name="a")
    module_b, dist_b = site.plugin(decorated_module(name_b), ep_name="b")
    monkeypatch.setenv("ATTRBENCH_PLUGINS", dist_a)

    explicit = quiet_discover(Registry(plugins=dist_b))
    assert name_b in explicit.entries and name_a not in explicit.entries
    assert module_a not in sys.modules


def test_plugins_none_excludes_plugins_imported_by_an_earlier_registry(site):
    """``plugins="none"`` must give only the built-ins even when another registry in the
    process already imported the plugin (e.g. ``default_registry`` discovered all
    plugins). Exposes a bug: the last loop of ``Registry._discover`` adds every ledger
    entry no registry claimed in *this* discovery, including entry-point plugins."""
    name = unique("earlier")
    site.plugin(decorated_module(name))
    everything = quiet_discover(Registry())
    assert name in everything.entries

    builtins_only = Registry(plugins="none").discover()
    assert set(builtins_only.entries) == EXPECTED_BUILTINS


def test_allow_list_excludes_unlisted_plugins_imported_by_an_earlier_registry(site):
    """An allow-list naming distribution A must not load distribution B's methods even
    when B's module was already imported by an earlier registry (same bug as above)."""
    name_a, name_b = unique("listed"), unique("unlisted")
    module_a, dist_a = site.plugin(decorated_module(name_a), ep_name="a")
    module_b, dist_b = site.plugin(decorated_module(name_b), ep_name="b")
    quiet_discover(Registry())

    only_a = Registry(plugins=dist_a).discover()
    assert name_a in only_a.entries
    assert name_b not in only_a.entries


def test_plugin_failing_midway_contributes_no_methods(site):
    """A module plugin that registers a method and then raises during import failed to
    load: it is reported, and the method it registered before failing must not end up in
    the registry (as an unattributed 'user code' entry). Exposes the same bug in the last
    loop of ``Registry._discover``."""
    half = unique("half_loaded")
    module, dist = site.plugin(
        textwrap.dedent(decorated_module(half))
        + "\nraise ImportError('missing optional dependency')\n",
        ep_name="half",
    )
    registry = Registry()
    with pytest.warns(UserWarning, match="missing optional dependency"):
        registry.discover()
    assert [p.message for p in registry.problems] == ["ImportError: missing optional dependency"]
    assert half not in registry.entries


# -- user-code registrations ----------------------------------------------------------------


def test_decorator_before_discovery_registers_into_fresh_registry():
    """A method decorated by user code (outside any discovery) is in the ledger and is
    picked up by a Registry discovered afterwards; when the default registry is already
    discovered the decorator also adds it there at once (cleaned up via monkeypatch)."""
    name = unique("user_code")
    mp = pytest.MonkeyPatch()
    try:
        default_registry.discover()
        mp.setattr(default_registry, "entries", dict(default_registry.entries))

        @attrbench.register_method(name, claims=("dummy",), reference="user")
        def user_method(model, x, target, baseline):
            return x

        assert user_method.__attrbench_method__ == name
        assert default_registry.entries[name].obj is user_method
        assert attrbench.methods.get(name).name == name
        fresh = quiet_discover(Registry(plugins="none"))
        assert fresh.entries[name].obj is user_method
        assert fresh.entries[name].source.startswith("module ")
    finally:
        mp.undo()
    assert name not in default_registry.entries


# -- module:attr specs ---------------------------------------------------------------------


def test_load_spec_decorated_function(site):
    """``load_spec("module:attr")`` on a decorated function imports the module, registers
    the decorated name (with its claims, source ``spec ...``) and returns that name."""
    name = unique("spec_deco")
    module = site.module(decorated_module(name, claims=("sensitivity_a",)), prefix="abspec")
    registry = Registry(plugins="none")
    spec = f"{module}:plugin_method"

    assert load_spec(spec, registry) == name
    entry = registry.entries[name]
    assert entry.claims == (Claim("sensitivity_a"),)
    assert entry.source == f"spec {spec}: {module}"
    assert name not in default_registry.entries
    # loading the same spec again is idempotent
    assert load_spec(spec, registry) == name


def test_load_spec_decorated_function_into_second_registry(site):
    """A spec whose module was already imported for another registry still registers the
    decorated method into a second registry."""
    name = unique("spec_again")
    module = site.module(decorated_module(name), prefix="abspec")
    first, second = Registry(plugins="none"), Registry(plugins="none")
    assert load_spec(f"{module}:plugin_method", first) == name
    assert load_spec(f"{module}:plugin_method", second) == name
    assert second.entries[name].obj is first.entries[name].obj


def test_load_spec_plain_callable_registered_under_spec(site):
    """A spec naming an undecorated ``(model, x, target, baseline)`` callable registers it
    under the spec string itself, with no claims, and ``get(spec, **params)`` works."""
    module = site.module(
        """
        def plain(model, x, target, baseline, *, factor=1.0):
            return x * factor
        """,
        prefix="abspec",
    )
    spec = f"{module}:plain"
    registry = Registry(plugins="none")
    assert load_spec(spec, registry) == spec
    entry = registry.entries[spec]
    assert entry.claims == ()
    assert entry.source == f"spec {spec}"
    method = registry.get(spec, factor=4.0)
    assert method.claims_axiom("completeness") is False
    torch.testing.assert_close(method.attribute(None, torch.ones(1, 2), 0), torch.full((1, 2), 4.0))


def test_load_spec_dotted_attribute_path(site):
    """``module:Outer.inner`` walks attributes after the colon."""
    module = site.module(
        """
        class Outer:
            @staticmethod
            def inner(model, x, target, baseline):
                return -x
        """,
        prefix="abspec",
    )
    spec = f"{module}:Outer.inner"
    registry = Registry(plugins="none")
    assert load_spec(spec, registry) == spec
    torch.testing.assert_close(registry.get(spec).attribute(None, torch.ones(2), 0), -torch.ones(2))


def test_registry_get_resolves_spec(site):
    """``Registry.get("module:attr")`` loads an unknown spec on the fly."""
    name = unique("via_get")
    module = site.module(decorated_module(name), prefix="abspec")
    registry = Registry(plugins="none")
    method = registry.get(f"{module}:plugin_method", scale=5.0)
    assert isinstance(method, Method)
    assert method.name == name and method.params == {"scale": 5.0}
    assert name in registry.entries


def test_load_spec_missing_module_says_what_to_do():
    """A spec whose module cannot be imported raises PluginError naming the module and the
    spec and saying to make it importable (installed or on PYTHONPATH)."""
    spec = f"abspec_missing_{uuid.uuid4().hex[:8]}.sub:method"
    with pytest.raises(PluginError) as info:
        load_spec(spec, Registry(plugins="none"))
    text = str(info.value)
    assert "cannot import" in text and spec in text and "ModuleNotFoundError" in text
    assert "installed, or on PYTHONPATH" in text


def test_load_spec_module_raising_on_import(site):
    """A spec module that raises on import gives a PluginError with the exception message
    and a traceback summary pointing into the module."""
    module = site.module("raise ValueError('bad spec module')\n", prefix="abspec")
    with pytest.raises(PluginError, match="ValueError: bad spec module") as info:
        load_spec(f"{module}:anything", Registry(plugins="none"))
    assert f"{module}.py" in str(info.value)


def test_load_spec_missing_attribute(site):
    """A spec naming an attribute the module lacks raises PluginError naming both."""
    module = site.module("def present(model, x, target, baseline):\n    return x\n", prefix="abspec")
    with pytest.raises(PluginError, match=rf"module '{module}' has no attribute 'absent'"):
        load_spec(f"{module}:absent", Registry(plugins="none"))


@pytest.mark.parametrize("spec", ["no_colon_here", ":attr", "module:", ""])
def test_load_spec_malformed(spec):
    """A spec that is not ``package.module:attribute`` raises PluginError saying so."""
    with pytest.raises(PluginError, match="not of the form package.module:attribute"):
        load_spec(spec, Registry(plugins="none"))


def test_load_spec_rejects_bad_signature(site):
    """A spec at a callable without the (model, x, target, baseline) signature raises
    PluginError saying what to point it at."""
    module = site.module(
        """
        def too_few(model, x):
            return x
        """,
        prefix="abspec",
    )
    registry = Registry(plugins="none")
    with pytest.raises(PluginError, match=r"must take\s+\(model, x, target, baseline\)"):
        load_spec(f"{module}:too_few", registry)


def test_load_spec_registers_configured_methods(site):
    """A spec at a configured Method registers it as built: a registered method without
    options as itself, with options as its variant (canonical name), and a Captum class
    wrapped by attrbench.adapters.captum.wrap under its own name with its options preset
    (its attributions equal the wrapped Method's: the same object runs)."""
    pytest.importorskip("captum.attr", reason="the Captum adapter needs captum")
    module = site.module(
        """
        from captum.attr import GuidedBackprop
        from attrbench.adapters.captum import wrap
        from attrbench.methods.registry import Registry

        plain = Registry(plugins="none").get("gradient")
        ig8 = Registry(plugins="none").get("integrated_gradients", n_steps=8)
        gbp = wrap(GuidedBackprop)
        """,
        prefix="abspec",
    )
    registry = Registry(plugins="none")
    assert load_spec(f"{module}:plain", registry) == "gradient"
    assert load_spec(f"{module}:ig8", registry) == "integrated_gradients[n_steps=8]"
    assert registry.get("integrated_gradients[n_steps=8]").params == {"n_steps": 8}
    assert load_spec(f"{module}:gbp", registry) == "captum_guided_backprop"
    entry = registry.entry("captum_guided_backprop")
    assert (entry.claims, entry.source) == ((), f"spec {module}:gbp")
    assert load_spec(f"{module}:gbp", registry) == "captum_guided_backprop"  # twice: the same object


def test_load_spec_duplicate_of_builtin_raises_every_time(site):
    """A spec at a function decorated with a built-in's name raises DuplicateMethodError
    naming both sources -- on the second call too, when the module is already imported.
    Exposes a bug: ``load_spec`` returns the decorated name whenever *any* entry of that
    name exists, so the second call silently returns the built-in saliency."""
    module = site.module(decorated_module("saliency"), prefix="abspec")
    spec = f"{module}:plugin_method"
    registry = Registry(plugins="none")
    with pytest.raises(DuplicateMethodError, match="built-in attrbench.methods.gradient.saliency"):
        load_spec(spec, registry)
    assert registry.entries["saliency"].module == "attrbench.methods.gradient"
    with pytest.raises(DuplicateMethodError):
        load_spec(spec, registry)


def test_load_spec_undecorated_subclass_of_registered_class(site):
    """A spec at an undecorated subclass of a decorated class must register the subclass
    (under the spec), not return the parent's method. Exposes a bug: ``load_spec`` reads
    ``__attrbench_method__`` with getattr, which the subclass inherits."""
    base = unique("base_cls")
    module = site.module(
        f"""
        import attrbench

        @attrbench.register_method({base!r}, claims=("completeness",), reference="ref")
        class Base:
            def attribute(self, model, x, target, baseline):
                return x

        class Child(Base):
            def attribute(self, model, x, target, baseline):
                return 2 * x
        """,
        prefix="abspec",
    )
    registry = Registry(plugins="none")
    spec = f"{module}:Child"
    name = load_spec(spec, registry)
    method = registry.get(name)
    torch.testing.assert_close(method.attribute(None, torch.ones(3), 0), 2 * torch.ones(3))
    assert name == spec
    assert method.claims == ()


# -- parameters, classes, labels -------------------------------------------------------------


class Scaled:
    """A class-based method configured by its constructor."""

    def __init__(self, factor: float = 1.0, *, shift: float = 0.0):
        self.factor = factor
        self.shift = shift

    def attribute(self, model, x, target, baseline):
        return x * self.factor + self.shift


def test_class_based_method_configured_by_constructor():
    """``get(name, **params)`` on a class builds an instance with those constructor
    params; its ``attribute`` is the Method's; params, label and metadata carry over."""
    registry = Registry(plugins="none")
    registry.register("scaled", Scaled, claims=("linearity",), kind="other", reference="ref")
    entry = registry.entries["scaled"]
    assert list(entry.parameters()) == ["factor", "shift"]

    method = registry.get("scaled", factor=3.0, shift=1.0)
    assert isinstance(method, Method)
    assert method.params == {"factor": 3.0, "shift": 1.0}
    assert method.label == "scaled(factor=3.0, shift=1.0)"
    assert method.claims_axiom("linearity") and not method.claims_axiom("completeness")
    x = torch.tensor([[1.0, 2.0]])
    torch.testing.assert_close(method.attribute(None, x, 0), x * 3 + 1)

    plain = registry.get("scaled")
    assert plain.label == "scaled" and plain.params == {}
    torch.testing.assert_close(plain.attribute(None, x, 0), x)
    assert "scaled" in repr(plain) and "from" in repr(plain)


def test_function_based_params_and_label():
    """Keyword parameters after (model, x, target, baseline) configure a function method:
    the built-in IG accepts ``n_steps`` and its label shows the non-default params."""
    registry = Registry(plugins="none")
    ig = registry.get("integrated_gradients", n_steps=20)
    assert ig.params == {"n_steps": 20}
    assert ig.label == "integrated_gradients(n_steps=20)"
    assert registry.get("integrated_gradients").label == "integrated_gradients"
    assert {"n_steps", "integration", "internal_batch_size"} <= set(
        registry.entries["integrated_gradients"].parameters()
    )

    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    target = torch.zeros(4, dtype=torch.long)
    expected = x * model.weight[0].detach()  # IG of an affine model from a zero baseline
    torch.testing.assert_close(ig.attribute(model, x, target, None), expected)


def test_function_params_are_passed_to_the_function():
    """A registered function receives the configured keyword params on each call."""
    seen = []

    def method(model, x, target, baseline, *, alpha=1, beta="b"):
        seen.append((alpha, beta))
        return x

    registry = Registry(plugins="none")
    registry.register("fn", method)
    registry.get("fn", beta="z").attribute(None, torch.zeros(1), 0)
    registry.get("fn").attribute(None, torch.zeros(1), 0)
    assert seen == [(1, "z"), (1, "b")]


def test_unknown_param_lists_accepted_ones():
    """An unknown parameter raises MethodParameterError (a TypeError) naming it and
    listing the parameters the method accepts (or saying it accepts none)."""
    registry = Registry(plugins="none")
    with pytest.raises(MethodParameterError) as info:
        registry.get("integrated_gradients", n_step=20)
    text = str(info.value)
    assert "'integrated_gradients'" in text and "'n_step'" in text
    assert "n_steps" in text and "integration" in text and "internal_batch_size" in text
    assert isinstance(info.value, TypeError) and isinstance(info.value, AttrbenchError)

    registry.register("scaled", Scaled)
    with pytest.raises(MethodParameterError, match="it accepts: factor, shift"):
        registry.get("scaled", scale=2)

    registry.register("bare", lambda model, x, target, baseline: x)
    with pytest.raises(MethodParameterError, match="no parameters"):
        registry.get("bare", anything=1)


def test_var_keyword_function_accepts_any_param():
    """A method written as ``(model, x, target, baseline, **params)`` (the issue's own
    signature) accepts any keyword parameter. Exposes a bug: ``MethodEntry.parameters``
    drops VAR_KEYWORD, so ``build`` rejects every parameter with "no parameters"."""

    def flexible(model, x, target, baseline, **params):
        return x * params.get("scale", 1.0)

    registry = Registry(plugins="none")
    registry.register("flexible", flexible)
    method = registry.get("flexible", scale=2.0)
    torch.testing.assert_close(method.attribute(None, torch.ones(2), 0), torch.full((2,), 2.0))


def test_register_rejects_bad_objects():
    """Registration refuses callables without the (model, x, target, baseline) signature,
    classes without ``attribute`` and empty names, with PluginErrors saying what to fix."""
    registry = Registry(plugins="none")
    with pytest.raises(PluginError, match="must take"):
        registry.register("short", lambda model, x: x)

    class NoAttribute:
        pass

    with pytest.raises(PluginError, match="has no attribute\\(\\) method"):
        registry.register("noattr", NoAttribute)

    class ShortAttribute:
        def attribute(self, model, x):
            return x

    with pytest.raises(PluginError, match="must take"):
        registry.register("shortattr", ShortAttribute)
    with pytest.raises(PluginError, match="non-empty string"):
        registry.register("  ", lambda model, x, target, baseline: x)
    assert not {"short", "noattr", "shortattr", "  "} & set(registry.entries)


# -- unknown names and duplicates ------------------------------------------------------------


def test_unknown_method_suggests_close_matches():
    """An unknown name raises UnknownMethodError (a KeyError whose str is unquoted) that
    suggests the close match and points at ``attrbench list``."""
    registry = Registry(plugins="none")
    with pytest.raises(UnknownMethodError) as info:
        registry.get("integrated_gradient")
    text = str(info.value)
    assert "no attribution method named 'integrated_gradient'" in text
    assert "Did you mean 'integrated_gradients'" in text
    assert "attrbench list" in text
    assert isinstance(info.value, KeyError)
    assert not text.startswith('"')

    with pytest.raises(UnknownMethodError) as info:
        registry.get("zzzzqqqq")
    assert "Did you mean" not in str(info.value)


def test_module_level_get_and_available_use_default_registry():
    """``attrbench.methods.get``/``available`` read the default registry: unknown names
    suggest close matches and every expected built-in is available."""
    assert EXPECTED_BUILTINS <= set(attrbench.methods.available())
    assert attrbench.methods.get("saliency").name == "saliency"
    with pytest.raises(UnknownMethodError, match="Did you mean 'saliency'"):
        attrbench.methods.get("salency")


def test_duplicate_register_names_both_sources():
    """Registering a second object under a taken name raises DuplicateMethodError whose
    message names both sources; re-registering the same object is a no-op."""
    registry = Registry(plugins="none")

    def first(model, x, target, baseline):
        return x

    def second(model, x, target, baseline):
        return -x

    registry.register("dup", first)
    assert registry.register("dup", first).obj is first  # same object: idempotent
    with pytest.raises(DuplicateMethodError) as info:
        registry.register("dup", second)
    text = str(info.value)
    assert f"module {__name__}.test_duplicate_register_names_both_sources.<locals>.first" in text
    assert f"module {__name__}.test_duplicate_register_names_both_sources.<locals>.second" in text
    assert "ATTRBENCH_PLUGINS" in text
    assert registry.entries["dup"].obj is first

    with pytest.raises(DuplicateMethodError, match="by source-one and by source-two"):
        registry.register("dup2", first, source="source-one")
        registry.register("dup2", second, source="source-two")


def test_register_builtin_name_raises_at_register_time():
    """``Registry.register`` under a built-in's name raises DuplicateMethodError naming the
    built-in, at the register call, even before the registry has discovered, and the
    registry stays usable. Exposes a bug: ``register`` does not discover first, so the clash
    is raised later from ``discover()`` (unguarded ``self.add`` of the built-ins in
    ``_discover``) on every lookup, e.g. ``get("gradient")``, and the registry never finishes
    discovering."""

    def impostor(model, x, target, baseline):
        return -x

    registry = Registry(plugins="none")
    with pytest.raises(DuplicateMethodError, match="built-in attrbench.methods.gradient.saliency"):
        registry.register("saliency", impostor)
    assert registry.get("gradient").name == "gradient"
    assert registry.entries["saliency"].module == "attrbench.methods.gradient"


def test_register_builtin_name_after_discovery_raises():
    """After discovery, ``Registry.register`` under a built-in's name raises at once,
    naming both the built-in and the new object's source; the built-in keeps the name."""

    def impostor(model, x, target, baseline):
        return -x

    registry = Registry(plugins="none").discover()
    with pytest.raises(DuplicateMethodError) as info:
        registry.register("saliency", impostor)
    assert "built-in attrbench.methods.gradient.saliency" in str(info.value)
    assert "impostor" in str(info.value)
    assert registry.entries["saliency"].module == "attrbench.methods.gradient"


# -- claims -------------------------------------------------------------------------------


def test_unknown_axiom_suggests():
    """An unknown axiom raises UnknownAxiomError (a ValueError) with a suggestion and the
    known list -- from Claim, from Registry.register and from the decorator."""
    with pytest.raises(UnknownAxiomError, match="Did you mean 'completeness'") as info:
        Claim("completness")
    assert isinstance(info.value, ValueError)
    assert all(axiom in str(info.value) for axiom in AXIOMS)

    registry = Registry(plugins="none")
    with pytest.raises(UnknownAxiomError, match="Did you mean 'sensitivity_a'"):
        registry.register("m", lambda model, x, target, baseline: x, claims=("sensitivty_a",))
    assert "m" not in registry.entries

    ledger_len = len(reg_mod._LEDGER)
    with pytest.raises(UnknownAxiomError, match="Did you mean 'lipschitz'"):
        attrbench.register_method(unique("never"), claims=("lipshitz",))(
            lambda model, x, target, baseline: x
        )
    assert len(reg_mod._LEDGER) == ledger_len

    with pytest.raises(UnknownAxiomError) as info:
        Claim("qwertyuiop")
    assert "Did you mean" not in str(info.value)


def test_claim_unless_scoping():
    """``Claim.applies_to`` and ``Method.claims_axiom`` honour ``unless`` subject tags."""
    claim = Claim("completeness", {"multiplicative", "bias"})
    assert isinstance(claim.unless, frozenset)
    assert claim.applies_to([]) and claim.applies_to(["relu", "smooth"])
    assert not claim.applies_to(["relu", "multiplicative"])
    assert not claim.applies_to(frozenset({"bias"}))
    assert str(claim) == "completeness (unless bias, multiplicative)"
    assert str(Claim("ndp")) == "ndp"
    assert hash(claim) == hash(Claim("completeness", frozenset({"bias", "multiplicative"})))
    assert as_claims(["dummy", claim]) == (Claim("dummy"), claim)

    registry = Registry(plugins="none")
    registry.register(
        "scoped",
        lambda model, x, target, baseline: x,
        claims=("dummy", Claim("ndp", {"relu"})),
    )
    method = registry.get("scoped")
    assert method.claims_axiom("dummy", {"relu"})
    assert method.claims_axiom("ndp") and method.claims_axiom("ndp", {"smooth"})
    assert not method.claims_axiom("ndp", {"relu"})
    assert not method.claims_axiom("completeness")

    deeplift = registry.get("deeplift_rescale")
    assert deeplift.claims_axiom("completeness", {"relu"})
    assert not deeplift.claims_axiom("completeness", {"multiplicative"})
    assert deeplift.claims_axiom("linearity", {"multiplicative"})
    ig = registry.get("integrated_gradients")
    assert ig.claims_axiom("lipschitz", {"smooth"}) and not ig.claims_axiom("lipschitz", {"relu"})


# -- built-ins ------------------------------------------------------------------------------


def test_builtins_present_with_references_and_known_claims():
    """Every expected built-in is registered; every built-in has a kind, a reference,
    a built-in source, and claims only known axioms (with string ``unless`` tags)."""
    registry = quiet_discover(Registry(plugins="none"))
    names = registry.available()
    assert names == sorted(names)
    assert EXPECTED_BUILTINS <= set(names)
    for name in names:
        entry = registry.entries[name]
        assert entry.reference.strip(), name
        assert entry.kind and entry.kind != "other", name
        assert entry.source.startswith("built-in attrbench.methods."), name
        for claim in entry.claims:
            assert isinstance(claim, Claim) and claim.axiom in AXIOMS, (name, claim)
            assert all(isinstance(tag, str) and len(tag) > 1 for tag in claim.unless), (name, claim)
        method = registry.get(name)
        assert method.name == name and method.label == name
    assert registry.entries["random"].claims == ()
    assert registry.entries["random"].differentiable is False


def test_distributional_is_a_flag_not_a_kind():
    """``distributional`` (not ``kind``, a display group) says the baseline is a reference
    set X′ ~ D shared by every sample (002 §5): the two built-ins that take one set it, a
    registration carries it to the Method, and argument validation reads it — five
    reference rows for two inputs are accepted with the flag and refused (they are not one
    baseline per sample) by a method merely of kind "distributional"."""
    registry = quiet_discover(Registry(plugins="none"))
    assert {n for n in registry.available() if registry.entries[n].distributional} == {
        "expected_gradients", "gradient_shap"
    }

    def identity(model, x, target, baseline):
        return x

    registry.register("reference_set", identity, distributional=True, reference="r")
    registry.register("pointwise", identity, kind="distributional", reference="r")
    x, rows = torch.ones(2, 3), torch.zeros(5, 3)
    assert registry.get("reference_set").distributional and not registry.get("pointwise").distributional
    torch.testing.assert_close(registry.get("reference_set").attribute(None, x, 0, rows), x)
    with pytest.raises(InputShapeError, match="does not broadcast"):
        registry.get("pointwise").attribute(None, x, 0, rows)


def test_every_builtin_runs_on_a_tiny_model():
    """Each built-in, built with default params, returns a finite tensor shaped like x on a
    tiny smooth model (a sanity check that registration wired the right callables)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).eval()
    x = torch.randn(2, 4)
    target = torch.tensor([0, 1])
    baseline = torch.zeros(1, 4)
    registry = Registry(plugins="none")
    image_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)).eval()
    image = torch.randn(2, 1, 4, 4)
    for name in sorted(EXPECTED_BUILTINS):
        if name == "occlusion_window":  # images only
            args = (image_model, image.clone(), target, torch.zeros(1, 1, 4, 4))
        elif name == "influence_decomposition[attack=bitflip]":  # inputs in {0, 1} only
            args = (model, (x > 0).to(x.dtype), target, baseline)
        else:
            args = (model, x.clone(), target, baseline)
        out = registry.get(name).attribute(*args)
        assert isinstance(out, torch.Tensor), name
        assert out.shape == args[1].shape, name
        assert torch.isfinite(out).all(), name


def test_registry_discovers_lazily_once():
    """A Registry discovers on first lookup, only once; ``discover()`` returns itself."""
    registry = Registry(plugins="none")
    assert not registry.discovered and registry.entries == {}
    assert "saliency" in registry.available()
    assert registry.discovered
    entries = dict(registry.entries)
    assert registry.discover() is registry
    assert registry.entries == entries
    assert inspect.signature(Registry).parameters["plugins"].default is None


# -- plugins are untrusted input ------------------------------------------------------------


def test_loading_a_plugin_runs_only_the_import_its_entry_point_names(site, tmp_path, monkeypatch):
    """Plugins are untrusted input (issue "Reliability", item 6): discovery imports the
    module an allowed entry point names and nothing else. Each module of the test writes a
    marker file when it runs: the named module's import writes one; its method (not called
    by discovery), a sibling module of the same distribution that no entry point names,
    and the module of a distribution ``ATTRBENCH_PLUGINS`` leaves out write none."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def marking(label: str, body: str = "") -> str:
        return f"""
            from pathlib import Path
            Path({str(marks / label)!r}).write_text("ran")
            {body}
        """

    sibling = site.module(marking("sibling"))
    name = unique("trusted")
    method_body = f"""
            import attrbench

            @attrbench.register_method({name!r})
            def trusted(model, x, target, baseline):
                Path({str(marks / "called")!r}).write_text("ran")
                return x
    """
    module = site.module(textwrap.dedent(marking("imported")) + textwrap.dedent(method_body))
    allowed = site.dist({"trusted": module})
    site.dist({"other": sibling})  # an entry point of another distribution
    monkeypatch.setenv("ATTRBENCH_PLUGINS", allowed)

    registry = quiet_discover(Registry())
    assert name in registry.entries
    assert sorted(p.name for p in marks.iterdir()) == ["imported"]
    assert sibling not in sys.modules
    registry.get(name).attribute(None, torch.ones(1, 2), 0)  # only a call runs the method
    assert sorted(p.name for p in marks.iterdir()) == ["called", "imported"]
