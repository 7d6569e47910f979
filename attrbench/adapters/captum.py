"""Wrap any Captum attribution class as an attrbench :class:`~attrbench.methods.Method`.

``wrap(captum.attr.IntegratedGradients, claims=("completeness",), n_steps=50)`` gives a
Method whose ``attribute(model, x, target, baseline)`` runs
``IntegratedGradients(model).attribute(x, target=target, baselines=baseline, n_steps=50)``.
The keyword arguments are checked against Captum's ``attribute`` signature when the Method
is built, so a misspelt option fails at once. Captum is an optional dependency
(``pip install "attrbench[compare]"``) and is imported only when ``wrap`` is called.

A configured Method is a spec: ``pytest suites/ --method my_module:gbp`` with ``gbp =
wrap(GuidedBackprop)`` in ``my_module`` registers it under its name with its options preset
(``attrbench.methods.specs.register_configured``). ``noise_tunnel(Saliency, ...)`` wraps
``NoiseTunnel(Saliency(model))``. Captum's classes as shipped, with the claims their papers
state, are registered on request under ``captum/<Class>`` (``attrbench.adapters.captum_methods``;
``--method "captum/*"``). Examples: docs/submitting.md, "The Captum adapter".

Captum computes gradients without ``create_graph``, so its attributions carry no (or only
a partial) graph back to the input; ``differentiable`` therefore defaults to False and the
result is detached unless you say otherwise. Some Captum classes (Occlusion, Shapley value
sampling, Lime) compute in float32 whatever the input; their result is cast back to the
input's dtype, but carries float32 rounding (~1e-7 relative).
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from collections.abc import Iterable, Mapping

from attrbench.errors import PluginError
from attrbench.functional import as_targets, expand_baseline
from attrbench.methods.registry import Claim, Method, MethodEntry, as_claims

__all__ = ["noise_tunnel", "wrap"]

#: ``attribute`` parameters the adapter fills in itself, or refuses because the result
#: would no longer be one tensor of attributions of F(x) = model(x)[arange(N), target].
_SUPPLIED = {"self", "inputs", "target", "baselines"}
_REFUSED = {
    "additional_forward_args": "attrbench calls model(x) with the input alone",
    "return_convergence_delta": "a Method returns the attributions only",
}


def _snake_case(name: str) -> str:
    """``InputXGradient`` -> ``input_x_gradient``, ``LRP`` -> ``lrp``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _public_path(cls: type, captum_attr: Any) -> str:
    """``captum.attr.IntegratedGradients`` when the class is exported there."""
    if getattr(captum_attr, cls.__name__, None) is cls:
        return f"captum.attr.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _configurable(attribute: Any, path: str, given: Iterable[str]) -> list[inspect.Parameter]:
    """Keyword-only parameters mirroring Captum's configurable ``attribute`` options."""
    sig = inspect.signature(attribute)
    params = [
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _SUPPLIED | set(_REFUSED)
    ]
    for name in given:
        if name in _SUPPLIED - {"self"}:
            raise PluginError(
                f"{path}: do not pass {name!r} to wrap(); attrbench supplies it at each "
                "attribute(model, x, target, baseline) call."
            )
        if name in _REFUSED:
            raise PluginError(f"{path}: {name!r} is not supported by the adapter: {_REFUSED[name]}.")
    missing = [p.name for p in params if p.default is p.empty and p.name not in given]
    if missing:
        raise PluginError(f"{path}.attribute needs {', '.join(map(repr, missing))}; pass it to wrap().")
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):  # attribute(..., **kwargs)
        known = {p.name for p in params}
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in given if n not in known]
    return params


