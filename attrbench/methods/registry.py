"""The method registry: register, discover (built-ins, entry points, ``module:attr``), get.

A method is a function ``(model, x, target, baseline) -> Tensor`` or a class whose
instances have ``attribute(model, x, target, baseline)``; keyword parameters of the
function (or of the class constructor) configure it: ``get("integrated_gradients",
n_steps=20)``. Discovery order: built-ins, then the entry-point group
``attrbench.methods`` (filtered by ``ATTRBENCH_PLUGINS``), then registrations made in
user code. A plugin that fails is recorded in ``Registry.problems`` (and warned about);
the others still load.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from attrbench.errors import (
    DuplicateMethodError,
    InvalidOptionError,
    MethodParameterError,
    PluginError,
    UnknownMethodError,
)
from attrbench.methods.claims import AXIOMS, SUBJECT_TAGS, Claim, as_claims  # noqa: F401  (re-exported)
from attrbench.plugins import (  # noqa: F401  (PLUGINS_ENV, PluginProblem re-exported)
    PLUGINS_ENV,
    Catalog,
    PluginProblem,
    registered_by_user_code,
)

PLUGIN_GROUP = "attrbench.methods"
#: Names under which ``attrbench.adapters.captum_methods`` registers Captum's classes (opt-in).
CAPTUM_PREFIX = "captum/"


@dataclass(frozen=True)
class Option:
    """The allowed values of one method parameter, checked by ``MethodEntry.build``:
    ``type`` int or float (finite) at least ``low`` (above it when ``strict``), or one of
    ``choices``; None too when ``optional``."""

    type: type | None = None
    low: float | None = None
    strict: bool = False
    choices: tuple = ()
    optional: bool = False

    def allows(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.choices:
            return any(type(value) is type(c) and value == c for c in self.choices)
        kind = numbers.Integral if self.type is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return False
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return False
        return self.low is None or (value > self.low if self.strict else value >= self.low)

    def describe(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(map(repr, self.choices))
        else:
            text = "an integer" if self.type is int else "a finite number"
            if self.low is not None:
                text += f" {'>' if self.strict else '>='} {self.low:g}"
        return text + (" or None" if self.optional else "")

    def check(self, method: str, name: str, value: Any) -> None:
        if not self.allows(value):
            raise InvalidOptionError(
                f"method {method!r}: {name}={value!r} is not allowed; {name} must be {self.describe()}."
            )


#: ``internal_batch_size``: points per forward pass, None for all at once.
BATCH_SIZE_OPTION = Option(int, low=1, optional=True)
#: ``seed`` of a method's random generator.
SEED_OPTION = Option(int)


class Method:
    """A configured attribution method: metadata plus ``attribute(model, x, target, baseline)``.

    ``attribute`` returns a tensor shaped like ``x``. When ``x.requires_grad`` is set and the
    method is ``differentiable``, the result carries a graph back to ``x`` (``create_graph``).
    A ``distributional`` method takes a reference set X′ ~ D as ``baseline`` (rows (M, ...)
    shared by every sample; 002 §5) instead of one baseline per sample.

    ``subset_influence`` is None, or — for a method that attributes to subsets of features
    (its function or class has a ``subset_influence(model, x, masks, **params)``
    attribute) — a callable ``(model, x, masks) -> Tensor`` giving one influence per bool
    mask (M, features), called with the method's parameters (001 §3).
    """

    def __init__(self, entry: MethodEntry, params: Mapping[str, Any], impl: Callable, subsets=None, pairs=None):
        self.name = entry.name
        self.claims = entry.claims
        self.needs_baseline = entry.needs_baseline
        self.differentiable = entry.differentiable
        self.distributional = entry.distributional
        self.kind = entry.kind
        self.reference = entry.reference
        self.requires = entry.requires
        self.source = entry.source
        self.params = dict(params)
        self.entry = entry  # the registration it was built from (specs register a configured Method by it)
        #: The registered method this one configures and its non-default options (a variant,
        #: ``attrbench.methods.variants``); ``base`` is the name itself for a plain method.
        self.base = entry.base or entry.name
        self.baseline_kind = entry.baseline_kind
        self.options = dict(sorted({**entry.preset, **({"baseline": entry.baseline_kind} if entry.baseline_kind
                                                         else {})}.items()))  # fmt: skip
        self._impl = impl
        self.subset_influence = subsets
        self.order = entry.order  # 1: attributions only; 2: also interactions() (N, F, F)
        self.index = entry.index  # the interaction index an order-2 method estimates, or None
        self._interactions = pairs

    def interactions(self, model, x, target, baseline=None):
        """An order-2 method's pairwise attributions (N, F, F); see attrbench.methods.interactions."""
        from attrbench.methods.interactions import call_interactions

        return call_interactions(self, self._interactions, model, x, target, baseline)

    def attribute(self, model, x, target, baseline=None):
        """Attributions for ``x`` (N, ...), shaped like ``x``. The arguments are checked first,
        without a forward pass (``attrbench.functional.validate_call``): an
        ``AttrbenchError`` says what to change."""
        from attrbench.functional import validate_call  # torch: not at import (pytest loads the plugin)

        validate_call(model, x, target, baseline, distributional=self.distributional)
        return self._impl(model, x, target, baseline)

    def claims_axiom(self, axiom: str, tags: Iterable[str] = ()) -> bool:
        """True when this method claims ``axiom`` on a subject with ``tags``."""
        return any(c.axiom == axiom and c.applies_to(tags) for c in self.claims)

    @property
    def label(self) -> str:
        """Name plus parameters beyond a variant's own, e.g. ``integrated_gradients(n_steps=20)``."""
        extra = {k: v for k, v in self.params.items() if k not in self.options or self.options[k] != v}
        if not extra:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(extra.items()))
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return f"<Method {self.label} kind={self.kind} from {self.source}>"


