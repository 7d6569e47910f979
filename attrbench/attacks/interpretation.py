"""Attacks on explanations: perturbations that keep the predicted label and move the
attribution map (Ghorbani et al., 004 §3 and App. A, Algorithm 1).

``interpretation_attack`` perturbs a batch within an L∞ ball of radius ε (and the data
domain) with one of three ``kind``\\ s:

- ``random``: x + ε·sign(noise) (004 §3), redrawn up to ``steps`` times per sample until
  the predicted label is kept (all draws in one batch);
- ``topk``: Algorithm 1 maximising D = −Σ_{i∈B} R(x)ᵢ, B the top-k features of R(x_t);
- ``mass_center``: Algorithm 1 maximising D = ‖C(x) − C(x_t)‖₂, C the centre of
  saliency mass (App. A, footnote b).

Algorithm 1: ``steps`` signed-gradient steps of size ``step_size`` on D, each projected
onto ‖x − x_t‖∞ ≤ ε and the domain; per sample the iterate with the largest D whose
predicted label is the original one is returned (x_t itself if none is). Where the network
has ReLUs, whose second derivatives vanish so ∇ₓD is zero or uninformative, the attack
runs on a copy with every ``nn.ReLU`` replaced by ``nn.Softplus(beta=SURROGATE_BETA)``
(App. A, footnote c: the gradient is taken, and the perturbed image generated, with the
approximation), while predicted labels always come from the real network and the
reported explanations R(x_t), R(x_adv) are the real network's. Every sample (and every ε
of a grid) is attacked in the same batched passes. The mass-center D has no gradient
where C(x) = C(x_t) (at x_t itself); there the ascent follows u·(C(x) − C(x_t)) for a
random unit vector u per sample.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.attacks.importance import center_of_mass, feature_positions, importance, topk_mask
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, chunks
from attrbench.guard import Guard

KINDS = ("random", "topk", "mass_center")
TARGETED = ("topk", "mass_center")
#: Sharpness of the softplus that stands in for ReLU when differentiating D: softplus_β(z)
#: = log(1 + e^{βz})/β is within log(2)/β = 0.07 of ReLU everywhere.
SURROGATE_BETA = 10.0


# -- the network D is differentiated through (App. A, footnote c) ------------------------


def smooth_surrogate(model: nn.Module, beta: float = SURROGATE_BETA) -> tuple[nn.Module, int]:
    """(surrogate, count): a copy of ``model`` with each ``nn.ReLU`` module replaced by
    ``nn.Softplus(beta)``, and how many were replaced; ``model`` itself when none is (a
    functional ``F.relu`` inside ``forward`` cannot be swapped and is left as it is)."""
    count = sum(isinstance(m, nn.ReLU) for m in model.modules())
    if count == 0:
        return model, 0
    surrogate = copy.deepcopy(model)
    for parent in surrogate.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Softplus(beta=beta))
    return surrogate.eval(), count


def predicted_labels(model, x: Tensor, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """argmax of the model's scores, in chunked forward passes without a graph."""
    with torch.no_grad():
        return torch.cat([model(x[s]).argmax(1) for s in chunks(len(x), batch_size)])


# -- the attack ------------------------------------------------------------------------------


@dataclass
class AttackResult:
    """``x_adv`` (shape of the attacked batch), per attacked point the importance R of the
    real network at x_t and at x_adv (``r_start``, ``r_adv``; (rows, F)) and their
    dissimilarity D, whether an iterate that kept the label was taken (``moved``), and how
    the gradient was taken (``surrogate``: ReLUs replaced; ``note``: how it ran or why it
    stopped). Rows are ε-major: row e·N + i is sample i at the e-th radius."""

    x_adv: Tensor
    r_start: Tensor
    r_adv: Tensor
    start_dissimilarity: Tensor
    dissimilarity: Tensor
    moved: Tensor
    surrogate: int = 0
    note: str = ""


def interpretation_attack(method, model, x: Tensor, target, **options) -> Tensor:
    """The adversarial inputs x_adv of ``options["kind"]`` (one of ``KINDS``) against
    ``method`` on ``model``; the options (kind, epsilon, steps, step_size, k, baseline,
    generator, domain, image_shape, guard) are those of :func:`run_interpretation_attack`,
    which also returns the explanations, D and how the gradient was taken. With a
    sequence of radii as ``epsilon`` the result has shape (len(epsilon), *x.shape)."""
    return run_interpretation_attack(method, model, x, target, **options).x_adv