def wrap(
    cls: type,
    *,
    claims: Iterable[str | Claim] = (),
    name: str | None = None,
    needs_baseline: bool | None = None,
    differentiable: bool = False,
    distributional: bool = False,
    kind: str = "captum",
    reference: str | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    **attribute_kwargs: Any,
) -> Method:
    """A Method running ``cls(model, **init_kwargs).attribute(x, target=..., baselines=...,
    **attribute_kwargs)``.

    ``name`` defaults to ``"captum_" + snake_case(cls.__name__)``; ``needs_baseline``
    defaults to whether Captum's ``attribute`` takes ``baselines`` (they are passed only
    then, and only when a baseline is given: Captum's own default is the zero input, as
    attrbench's). ``claims`` are axiom names or :class:`Claim` objects, validated here.
    ``differentiable`` stays False unless you know the class differentiates with
    ``create_graph``; a non-differentiable result is detached. ``distributional``: the
    baseline is a reference set X′ ~ D shared by every sample (e.g. GradientShap's baselines).
    """
    try:
        import captum.attr as captum_attr
    except ImportError as exc:
        raise PluginError(
            'the Captum adapter needs captum; install it with pip install "attrbench[compare]" '
            f"(or pip install captum). Import failed with: {exc}"
        ) from exc

    if not inspect.isclass(cls) or not callable(getattr(cls, "attribute", None)):
        raise PluginError(
            f"wrap() takes a Captum attribution class such as captum.attr.IntegratedGradients; "
            f"got {cls!r}, which is not a class with an attribute() method."
        )
    path = _public_path(cls, captum_attr)
    checked_claims = as_claims(claims)  # UnknownAxiomError for a misspelt axiom
    params = _configurable(cls.attribute, path, attribute_kwargs)
    takes_baselines = "baselines" in inspect.signature(cls.attribute).parameters
    if needs_baseline is None:
        needs_baseline = takes_baselines
    init = dict(init_kwargs or {})

    def attribute(model, x, target, baseline, **options):
        explainer = cls(model, **init)
        kwargs = dict(options, target=as_targets(target, len(x), x.device))
        if takes_baselines and baseline is not None:
            kwargs["baselines"] = expand_baseline(baseline, x).contiguous()
        result = explainer.attribute(x, **kwargs)
        if isinstance(result, tuple) and len(result) == 1:
            result = result[0]
        if result.dtype != x.dtype:  # Occlusion, ShapleyValueSampling, Lime: float32 always
            result = result.to(x.dtype)
        return result if differentiable else result.detach()

    positional = [
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("model", "x", "target", "baseline")
    ]
    attribute.__signature__ = inspect.Signature(positional + params)  # read by MethodEntry.parameters
    attribute.__qualname__ = attribute.__name__ = f"captum_{cls.__name__}"
    attribute.__module__ = __name__

    entry = MethodEntry(
        name=name or "captum_" + _snake_case(cls.__name__),
        obj=attribute,
        claims=checked_claims,
        needs_baseline=bool(needs_baseline),
        differentiable=bool(differentiable),
        distributional=bool(distributional),
        kind=kind,
        reference=reference if reference is not None else f"Captum {path} (captum.ai/api)",
        source=f"captum adapter {path}",
        module=__name__,
    )
    return entry.build(**attribute_kwargs)


def noise_tunnel(inner: type, *, name: str | None = None, **kwargs: Any) -> Method:
    """``wrap`` of ``captum.attr.NoiseTunnel(inner(model))`` — e.g. ``noise_tunnel(Saliency,
    nt_type="smoothgrad", nt_samples=10, stdevs=0.1)`` is SmoothGrad (Smilkov et al. 2017) of
    Captum's saliency. ``kwargs`` go to ``wrap`` (claims, ...) and to ``NoiseTunnel.attribute``."""
    try:
        from captum.attr import NoiseTunnel
    except ImportError:
        return wrap(inner)  # raises the PluginError that says how to install captum

    class _NoiseTunnel(NoiseTunnel):
        def __init__(self, model):
            super().__init__(inner(model))

    _NoiseTunnel.__name__ = _NoiseTunnel.__qualname__ = f"NoiseTunnel_{inner.__name__}"
    return wrap(_NoiseTunnel, name=name or f"captum_noise_tunnel_{_snake_case(inner.__name__)}",
                reference=kwargs.pop("reference", f"Captum captum.attr.NoiseTunnel({inner.__name__})"),
                **kwargs)  # fmt: skip
