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
runs on a copy with every ``nn.ReLU`` replaced by ``nn.Softplus(beta=functional.SURROGATE_BETA)``
(App. A, footnote c: the gradient is taken, and the perturbed image generated, with the
approximation), while predicted labels always come from the real network and the
reported explanations R(x_t), R(x_adv) are the real network's. Every sample (and every ε
of a grid) is attacked in the same batched passes. The mass-center D has no gradient
where C(x) = C(x_t) (at x_t itself); there the ascent follows u·(C(x) − C(x_t)) for a
random unit vector u per sample.

:func:`prepare_attack` (the ball, the labels, R(x_t), D) and :class:`BestIterate` (the
label-keeping best-iterate rule) are shared with the gradient-free version of Algorithm 1
(``attrbench.attacks.gradient_free``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from attrbench.attacks.importance import center_of_mass, feature_positions, importance, topk_mask
from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.functional import DEFAULT_BATCH_SIZE, as_targets, chunks, smooth_surrogate
from attrbench.guard import Guard

KINDS = ("random", "topk", "mass_center")
TARGETED = ("topk", "mass_center")


# -- the network D is differentiated through (App. A, footnote c) ------------------------


def predicted_labels(model, x: Tensor, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """argmax of the model's scores, in chunked forward passes without a graph."""
    with torch.no_grad():
        return torch.cat([model(x[s]).argmax(1) for s in chunks(len(x), batch_size)])


# -- what every attack on a batch shares -------------------------------------------------------


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


@dataclass
class AttackProblem:
    """One attack on a batch, set up (:func:`prepare_attack`): the method and model, the
    points x_t (the batch repeated once per ε, ε-major), their targets, baseline and
    predicted labels, the per-row ball [``low``, ``high``] (∩ the domain), radius and step
    size (broadcastable to x_t), R(x_t), the top-k mask and centre of mass D refers to,
    and the random unit vectors ``u`` of the mass-center start (None for ``random``)."""

    method: object
    model: object
    kind: str
    x: Tensor
    single: bool
    guard: Guard
    targets: Tensor
    baseline: object
    x_t: Tensor
    labels: Tensor
    low: Tensor
    high: Tensor
    radius: Tensor
    step: Tensor
    positions: Tensor
    r_t: Tensor
    c_t: Tensor
    k: int
    top: Tensor
    u: Tensor | None

    @property
    def rows(self) -> int:
        return len(self.x_t)

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape that broadcasts one value per row over x_t."""
        return (-1, *[1] * (self.x_t.dim() - 1))

    def attribute(self, net, points: Tensor, where: str, copies: int = 1) -> Tensor:
        """The method's attributions at ``points`` (``copies`` stacked copies of the rows)
        on ``net``, through the guard."""
        t = self.targets.repeat(copies)
        b = repeat_baseline(self.baseline, self.x_t, copies) if copies > 1 else self.baseline
        return self.guard.attribute(self.method, net, points, t, b, where=f"{self.kind} attack ({where})")

    def dissimilarity(self, r: Tensor) -> Tensor:
        """D of Algorithm 1 per row of R (random is judged on the top-k D); ``r`` may hold
        several stacked copies of the rows."""
        copies = len(r) // self.rows
        if self.kind == "mass_center":
            return (center_of_mass(r, self.positions) - self.c_t.repeat(copies, 1)).norm(dim=1)
        return -(r * self.top.repeat(copies, 1)).sum(1)

    def objective(self, r: Tensor, along_u: Tensor | None = None) -> Tensor:
        """What the ascent follows: D, except that for the mass-center attack rows where
        C(x) = C(x_t) (``along_u``, per row of the copies; default: decided from ``r``
        itself) follow u·(C(x) − C(x_t)), since the norm has no gradient there."""
        if self.kind != "mass_center":
            return self.dissimilarity(r)
        copies = len(r) // self.rows
        diff = center_of_mass(r, self.positions) - self.c_t.repeat(copies, 1)
        norm = diff.norm(dim=1)
        if along_u is None:
            along_u = self.flat(norm)
        return torch.where(along_u, (diff * self.u.repeat(copies, 1)).sum(1), norm)

    def flat(self, norm: Tensor) -> Tensor:
        """Rows whose centre has not moved from C(x_t) (up to float resolution)."""
        return norm <= torch.finfo(self.x.dtype).eps

    def project(self, points: Tensor) -> Tensor:
        """Projection onto the ε-ball around x_t ∩ the domain."""
        return torch.maximum(torch.minimum(points, self.high), self.low)

    def result(self, x_adv, r_adv, moved, replaced: int = 0, note: str = "") -> AttackResult:
        d = self.dissimilarity(r_adv).detach()
        x_adv = x_adv.detach() if self.single else x_adv.detach().view(-1, *self.x.shape)
        start = self.dissimilarity(self.r_t).detach()
        return AttackResult(x_adv, self.r_t.detach(), r_adv.detach(), start, d, moved, replaced, note)


def prepare_attack(
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
    r_start: Tensor | None = None,
) -> AttackProblem:
    """Check the options of :func:`run_interpretation_attack` and set the attack up; one
    method call (R(x_t) on the real network), none where the caller passes that as
    ``r_start`` ((rows, F), rows ε-major)."""
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
    b = repeat_baseline(baseline, x, g)
    x_t, radius, low, high = ball(x, eps, domain)
    step = alpha.expand(g).repeat_interleave(n).view(radius.shape)
    if r_start is None:
        r_start = importance(guard.attribute(method, model, x_t, t, b, where=f"{kind} attack (original)"))
    r_t = r_start.detach()
    positions = feature_positions(x, image_shape)
    n_features = r_t.shape[1]
    k = max(1, round(0.1 * n_features)) if k is None else int(k)
    if not 1 <= k <= n_features:
        raise InvalidOptionError(f"k={k} must lie in 1..{n_features} (the number of features).")
    u = None
    if kind != "random":  # the mass-center start direction, one random unit vector per row
        u = torch.randn((len(x_t), positions.shape[1]), generator=generator, dtype=x.dtype).to(x.device)
        u = u / u.norm(dim=1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    return AttackProblem(
        method, model, kind, x, single, guard, t, b, x_t, predicted_labels(model, x_t), low, high, radius, step,
        positions, r_t, center_of_mass(r_t, positions), k, topk_mask(r_t, k), u,
    )  # fmt: skip


def ball(x: Tensor, eps: Tensor, domain: tuple[float, float] | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_t, radius, low, high): the batch repeated once per radius (ε-major), each row's
    radius (broadcastable to x_t) and the box ‖x − x_t‖∞ ≤ ε ∩ the domain."""
    n = len(x)
    x_t = x.detach().repeat(len(eps), *[1] * (x.dim() - 1))
    radius = eps.repeat_interleave(n).view(-1, *[1] * (x.dim() - 1))
    lo, hi = domain if domain is not None else (-torch.inf, torch.inf)
    return x_t, radius, (x_t - radius).clamp(min=lo), (x_t + radius).clamp(max=hi)


class BestIterate:
    """Algorithm 1's choice: per row the iterate with the largest D whose predicted label
    (on the real network) is the original one; x_t (with D = ``start``) until one is."""

    def __init__(self, problem: AttackProblem, start: Tensor) -> None:
        self.problem = problem
        self.x, self.r, self.d = problem.x_t.clone(), problem.r_t.clone(), start.detach().clone()
        self.moved = torch.zeros(problem.rows, dtype=torch.bool, device=problem.x.device)

    def consider(self, points: Tensor, r: Tensor) -> None:
        """Keep each row's point if it keeps the label and beats the best D so far."""
        p = self.problem
        d = p.dissimilarity(r).detach()
        better = (predicted_labels(p.model, points) == p.labels) & (d > self.d)
        self.x = torch.where(better.view(p.row_shape), points.detach(), self.x)
        self.r = torch.where(better[:, None], r.detach(), self.r)
        self.d = torch.where(better, d, self.d)
        self.moved |= better


# -- the attack ------------------------------------------------------------------------------


def interpretation_attack(method, model, x: Tensor, target, **options) -> Tensor:
    """The adversarial inputs x_adv of ``options["kind"]`` (one of ``KINDS``) against
    ``method`` on ``model``; the options (kind, epsilon, steps, step_size, k, baseline,
    generator, domain, image_shape, guard) are those of :func:`run_interpretation_attack`,
    which also returns the explanations, D and how the gradient was taken. With a
    sequence of radii as ``epsilon`` the result has shape (len(epsilon), *x.shape)."""
    return run_interpretation_attack(method, model, x, target, **options).x_adv


def run_interpretation_attack(method, model, x: Tensor, target, **options) -> AttackResult:
    """:func:`interpretation_attack` with its bookkeeping.

    Options: ``kind`` (one of ``KINDS``), ``epsilon`` (a radius or a sequence of radii),
    ``steps`` (P), ``step_size`` (α; defaults to ε/4 and may be a sequence matching
    ``epsilon``), ``k`` (top-k attack; defaults to 10 % of the features), ``baseline``
    (passed to the method as it is; one per sample is repeated for each ε), ``generator``
    (random draws), ``domain`` = (low, high) clips every point, ``image_shape`` gives
    flat inputs a pixel grid for the centre of mass, ``guard`` (attrbench.guard.Guard,
    default: no limits) wraps every call of the method, ``r_start`` is R(x_t) where the
    caller has it."""
    p = prepare_attack(method, model, x, target, **options)
    steps, generator = options["steps"], options.get("generator")
    if p.kind == "random":
        x_adv, moved, note = random_sign(model, p.x_t, p.labels, p.radius, p.low, p.high, steps, generator)
        r = importance(p.attribute(model, x_adv, "random"))
        return p.result(x_adv, r, moved, 0, note)
    surrogate, replaced = smooth_surrogate(model)
    best = BestIterate(p, p.dissimilarity(p.r_t))
    # Iterates are judged by D of the explanation on the network the gradient went
    # through (the surrogate on ReLU networks: footnote c generates the perturbed image
    # with the approximation), labels always on the real network.
    current, note = p.x_t, f"{steps} signed-gradient steps"
    for i in range(steps):
        point = current.detach().requires_grad_(True)
        a = p.attribute(surrogate, point, "gradient")
        if i == 0 and replaced:
            best.d = p.dissimilarity(importance(a.detach())).detach()  # the surrogate's D at x_t
        elif i > 0:
            best.consider(point, importance(a.detach()))
        if not a.requires_grad:
            note = "the method returned no graph: stopped"
            break
        (grad,) = torch.autograd.grad(p.objective(importance(a)).sum(), point, allow_unused=True)
        if grad is None:
            note = "the attributions do not depend on x through their graph: stopped"
            break
        current = p.project(point.detach() + p.step * grad.sign())
    else:
        best.consider(current, importance(p.attribute(surrogate, current, "last iterate")))
    r_adv = best.r
    if replaced:  # report the real network's explanation of the chosen points
        r_adv = torch.where(best.moved[:, None], importance(p.attribute(model, best.x, "result")), p.r_t)
    return p.result(best.x, r_adv, best.moved, replaced, note)


def random_sign(model, x_t: Tensor, labels: Tensor, radius: Tensor, low: Tensor, high: Tensor, draws: int,
                generator) -> tuple[Tensor, Tensor, str]:
    """x_t + ε·sign(noise): ``draws`` candidates per point in one batch, the first that
    keeps the ``labels`` is taken (004 §3); x_t where none does; clipped to [low, high].
    Returns (x_adv, moved, note). Only the model's labels are used: the points do not
    depend on any attribution method."""
    noise = torch.rand((draws, *x_t.shape), generator=generator).to(x_t.device) - 0.5
    candidates = torch.maximum(torch.minimum(x_t[None] + radius[None] * noise.sign(), high[None]), low[None])
    predicted = predicted_labels(model, candidates.reshape(-1, *x_t.shape[1:]))
    kept = (predicted == labels.repeat(draws)).view(draws, -1)
    first = kept.float().argmax(0)  # index of the first kept draw (0 when none is)
    moved = kept.any(0)
    chosen = candidates[first, torch.arange(len(x_t), device=x_t.device)]
    x_adv = torch.where(moved.view(radius.shape), chosen, x_t)
    return x_adv, moved, f"first of {draws} random sign draws that keeps the label"


def repeat_baseline(baseline, x: Tensor, times: int):
    """The baseline for ``times`` stacked copies of the batch: a per-sample one (leading
    dim N, same rank as x) is repeated, anything else is shared as it is."""
    if isinstance(baseline, Tensor) and baseline.dim() == x.dim() and baseline.shape[0] == len(x) and len(x) > 1:
        return baseline.repeat(times, *[1] * (x.dim() - 1))
    if isinstance(baseline, Tensor) and baseline.dim() > x.dim():
        raise InputShapeError(
            f"baseline of shape {tuple(baseline.shape)} has more dims than the input {tuple(x.shape)}."
        )
    return baseline