@dataclass
class MethodEntry:
    """One registration: the object, its metadata and where it came from."""

    name: str
    obj: Callable
    claims: tuple[Claim, ...]
    needs_baseline: bool
    differentiable: bool
    kind: str
    reference: str
    source: str
    module: str = ""
    user_code: bool = False  # registered by the decorator outside any plugin discovery
    requires: frozenset[str] = frozenset()  # subject tags the method needs (e.g. "image")
    options: Mapping[str, Option] = field(default_factory=dict)  # allowed parameter values
    distributional: bool = False  # baseline is a reference set X' ~ D (002 §5)
    order: int = 1  # 2: an interaction method (it has interactions(); attrbench.methods.interactions)
    index: str | None = None  # the INTERACTION_INDICES entry an order-2 method estimates, if any
    base: str = ""  # a variant: the method it configures (attrbench.methods.variants)
    preset: Mapping[str, Any] = field(default_factory=dict)  # a variant: its non-default options
    baseline_kind: str = ""  # a variant's baseline=KIND (attrbench.subjects.baselines)

    def applies_to(self, tags: Iterable[str]) -> bool:
        """True when a subject with these tags has every tag the method requires."""
        return self.requires <= set(tags)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """Keyword parameters that configure the method."""
        params = list(inspect.signature(self.obj).parameters.values())
        if not inspect.isclass(self.obj):
            params = params[4:]  # after (model, x, target, baseline)
        return {
            p.name: p
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    def _takes_any_keyword(self) -> bool:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(self.obj).parameters.values())

    def build(self, **params: Any) -> Method:
        params = {**self.preset, **params}
        accepted = self.parameters()
        unknown = sorted(set(params) - set(accepted))
        if unknown and not self._takes_any_keyword():
            raise MethodParameterError(
                f"method {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"it accepts: {', '.join(accepted) or 'no parameters'}."
            )
        for key, value in params.items():
            if key in self.options:
                self.options[key].check(self.name, key, value)
        pairs = None
        if inspect.isclass(self.obj):
            instance = self.obj(**params)
            impl = instance.attribute
            pairs = getattr(instance, "interactions", None) if self.order == 2 else None
        else:
            # impl(model, x, target, baseline) = obj(model, x, target, baseline, **params); partial keeps
            # its own copy of params, so later changes to the dict do not reach it.
            impl = functools.partial(self.obj, **params)
            if self.order == 2:
                pairs = functools.partial(self.obj.interactions, **params)

        hook = getattr(self.obj, "subset_influence", None)
        subsets = None if hook is None else functools.partial(hook, **params)
        return Method(self, params, impl, subsets, pairs)


