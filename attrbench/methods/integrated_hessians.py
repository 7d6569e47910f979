"""Integrated Hessians (Janizek, Sturmfels & Lee 2021, "Explaining Explanations: Axiomatic
Feature Interactions for Deep Networks", JMLR 22, §3): Integrated Gradients applied to itself.

For i ≠ j, with Δ = x − x′,

    Γ_ij(x) = Δ_i Δ_j ∫₀¹ ∫₀¹ αβ ∂_i∂_j F(x′ + αβΔ) dα dβ,

and the self-interaction

    Γ_ii(x) = Δ_i ∫₀¹ ∫₀¹ ∂_i F(x′ + αβΔ) dα dβ + Δ_i² ∫₀¹ ∫₀¹ αβ ∂_i² F(x′ + αβΔ) dα dβ,

so that Σ_j Γ_ij = IG_i and Σ_ij Γ_ij = F(x) − F(x′) (interaction completeness). Both
integrals are the paper's double Riemann sum, here at the midpoints of ``n_steps`` × ``n_steps``
cells (α_l, β_p); the gradients and Hessians at all n_steps² points of all samples are taken
with ``torch.func`` (vmapped reverse-over-forward), in chunks of ``internal_batch_size`` points.

ReLU networks have zero Hessians almost everywhere; as the paper does for non-smooth models,
the method differentiates a copy of the model whose ``nn.ReLU`` modules are replaced by
``nn.Softplus(beta)`` (attrbench.functional.smooth_surrogate; default β = 10, within
log 2/β ≈ 0.07 of ReLU). A functional ``F.relu`` inside ``forward`` cannot be swapped and keeps
its zero second derivative. The completeness above holds for that copy, not for the ReLU model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attrbench import functional
from attrbench.functional import (
    SURROGATE_BETA,
    as_targets,
    chunks,
    expand_baseline,
    check_scores,
    smooth_surrogate,
)
from attrbench.methods.registry import BATCH_SIZE_OPTION, Option, register_method

#: Points per vmapped gradient-and-Hessian pass: each pass has a fixed cost of ~0.15 s on the
#: CPU (torch.func's transforms), so larger chunks than DEFAULT_BATCH_SIZE pay (tribes_8, 256
#: inputs × 64 cells: 2.9 s in chunks of 1024, 0.3 s in one); (8192, F, F) Hessians of a
#: 64-feature digit take 134 MB in float32.
HESSIAN_BATCH_SIZE = 8192


def _derivatives(model, points: Tensor, onehots: Tensor, shape, batch_size) -> tuple[Tensor, Tensor]:
    """∇F (P, F) and the Hessian of F (P, F, F) at flat points (P, F); F = ⟨model(z), onehot⟩."""
    from torch.func import jacfwd, jacrev, vmap

    def score(z, onehot):
        return (model(z.reshape(1, *shape))[0] * onehot).sum()

    grads, hessians = [], []
    for s in chunks(len(points), batch_size):
        grads.append(vmap(jacrev(score))(points[s], onehots[s]))
        hessians.append(vmap(jacfwd(jacrev(score)))(points[s], onehots[s]))
    return torch.cat(grads), torch.cat(hessians)


def _gammas(model, x, target, baseline, n_steps: int, beta: float, batch_size) -> Tensor:
    """Γ (N, F, F) as in the module doc."""
    n, f = len(x), x[0].numel()
    b = expand_baseline(baseline, x)
    t = as_targets(target, n, x.device)
    with torch.no_grad():
        classes = check_scores(model(x[:1]), 1).shape[1]  # the checks of the scores and targets, outside vmap
    functional.check_target_range(t, classes)
    onehots = (torch.arange(classes, device=x.device) == t[:, None]).to(x.dtype)
    smooth, _ = smooth_surrogate(model, beta)
    nodes = (torch.arange(n_steps, dtype=x.dtype, device=x.device) + 0.5) / n_steps
    scales = (nodes[:, None] * nodes[None, :]).reshape(-1)  # αβ at every cell, (S,)
    delta = (x - b).reshape(n, f)
    points = b.reshape(n, 1, f) + scales[None, :, None] * delta[:, None, :]  # (N, S, F)
    steps = len(scales)
    grads, hessians = _derivatives(smooth, points.reshape(-1, f).detach(), onehots.repeat_interleave(steps, 0),
                                   x.shape[1:], batch_size)  # fmt: skip
    grads, hessians = grads.reshape(n, steps, f), hessians.reshape(n, steps, f, f)
    weighted = (scales[None, :, None, None] * hessians).mean(1)  # ∫∫ αβ ∂_i∂_j F
    gamma = delta[:, :, None] * delta[:, None, :] * weighted
    first = delta * grads.mean(1)  # Δ_i ∫∫ ∂_i F
    gamma = gamma + torch.diag_embed(first)
    return ((gamma + gamma.transpose(1, 2)) / 2).detach()  # exact symmetry (Hessians are symmetric)


def integrated_hessians(model, x, target, baseline, *, n_steps: int = 8, beta: float = SURROGATE_BETA,
                        internal_batch_size: int | None = HESSIAN_BATCH_SIZE) -> Tensor:  # fmt: skip
    """The self-interactions Γ_ii (module doc), shaped like x: ``n_steps``² Hessians per sample
    on the softplus(``beta``) copy of a ReLU model. ``interactions`` gives the whole (N, F, F)
    Γ; it names no index (the interaction checks compare it with the Shapley interaction index)."""
    gamma = _gammas(model, x, target, baseline, n_steps, beta, internal_batch_size)
    return gamma.diagonal(dim1=1, dim2=2).reshape(x.shape).contiguous()


def _interactions(model, x, target, baseline, *, n_steps: int = 8, beta: float = SURROGATE_BETA,
                  internal_batch_size: int | None = HESSIAN_BATCH_SIZE) -> Tensor:  # fmt: skip
    return _gammas(model, x, target, baseline, n_steps, beta, internal_batch_size)


integrated_hessians.interactions = _interactions
integrated_hessians = register_method(
    "integrated_hessians",
    needs_baseline=True,
    differentiable=False,
    kind="interaction",
    order=2,
    reference="Janizek, Sturmfels & Lee 2021 (JMLR 22), §3: Integrated Hessians, softplus for ReLU networks",
    options={"n_steps": Option(int, low=1), "beta": Option(float, low=0, strict=True),
             "internal_batch_size": BATCH_SIZE_OPTION},
)(integrated_hessians)  # fmt: skip
