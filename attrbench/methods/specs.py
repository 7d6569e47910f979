"""``package.module:attr`` method specs: import the module and register what ``attr`` names."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any

from attrbench.errors import PluginError
from attrbench.methods.registry import _LEDGER, Method, MethodEntry, Registry, default_registry
from attrbench.plugins import loading, traceback_summary


def load_spec(spec: str, registry: Registry | None = None) -> str:
    """Import ``package.module:attr`` and register what it names; return the method name.

    ``attr`` may be a function or class decorated with ``register_method`` (its name is
    used), or a plain ``(model, x, target, baseline)`` callable (registered as ``spec``,
    with no claims).
    """
    registry = registry or default_registry
    registry.discover()
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(
            f"method spec {spec!r} is not of the form package.module:attribute; write the module to import, "
            "a colon and the method's name in it, e.g. mypackage.methods:my_method."
        )
    start = len(_LEDGER)
    try:
        with loading():
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(
            f"cannot import {module_name!r} for method spec {spec!r}: {type(exc).__name__}: {exc}. "
            "Make sure the module is importable (installed, or on PYTHONPATH).\n"
            + traceback_summary(exc)
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            near = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], n=3)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            raise PluginError(
                f"module {module_name!r} has no attribute {attr!r} (method spec {spec!r}).{hint} "
                "Name a function or class the module defines after the colon."
            )
        obj = getattr(obj, part)
    for entry in _LEDGER[start:]:
        entry.source = f"spec {spec}: {entry.module}"
        registry.add(entry)
    name = getattr(obj, "__dict__", {}).get("__attrbench_method__")  # own, not inherited
    if name is not None:
        current = registry.entries.get(name)
        if current is None or current.obj is not obj:
            for entry in [e for e in _LEDGER if e.obj is obj]:
                registry.add(entry)  # raises DuplicateMethodError if another object has the name
        return name
    if isinstance(obj, Method):
        return register_configured(obj, registry, source=f"spec {spec}").name
    registry.register(spec, obj, source=f"spec {spec}")
    return spec


def register_configured(method: Method, registry: Registry | None = None, *, source: str = "") -> MethodEntry:
    """Register a configured Method (what ``attrbench.adapters.captum.wrap`` or
    ``methods.get(name, **options)`` returns) so that it runs as built: a method registered
    here under the same function becomes its variant (``name[opt=value]``, or the method
    itself without options); any other under its own name, with its options preset."""
    from attrbench.methods.variants import make_variant

    registry = registry or default_registry
    entry = method.entry
    root = registry.entries.get(entry.base or entry.name)
    if root is not None and root.obj is entry.obj:
        options = {**method.params, **({"baseline": method.baseline_kind} if method.baseline_kind else {})}
        variant = make_variant(root, options, registry=registry)
        return root if variant.name == root.name else registry.add(registry.entries.get(variant.name) or variant)
    configured = dataclasses.replace(entry, preset=dict(method.params), source=source or entry.source)
    return registry.add(configured)