def _check_signature(name: str, obj: Callable) -> None:
    """Refuse objects that cannot be called as (model, x, target, baseline)."""
    target = obj.attribute if inspect.isclass(obj) and hasattr(obj, "attribute") else obj
    if inspect.isclass(obj) and not hasattr(obj, "attribute"):
        raise PluginError(
            f"method {name!r}: class {obj.__qualname__} has no attribute() method; "
            "give it attribute(self, model, x, target, baseline)."
        )
    if not callable(target):
        raise PluginError(f"method {name!r}: {obj!r} is not callable.")
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    needed = 5 if inspect.isclass(obj) else 4  # self, model, x, target, baseline
    if len(positional) < needed and not has_varargs:
        raise PluginError(
            f"method {name!r}: {getattr(obj, '__qualname__', obj)} takes "
            f"({', '.join(p.name for p in positional)}); it must take "
            "(model, x, target, baseline) followed by keyword parameters."
        )


# Every registration made with the ``register_method`` decorator, in order (the ledger
# discovery reads; see attrbench.plugins).
_LEDGER: list[MethodEntry] = []


@dataclass
class Registry(Catalog):
    """Methods by name. ``discover()`` runs once, lazily, on first use."""

    group = PLUGIN_GROUP
    builtins = "attrbench.methods.builtins"
    ledger = _LEDGER
    noun = "method"
    long_noun = "attribution method"
    duplicate_error = DuplicateMethodError
    unknown_error = UnknownMethodError
    unknown_hint = (
        "`attrbench list` shows the registered ones; a plugin method needs its package "
        "installed or a module:attr spec."
    )

    def register(
        self,
        name: str,
        obj: Callable,
        *,
        claims: Iterable[str | Claim] = (),
        needs_baseline: bool = False,
        differentiable: bool = True,
        distributional: bool = False,
        kind: str = "other",
        reference: str = "",
        requires: Iterable[str] = (),
        options: Mapping[str, Option] | None = None,
        source: str | None = None,
        order: int = 1,
        index: str | None = None,
    ) -> MethodEntry:
        """Register ``obj`` under ``name``; a taken name raises DuplicateMethodError."""
        self.discover()  # so a clash with a built-in or plugin is caught here, not later
        entry = _make_entry(name, obj, claims, needs_baseline, differentiable, kind, reference, requires, options,
                            distributional, order=order, index=index)  # fmt: skip
        if source is not None:
            entry.source = source
        return self.add(entry)

    def register_method(self, name: str, **meta: Any) -> Callable[[Callable], Callable]:
        """Decorator form of :meth:`register` (for ``register(registry)`` plugin hooks)."""

        def decorate(obj: Callable) -> Callable:
            self.register(name, obj, **meta)
            obj.__attrbench_method__ = name
            return obj

        return decorate

    #: Variants resolved from their names (``name[opt=value]``), by canonical name.
    resolved: dict[str, MethodEntry] = field(default_factory=dict)

    def add(self, entry: MethodEntry) -> MethodEntry:
        old = self.entries.get(entry.name)
        if old is not None and old.obj is entry.obj and dict(old.preset) != dict(entry.preset):
            raise DuplicateMethodError(
                f"method name {entry.name!r} is registered twice with different options: by {old.source} "
                f"({dict(old.preset)}) and by {entry.source} ({dict(entry.preset)}). Rename one of them."
            )
        return super().add(entry)

    def entry(self, name: str) -> MethodEntry:
        """The entry of a name, a ``module:attr`` spec, a variant ``name[opt=value,...]`` or a
        ``captum/<Class>`` method (registering it on first use)."""
        self.discover()
        if name in self.entries:
            return self.entries[name]
        if name in self.resolved:
            return self.resolved[name]
        if name.startswith(CAPTUM_PREFIX):
            from attrbench.adapters.captum_methods import register_captum

            register_captum(self)
            if name in self.entries:
                return self.entries[name]
        from attrbench.methods.variants import is_variant_spec, resolve

        if is_variant_spec(name):
            return resolve(name, self)
        if ":" in name:
            from attrbench.methods.specs import load_spec

            return self.entries[load_spec(name, self)]
        return super().entry(name)

    def select(self, patterns: Iterable[str]) -> list[str]:
        """Method names for ``--method`` arguments: each a name, spec or variant (see
        :meth:`entry`), or a glob over the registered names (``captum/*`` opts in to Captum's
        classes first); a glob that matches nothing raises ``UnknownMethodError``."""
        names: list[str] = []
        for pattern in patterns:
            if "*" in pattern or "?" in pattern:
                if pattern.startswith(CAPTUM_PREFIX):
                    from attrbench.adapters.captum_methods import register_captum

                    register_captum(self)
                found = fnmatch.filter(self.available(), pattern)
                if not found:
                    raise UnknownMethodError(f"--method {pattern!r} matches no registered method. {self.unknown_hint}")
            else:
                found = [self.entry(pattern).name]
            names += [n for n in found if n not in names]
        return names

    def get(self, name: str, **params: Any) -> Method:
        """A configured Method: ``get("integrated_gradients", n_steps=20)``."""
        return self.entry(name).build(**params)


