"""Method variants: a registered method with preset options, benchmarked as its own row.

``integrated_gradients[n_steps=4,integration=riemann_trapezoid]`` names the method
``integrated_gradients`` built with those options wherever a method name is accepted
(``--method`` in pytest, ``attrbench run|list|verify``, ``attrbench.methods.get``). Values are
parsed by the type the method declares for the option (its :class:`Option`, else the type of
its default) and checked by the Option with the usual typed errors. The row is named
canonically: options sorted, values written back from the parsed value, options equal to
their default dropped (``integrated_gradients[n_steps=<default>]`` is ``integrated_gradients``).
Values cannot contain ``,`` ``[`` ``]`` or ``=``.

:func:`register_variant` registers a named variant (``register_variant("ig_riemann20",
"integrated_gradients", n_steps=20, integration="riemann_trapezoid")``) from a plugin module or
attrbench itself; ``name=None`` registers it under its canonical name.

``baseline=KIND`` (zero, blurred, uniform, mean) is an option of every method that uses a
baseline: the benchmark replaces the subject's baseline by that kind for the method and the
checks alike (``attrbench.subjects.baselines``, where the subject allows it).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any
from collections.abc import Iterable

from attrbench.errors import InvalidOptionError, MethodParameterError, PluginError, UnknownMethodError
from attrbench.methods.registry import _LEDGER, MethodEntry, default_registry, registered_by_user_code

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def is_variant_spec(spec: str) -> bool:
    """``name[...]``: a method name followed by options in brackets."""
    return spec.endswith("]") and "[" in spec


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """(base name, {option: raw text}) of ``base[opt=value,...]``."""
    cut = spec.index("[")
    base, body = spec[:cut].strip(), spec[cut + 1 : -1].strip()
    raw: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidOptionError(
                f"method variant {spec!r}: {item!r} is not option=value; write e.g. "
                "integrated_gradients[n_steps=20,integration=riemann_trapezoid]."
            )
        if key.strip() in raw:
            raise InvalidOptionError(f"method variant {spec!r} sets {key.strip()!r} twice.")
        raw[key.strip()] = value.strip()
    if not base:
        raise InvalidOptionError(f"method variant {spec!r} names no method before '['.")
    return base, raw


def _declared_type(entry: MethodEntry, key: str) -> type | None:
    option = entry.options.get(key)
    if option is not None and option.type is not None:
        return option.type
    param = entry.parameters().get(key)
    default = None if param is None else param.default
    if default is None or default is inspect.Parameter.empty:
        return None
    return type(default)


def _guess(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw)


def _is_baseline_axis(entry: MethodEntry, key: str) -> bool:
    """``baseline`` is the variant axis of attrbench.subjects.baselines unless the method has a
    parameter of that name."""
    return key == "baseline" and key not in entry.parameters()


def _check_baseline_kind(entry: MethodEntry, kind: Any) -> str:
    from attrbench.functional import BASELINE_KINDS  # torch: not at import (pytest loads the plugin)

    if not entry.needs_baseline:
        raise InvalidOptionError(
            f"method {entry.name!r} does not use a baseline, so baseline={kind} would change nothing; "
            "drop the option."
        )
    if kind not in BASELINE_KINDS:
        raise InvalidOptionError(
            f"method {entry.name!r}: baseline={kind!r} is not allowed; baseline must be one of "
            f"{', '.join(map(repr, BASELINE_KINDS))} (attrbench.subjects.baselines)."
        )
    return kind


def parse_value(entry: MethodEntry, key: str, raw: str) -> Any:
    """The value of option ``key`` written as ``raw``, parsed by the type the method declares."""
    if _is_baseline_axis(entry, key):
        return _check_baseline_kind(entry, raw)
    accepted = entry.parameters()
    if key not in accepted and not entry._takes_any_keyword():
        raise MethodParameterError(
            f"method {entry.name!r} has no parameter {key!r}; it accepts: {', '.join(accepted) or 'no parameters'}."
        )
    option = entry.options.get(key)
    param = accepted.get(key)
    if raw.lower() == "none" and ((option is not None and option.optional) or (param and param.default is None)):
        return None
    if option is not None and option.choices:
        for choice in option.choices:
            if str(choice) == raw:
                return choice
        option.check(entry.name, key, raw)  # raises InvalidOptionError naming the choices
    kind = _declared_type(entry, key)
    try:
        if kind is bool:
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        if kind in (int, float):
            return kind(raw)
    except ValueError:
        described = option.describe() if option is not None else ("true or false" if kind is bool else kind.__name__)
        raise InvalidOptionError(
            f"method {entry.name!r}: {key}={raw!r} is not allowed; {key} must be {described}."
        ) from None
    return raw if kind is str else _guess(raw)


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def non_default(entry: MethodEntry, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without those equal to the method's defaults, sorted by name."""
    params = entry.parameters()
    out = {}
    for key in sorted(options):
        default = params[key].default if key in params else inspect.Parameter.empty
        value = options[key]
        if default is inspect.Parameter.empty or type(default) is not type(value) or default != value:
            out[key] = value
    return out


