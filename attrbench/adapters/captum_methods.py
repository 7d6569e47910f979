"""Captum's attribution classes as shipped, registered on request under ``captum/<Class>``.

Nothing here is registered by default: asking for a ``captum/...`` name or glob
(``--method "captum/*"``) or calling :func:`register_captum` registers the catalogue below,
each class wrapped by :func:`attrbench.adapters.captum.wrap` with Captum's own defaults (only
``perturbations_per_eval``, which batches forward passes without changing a value, is raised).
Each claims what its paper states, so the gate holds Captum to its papers:

- ``Saliency`` — |∂F/∂x| (Simonyan et al. 2014): a feature F does not depend on has ∂F/∂xᵢ = 0
  (dummy); equal partials for symmetric features at xᵢ = xⱼ (symmetry); depends on F only
  (implementation invariance).
- ``InputXGradient`` — x ⊙ ∂F/∂x (Shrikumar et al. 2016): the same three, and linear in F.
- ``IntegratedGradients`` — Sundararajan et al. 2017 §2–3 state completeness, sensitivity(a),
  dummy (sensitivity(b)), linearity, symmetry preservation and implementation invariance;
  Captum approximates the integral with 50 Gauss–Legendre nodes.
- ``DeepLift`` — Rescale rule (Shrikumar et al. 2017 §3.3): summation-to-delta
  (completeness), hence sensitivity(a), on networks without multiplicative units or max units
  whose arg-max moves (003 §3.1; the ``unless`` tags); the multipliers are linear in F.
- ``GuidedBackprop`` (Springenberg et al. 2015), ``Deconvolution`` (Zeiler & Fergus 2014),
  ``Lime`` (Ribeiro et al. 2016): their papers define visualisations or local surrogates and
  state no axiom, so nothing is claimed; the suites still measure them.
- ``FeatureAblation`` — occlusion of one feature at a time, F(x) − F(x with xᵢ = x̄ᵢ) (003's
  Occlusion-1): sensitivity(a), dummy, linearity, symmetry and implementation invariance all
  follow from that formula.
- ``ShapleyValueSampling`` — Castro et al. 2009: the marginal contributions along each sampled
  permutation telescope to F(x) − F(x̄) (completeness, exact for any sample), are 0 for a dummy
  feature, and give ΔF to the only differing feature (sensitivity(a)); linear in F under the
  same draws (the guard seeds every call alike); values of F only.
- ``KernelShap`` — Lundberg & Lee 2017 Theorem 2: its estimate targets SHAP values, which have
  local accuracy (completeness).
- ``NoiseTunnel_Saliency`` — SmoothGrad of Saliency (Smilkov et al. 2017): the mean of |∂F/∂x|
  over noisy copies is 0 for a dummy feature; values of F only.
"""

from __future__ import annotations

from typing import Any

#: ``captum.attr`` class name -> (claims, reference, attribute keyword arguments).
_UNLESS_DL = frozenset({"multiplicative", "max"})
CATALOGUE: dict[str, tuple[tuple, str, dict[str, Any]]] = {
    "Saliency": (("dummy", "symmetry", "implementation_invariance"), "Simonyan et al. 2014", {}),
    "InputXGradient": (("dummy", "symmetry", "implementation_invariance", "linearity"), "Shrikumar et al. 2016", {}),
    "IntegratedGradients": (
        ("completeness", "sensitivity_a", "dummy", "linearity", "symmetry", "implementation_invariance"),
        "Sundararajan et al. 2017 §2–3", {},
    ),
    "DeepLift": (
        (("completeness", _UNLESS_DL), ("sensitivity_a", _UNLESS_DL), "linearity"),
        "Shrikumar et al. 2017 §3.3 (Rescale)", {},
    ),
    "GuidedBackprop": ((), "Springenberg et al. 2015", {}),
    "Deconvolution": ((), "Zeiler & Fergus 2014", {}),
    "FeatureAblation": (
        ("sensitivity_a", "dummy", "linearity", "symmetry", "implementation_invariance"),
        "Zeiler & Fergus 2014; 003 Occlusion-1", {"perturbations_per_eval": 64},
    ),
    "ShapleyValueSampling": (
        ("completeness", "sensitivity_a", "dummy", "linearity", "implementation_invariance"),
        "Castro et al. 2009", {"perturbations_per_eval": 64},
    ),
    "KernelShap": (("completeness",), "Lundberg & Lee 2017 Theorem 2", {"perturbations_per_eval": 64}),
    "Lime": ((), "Ribeiro et al. 2016", {"perturbations_per_eval": 64}),
}  # fmt: skip
NOISE_TUNNEL_SALIENCY = "NoiseTunnel_Saliency"


def _claims(spec: tuple) -> tuple:
    from attrbench.methods.registry import Claim

    return tuple(Claim(c[0], c[1]) if isinstance(c, tuple) else c for c in spec)


def register_captum(registry=None) -> list[str]:
    """Register every class of :data:`CATALOGUE` (and SmoothGrad of Saliency) under
    ``captum/<Class>``, once per registry; returns the names."""
    import captum.attr as captum_attr

    from attrbench.adapters.captum import noise_tunnel, wrap
    from attrbench.methods.registry import CAPTUM_PREFIX, default_registry
    from attrbench.methods.specs import register_configured

    registry = registry or default_registry
    names = []
    for cls_name, (claims, reference, kwargs) in CATALOGUE.items():
        name = CAPTUM_PREFIX + cls_name
        if name not in registry.entries:
            method = wrap(getattr(captum_attr, cls_name), claims=_claims(claims), name=name,
                          reference=f"Captum captum.attr.{cls_name}; {reference}", **kwargs)  # fmt: skip
            register_configured(method, registry, source=f"captum catalogue captum.attr.{cls_name}")
        names.append(name)
    name = CAPTUM_PREFIX + NOISE_TUNNEL_SALIENCY
    if name not in registry.entries:
        method = noise_tunnel(captum_attr.Saliency, name=name, claims=("dummy", "implementation_invariance"),
                              reference="Captum captum.attr.NoiseTunnel(Saliency); Smilkov et al. 2017")  # fmt: skip
        register_configured(method, registry, source="captum catalogue captum.attr.NoiseTunnel(Saliency)")
    names.append(name)
    return names