def _make_entry(
    name, obj, claims, needs_baseline, differentiable, kind, reference, requires=(), options=None, distributional=False,
    *, order=1, index=None,
) -> MethodEntry:
    _check_signature(name, obj)
    if order != 1 or index is not None:
        from attrbench.methods.interactions import check_order  # torch: only for interaction methods

        check_order(name, obj, order, index)
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", repr(obj))
    entry = MethodEntry(
        name=name,
        obj=obj,
        claims=as_claims(claims),
        needs_baseline=bool(needs_baseline),
        differentiable=bool(differentiable),
        kind=kind,
        reference=reference,
        source=f"{'built-in' if module.startswith('attrbench.') else 'module'} {module}.{qualname}",
        module=module,
        requires=frozenset([requires] if isinstance(requires, str) else requires),
        options=dict(options or {}),
        distributional=bool(distributional),
        order=order,
        index=index,
    )
    unknown = sorted(set(entry.options) - set(entry.parameters())) if entry.options else []
    if unknown:
        raise PluginError(f"method {name!r}: options name {', '.join(map(repr, unknown))}, which it does not take.")
    return entry


#: The registry ``attrbench.methods.get`` and the suites use.
default_registry = Registry()


def register_method(
    name: str,
    *,
    claims: Iterable[str | Claim] = (),
    needs_baseline: bool = False,
    differentiable: bool = True,
    distributional: bool = False,
    kind: str = "other",
    reference: str = "",
    requires: Iterable[str] = (),
    options: Mapping[str, Option] | None = None,
    order: int = 1,
    index: str | None = None,
) -> Callable[[Callable], Callable]:
    """Register a function ``(model, x, target, baseline, **params) -> Tensor`` or a class
    with such an ``attribute`` method.

    ``claims`` are axiom names or :class:`Claim` objects; ``distributional``: ``baseline`` is a
    reference set X′ ~ D (rows shared by every sample, 002 §5); ``kind`` groups methods in tables
    (``gradient``, ``path``, ``modified_gradient``, ``perturbation``, ``sampling``,
    ``distributional``, ``control``); ``reference`` cites the paper and equation;
    ``requires`` lists subject tags the method needs (``{"image"}``): the suites pair it
    only with subjects that carry them; ``options`` maps parameter names to the
    :class:`Option` their values must satisfy (InvalidOptionError when the method is built);
    ``order=2`` marks an interaction method, whose function (attribute) or class (method) also
    has ``interactions(model, x, target, baseline, **params) -> (N, F, F)``, and ``index`` names
    the INTERACTION_INDICES entry it estimates, if any (attrbench.methods.interactions).
    """

    def decorate(obj: Callable) -> Callable:
        entry = _make_entry(name, obj, claims, needs_baseline, differentiable, kind, reference, requires, options,
                            distributional, order=order, index=index)  # fmt: skip
        entry.user_code = registered_by_user_code()
        _LEDGER.append(entry)
        if default_registry.discovered and entry.user_code:
            default_registry.add(entry)
        obj.__attrbench_method__ = name
        return obj

    return decorate


def get(name: str, **params: Any) -> Method:
    """The configured method ``name`` from the default registry."""
    return default_registry.get(name, **params)


def available() -> list[str]:
    """Every method name in the default registry, sorted."""
    return default_registry.available()


from attrbench.methods.specs import load_spec  # noqa: E402, F401  (re-exported; specs imports this module)