def canonical_name(base: str, options: dict[str, Any]) -> str:
    """``base[k=v,...]`` with the options sorted; ``base`` alone when there are none."""
    if not options:
        return base
    return f"{base}[{','.join(f'{k}={_text(v)}' for k, v in sorted(options.items()))}]"


def _ledger_entry(name: str) -> MethodEntry | None:
    return next((e for e in reversed(_LEDGER) if e.name == name and not e.base), None)


def make_variant(base: MethodEntry, options: dict[str, Any], name: str | None = None, registry=None) -> MethodEntry:
    """A MethodEntry for ``base`` built with ``options`` (merged over a variant base's own),
    validated now by building it once; named ``name`` or canonically."""
    root = base
    if base.base:
        root = (registry.entries.get(base.base) if registry is not None else None) or _ledger_entry(base.base)
        if root is None:
            raise PluginError(f"variant {base.name!r}: its base method {base.base!r} is not registered.")
    options = dict(options)
    kind = base.baseline_kind
    if _is_baseline_axis(root, "baseline") and "baseline" in options:
        kind = _check_baseline_kind(root, options.pop("baseline"))
    merged = non_default(root, {**base.preset, **options})
    base.build(**options)  # MethodParameterError / InvalidOptionError now, not at the first call
    shown = {**merged, **({"baseline": kind} if kind else {})}
    return dataclasses.replace(root, name=name or canonical_name(root.name, shown), base=root.name, preset=merged,
                               baseline_kind=kind, user_code=False)  # fmt: skip


def resolve(spec: str, registry) -> MethodEntry:
    """The entry of the variant spec ``base[opt=value,...]``, kept in ``registry.resolved`` (not
    among the registered names: asking for a variant does not add a row to every later run)."""
    base_name, raw = split_spec(spec)
    try:
        base = registry.entry(base_name)
    except UnknownMethodError as exc:
        raise UnknownMethodError(f"method variant {spec!r}: {exc.args[0]}") from None
    options = {key: parse_value(base, key, value) for key, value in raw.items()}
    entry = make_variant(base, options, registry=registry)
    if entry.name == base.name:
        return base
    if entry.name in registry.entries:  # a variant registered under its canonical name
        return registry.entries[entry.name]
    return registry.resolved.setdefault(entry.name, entry)


def register_variant(name: str | None, base: str, *, requires: Iterable[str] | None = None, **options: Any) -> str:
    """Register ``base`` built with ``options`` as a method of its own, named ``name`` (None: its
    canonical name ``base[k=v,...]``); returns the name. ``requires`` replaces the base's required
    subject tags (e.g. ``{"boolean"}`` for an option that only Boolean inputs allow). Call it at
    import of a plugin module, after ``base`` is registered (attrbench's built-ins always are)."""
    entry = _ledger_entry(base)
    if entry is None:
        try:
            entry = default_registry.entry(base)
        except Exception as exc:
            raise PluginError(f"register_variant({name!r}, {base!r}): no method {base!r} is registered yet.") from exc
    variant = make_variant(entry, options, name)
    if requires is not None:
        variant = dataclasses.replace(variant, requires=frozenset(requires))
    caller = sys._getframe(1).f_globals.get("__name__", "")
    where = "built-in" if caller.startswith("attrbench.") else "module"
    variant = dataclasses.replace(variant, module=caller, source=f"{where} {caller}: variant of {base}")
    variant.user_code = registered_by_user_code()
    _LEDGER.append(variant)
    if default_registry.discovered and variant.user_code:
        default_registry.add(variant)
    return variant.name