def run_interpretation_attack(
    method,
    model,
    x: Tensor,
    target,
    *,
    kind: str,
    epsilon,
    steps: int,
    step_size=None,
    k: int | None = None,
    baseline=None,
    generator: torch.Generator | None = None,
    domain: tuple[float, float] | None = None,
    image_shape: tuple[int, ...] | None = None,
    guard: Guard | None = None,
) -> AttackResult:
    """:func:`interpretation_attack` with its bookkeeping.

    ``step_size`` (α) defaults to ε/4 and may be a sequence matching ``epsilon``; ``k``
    (top-k attack) defaults to 10 % of the features; ``baseline`` is passed to the method
    as it is (one per sample is repeated for each ε); ``domain`` = (low, high) clips every
    point; ``image_shape`` gives flat inputs a pixel grid for the centre of mass; ``guard``
    (attrbench.guard.Guard, default: no limits) wraps every call of the method."""
    guard = guard or Guard(check_determinism=False)
    if kind not in KINDS:
        raise InvalidOptionError(f"unknown attack kind {kind!r}; choose one of {', '.join(KINDS)}.")
    if steps < 1:
        raise InvalidOptionError(f"steps={steps}: an attack needs at least one step.")
    single = not isinstance(epsilon, (list, tuple, Tensor))
    eps = torch.as_tensor([epsilon] if single else list(epsilon), dtype=x.dtype, device=x.device).reshape(-1)
    if bool((eps < 0).any()):
        raise InvalidOptionError(f"epsilon must be >= 0, got {eps.tolist()}.")
    alpha = eps / 4 if step_size is None else torch.as_tensor(step_size, dtype=x.dtype, device=x.device).reshape(-1)
    if alpha.numel() not in (1, eps.numel()):
        raise InvalidOptionError(f"step_size has {alpha.numel()} values for {eps.numel()} radii.")
    n, g = len(x), len(eps)
    t = as_targets(target, n, x.device).repeat(g)
    b = _repeat_baseline(baseline, x, g)
    x_t = x.detach().repeat(g, *[1] * (x.dim() - 1))
    rows = len(x_t)
    shape = (-1, *[1] * (x.dim() - 1))
    radius = eps.repeat_interleave(n).view(shape)
    step = alpha.expand(g).repeat_interleave(n).view(shape)
    lo, hi = domain if domain is not None else (-torch.inf, torch.inf)
    low, high = (x_t - radius).clamp(min=lo), (x_t + radius).clamp(max=hi)
    labels = predicted_labels(model, x_t)

    def attribute(net, points: Tensor, where: str) -> Tensor:
        return guard.attribute(method, net, points, t, b, where=f"{kind} attack ({where})")

    r_t = importance(attribute(model, x_t, "original"))
    positions = feature_positions(x, image_shape)
    c_t = center_of_mass(r_t, positions)
    n_features = r_t.shape[1]
    k = max(1, round(0.1 * n_features)) if k is None else int(k)
    if not 1 <= k <= n_features:
        raise InvalidOptionError(f"k={k} must lie in 1..{n_features} (the number of features).")
    top = topk_mask(r_t, k)

    def dissimilarity(r: Tensor) -> Tensor:
        """D of Algorithm 1 per row of R (random is judged on the top-k D)."""
        if kind == "mass_center":
            return (center_of_mass(r, positions) - c_t).norm(dim=1)
        return -(r * top).sum(1)

    start = dissimilarity(r_t).detach()
    if kind == "random":
        x_adv, moved, note = _random(model, x_t, labels, radius, low, high, steps, generator)
        r = importance(attribute(model, x_adv, "random"))
        return _result(x, single, x_adv, r_t, r, start, dissimilarity(r).detach(), moved, 0, note)

    # Where C(x) = C(x_t) (at x_t itself, unless the surrogate's map differs) the norm has
    # no gradient; there the ascent follows u·(C(x) − C(x_t)) for a random unit u per row.
    u = torch.randn((rows, positions.shape[1]), generator=generator, dtype=x.dtype).to(x.device)
    u = u / u.norm(dim=1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)

    def objective(r: Tensor) -> Tensor:
        if kind != "mass_center":
            return dissimilarity(r)
        diff = center_of_mass(r, positions) - c_t
        norm = diff.norm(dim=1)
        return torch.where(norm > torch.finfo(x.dtype).eps, norm, (diff * u).sum(1))

    surrogate, replaced = smooth_surrogate(model)
    best, best_r, best_d = x_t.clone(), r_t.clone(), start.clone()
    moved = torch.zeros(rows, dtype=torch.bool, device=x.device)

    def consider(points: Tensor, r: Tensor) -> None:
        """Keep each row's point if it keeps the label and beats the best D so far."""
        nonlocal best, best_r, best_d, moved
        d = dissimilarity(r).detach()
        better = (predicted_labels(model, points) == labels) & (d > best_d)
        best = torch.where(better.view(shape), points, best)
        best_r = torch.where(better[:, None], r, best_r)
        best_d = torch.where(better, d, best_d)
        moved |= better

    # Iterates are judged by D of the explanation on the network the gradient went
    # through (the surrogate on ReLU networks: footnote c generates the perturbed image
    # with the approximation), labels always on the real network.
    current, note = x_t, f"{steps} signed-gradient steps"
    for p in range(steps):
        point = current.detach().requires_grad_(True)
        a = attribute(surrogate, point, "gradient")
        if p == 0 and replaced:
            best_d = dissimilarity(importance(a.detach())).detach()  # the surrogate's D at x_t
        elif p > 0:
            consider(point.detach(), importance(a.detach()))
        if not a.requires_grad:
            note = "the method returned no graph: stopped"
            break
        (grad,) = torch.autograd.grad(objective(importance(a)).sum(), point, allow_unused=True)
        if grad is None:
            note = "the attributions do not depend on x through their graph: stopped"
            break
        current = torch.maximum(torch.minimum(point.detach() + step * grad.sign(), high), low)
    else:
        consider(current, importance(attribute(surrogate, current, "last iterate")))
    if replaced:  # report the real network's explanation of the chosen points
        best_r = torch.where(moved[:, None], importance(attribute(model, best, "result")), r_t)
    return _result(x, single, best, r_t, best_r, start, dissimilarity(best_r).detach(), moved, replaced, note)


def _random(model, x_t, labels, radius, low, high, draws, generator) -> tuple[Tensor, Tensor, str]:
    """x + ε·sign(noise): ``draws`` candidates per point in one batch, the first that
    keeps the label is taken (004 §3); x_t where none does. Returns (x_adv, moved, note)."""
    shape = (-1, *[1] * (x_t.dim() - 1))
    noise = torch.rand((draws, *x_t.shape), generator=generator).to(x_t.device) - 0.5
    candidates = torch.maximum(torch.minimum(x_t[None] + radius[None] * noise.sign(), high[None]), low[None])
    kept = (predicted_labels(model, candidates.reshape(-1, *x_t.shape[1:])) == labels.repeat(draws)).view(draws, -1)
    first = kept.float().argmax(0)  # index of the first kept draw (0 when none is)
    moved = kept.any(0)
    chosen = candidates[first, torch.arange(len(x_t), device=x_t.device)]
    x_adv = torch.where(moved.view(shape), chosen, x_t)
    return x_adv, moved, f"first of {draws} random sign draws that keeps the label"


def _result(x, single, x_adv, r_start, r_adv, start, d, moved, replaced, note) -> AttackResult:
    x_adv = x_adv.detach() if single else x_adv.detach().view(-1, *x.shape)
    return AttackResult(x_adv, r_start.detach(), r_adv.detach(), start, d, moved, replaced, note)


def _repeat_baseline(baseline, x: Tensor, times: int):
    """The baseline for ``times`` stacked copies of the batch: a per-sample one (leading
    dim N, same rank as x) is repeated, anything else is shared as it is."""
    if isinstance(baseline, Tensor) and baseline.dim() == x.dim() and baseline.shape[0] == len(x) and len(x) > 1:
        return baseline.repeat(times, *[1] * (x.dim() - 1))
    if isinstance(baseline, Tensor) and baseline.dim() > x.dim():
        raise InputShapeError(f"baseline of shape {tuple(baseline.shape)} has more dims than the input {tuple(x.shape)}.")
    return baseline
