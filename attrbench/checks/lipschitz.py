"""Local Lipschitz estimate of x ↦ A(x, x′, F) (002 §4.1, Theorem 4, App. J).

The estimate is the largest ‖A(p) − A(q)‖₂ / ‖p − q‖₂ over pairs near each sample, with
x′ and the target held fixed, found in three batched stages:

1. random pairs: ``scale.lipschitz_pairs`` points q = x + r·u, ‖u‖₂ = 1, r = ``RADIUS``
   × (b − a), clipped to the domain (Yeh et al. 2019's Monte-Carlo estimate);
2. gradient ascent (differentiable methods only): ``scale.lipschitz_ascent_steps`` signed
   gradient steps on ‖A(q) − A(x)‖ from the best random q, projected onto the ball and
   the domain (Alvarez-Melis & Jaakkola 2018 search nearby inputs);
3. bisection: from each sample's pair with the largest ‖ΔA‖ (and any pairs the subject
   names in ``truth["lipschitz_pairs"]``), ``HALVINGS`` times keep the half whose ends
   differ more. The kept half always has at least half the difference (triangle
   inequality), so the ratio never falls; a Lipschitz map bounds it, while a jump of size
   J keeps ‖ΔA‖ ≈ J and the ratio ≈ J / ‖p − q‖ grows without bound as the pair closes
   (002 App. J). The ends' attributions are carried from the stages before and from
   the halves kept, so a halving attributes only the chains' midpoints.

Value: the largest ratio over every pair; ``Outcome.samples`` holds each sample's own
estimate (the largest ratio of the pairs started from it; named pairs count for their
first sample), aggregated by "max", so the row's interval bootstraps over samples.

Verdict: the map is flagged non-Lipschitz when some chain ends with ‖ΔA‖ > ``JUMP_RTOL``
× max|A| and its ‖ΔA‖ fell by less than half over the last ``GROWTH_WINDOW`` halvings
(the distance fell 2^GROWTH_WINDOW-fold): a jump, not a slope. Where the subject states
Theorem 4's bound (``truth["lipschitz_bound"]``, (C, n): M + |bᵢ − aᵢ|/2 · L for each
target), the details report the largest per-feature |ΔAᵢ| / ‖Δx‖ over that bound.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attrbench.checks.context import CheckContext, check
from attrbench.functional import as_targets, expand_baseline
from attrbench.results import Outcome

#: First pair distance, as a fraction of the domain's width b − a.
RADIUS = 0.1
#: Bisection halvings: the closest pairs are RADIUS·(b − a) / 2**HALVINGS apart.
HALVINGS = 12
#: Halvings over which a jump must keep (at least half) its size.
GROWTH_WINDOW = 4
#: A final difference above this fraction of max|A| (and kept) is a jump.
JUMP_RTOL = 1e-3


class _Pairs:
    """Evaluated pairs: per pair its ΔA vector, distance and target (for the bound), and
    per sample the largest ratio of the pairs near it."""

    def __init__(self, n_samples: int) -> None:
        self.delta: list[Tensor] = []
        self.dist: list[Tensor] = []
        self.targets: list[Tensor] = []
        self.per_sample = torch.zeros(n_samples, dtype=torch.float64)

    def add(
        self, a_p: Tensor, a_q: Tensor, p: Tensor, q: Tensor, targets: Tensor, rows: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Record pairs near the samples ``rows``; return ‖ΔA‖ and the ratios ‖ΔA‖ / ‖Δx‖
        (0 where p = q)."""
        delta = (a_p - a_q).reshape(len(p), -1).detach()
        dist = (p - q).reshape(len(p), -1).detach().norm(dim=1)
        self.delta.append(delta)
        self.dist.append(dist)
        self.targets.append(targets)
        diff = delta.norm(dim=1)
        ratios = _ratio(diff, dist)
        self.per_sample.scatter_reduce_(0, rows.cpu(), ratios.detach().double().cpu(), reduce="amax")
        return diff, ratios

    def estimate(self) -> float:
        """The largest ratio recorded (the largest per-sample estimate)."""
        return float(self.per_sample.max())

    def bound_ratio(self, bound: Tensor) -> float:
        """max over pairs and features of (|ΔAᵢ| / ‖Δx‖) / bound[target, i]."""
        delta, dist, targets = torch.cat(self.delta), torch.cat(self.dist), torch.cat(self.targets)
        keep = dist > 0
        per_feature = delta[keep].abs() / dist[keep, None]
        limit = torch.as_tensor(bound, dtype=delta.dtype, device=delta.device)[targets[keep]]
        return float((per_feature / limit).max())


def _ratio(diff: Tensor, dist: Tensor) -> Tensor:
    return torch.where(dist > 0, diff / dist.clamp(min=torch.finfo(dist.dtype).tiny), torch.zeros_like(diff))


def _norm(a: Tensor) -> Tensor:
    return a.reshape(len(a), -1).norm(dim=1)


@check(
    suite="axioms", check="lipschitz", metric="lipschitz_estimate", direction="lower", axiom="lipschitz",
    cases="network_cases",
)  # fmt: skip
def lipschitz(method, subject, ctx: CheckContext) -> Outcome:
    """Estimate of the local Lipschitz constant of A in x (↓), and whether A jumps (002
    §4.1, Theorem 4, App. J); see the module docstring for the search and the verdict."""
    x, t, b = ctx.samples(subject)
    n = len(x)
    targets = as_targets(t, n, x.device)
    lo, hi = (float(v) for v in subject.domain)
    radius = RADIUS * (hi - lo)
    per_sample = None if method.distributional else expand_baseline(b, x)

    def attribute(points: Tensor, rows: Tensor, where: str) -> Tensor:
        """A at ``points`` whose samples are ``rows`` (targets and baselines follow them)."""
        base = b if method.distributional else per_sample[rows]
        return ctx.attribute(method, subject.model, points, targets[rows], base, where=f"lipschitz ({where})")

    pairs = _Pairs(n)
    index = torch.arange(n, device=x.device)

    # 1. random pairs, all in one call together with x itself
    k = ctx.scale.lipschitz_pairs
    u = torch.randn((k, *x.shape), generator=ctx.generator, dtype=x.dtype).to(x.device)
    u = u / _norm(u.reshape(k * n, *x.shape[1:])).reshape(k, n, *[1] * (x.dim() - 1))
    q = (x.unsqueeze(0) + radius * u).clamp(lo, hi)
    ones = [1] * (x.dim() - 1)
    flat_q = q.reshape(k * n, *x.shape[1:])
    a = attribute(torch.cat([x, flat_q]), index.repeat(k + 1), "random pairs")
    a_x, flat_a = a[:n], a[n:]
    diff, ratios = pairs.add(flat_a, a_x.repeat(k, *ones), flat_q, x.repeat(k, *ones), targets.repeat(k),
                             index.repeat(k))  # fmt: skip
    diff = diff.reshape(k, n)
    best = diff.argmax(0)
    a_x = a_x.detach()
    start_q, start_diff = q[best, index], diff[best, index]
    start_a = flat_a.detach().reshape(k, *x.shape)[best, index]
    random_estimate = float(ratios.max())

    # 2. gradient ascent on ‖A(q) − A(x)‖ within the ball and the domain
    ascent_note = "not differentiable: skipped"
    if method.differentiable and ctx.scale.lipschitz_ascent_steps:
        start_q, start_a, start_diff, ascent_note = _ascent(
            attribute, pairs, x, a_x, start_q, start_a, start_diff, targets, radius, lo, hi,
            ctx.scale.lipschitz_ascent_steps,
        )  # fmt: skip

    # 3. bisection from each sample's widest pair, plus the subject's named pairs; the ends'
    # attributions are known (from the stages above, then from the halves kept), so each
    # halving attributes only the midpoints
    p_chain, q_chain, a_p, a_q, rows = x, start_q, a_x, start_a, index
    named = [(i, j) for i, j in subject.truth.get("lipschitz_pairs", ()) if i < n and j < n]
    if named:
        first, second = (torch.tensor(side, device=x.device) for side in zip(*named))
        p_chain, q_chain = torch.cat([x, x[first]]), torch.cat([start_q, x[second]])
        a_p, a_q, rows = torch.cat([a_x, a_x[first]]), torch.cat([start_a, a_x[second]]), torch.cat([index, first])
    chain_diff, chain_dist = [], []
    scale_a = torch.maximum(a_p.abs().max(), a_q.abs().max())
    for halving in range(HALVINGS + 1):
        chain_diff.append(pairs.add(a_p, a_q, p_chain, q_chain, targets[rows], rows)[0])
        chain_dist.append(_norm(p_chain - q_chain))
        if halving == HALVINGS:
            break
        mid = (p_chain + q_chain) / 2
        a_m = attribute(mid, rows, "bisection").detach()
        scale_a = torch.maximum(scale_a, a_m.abs().max())
        left = _norm(a_p - a_m) >= _norm(a_m - a_q)
        keep = left.view(-1, *[1] * (x.dim() - 1))
        p_chain, q_chain = torch.where(keep, p_chain, mid), torch.where(keep, mid, q_chain)
        a_p, a_q = torch.where(keep, a_p, a_m), torch.where(keep, a_m, a_q)
    diffs, dists = torch.stack(chain_diff), torch.stack(chain_dist)  # (HALVINGS + 1, chains)
    final, earlier = diffs[-1], diffs[-1 - GROWTH_WINDOW]
    jumps = (final > JUMP_RTOL * scale_a) & (final >= earlier / 2)
    by_distance = [
        [float(dists[s].median()), float(_ratio(diffs[s], dists[s]).max())] for s in range(0, HALVINGS + 1, 2)
    ]
    worst = int(_ratio(final, dists[-1]).argmax())
    details = {
        "estimate from random pairs": random_estimate,
        "gradient ascent": ascent_note,
        "ratio by pair distance [distance, max ratio]": by_distance,
        "chains flagged as jumps": int(jumps.sum()),
        "of": len(p_chain),
        "worst chain": {"p": p_chain[worst], "q": q_chain[worst], "|A(p) - A(q)|": final[worst],
                        "|p - q|": dists[-1, worst]},
        "jump criterion": f"final |dA| > {JUMP_RTOL}*max|A| and >= half its value {GROWTH_WINDOW} halvings earlier",
    }  # fmt: skip
    if named:
        details["named pairs [distance, ratio]"] = [
            [float(dists[0, n + m]), float(_ratio(diffs[0, n + m], dists[0, n + m]))] for m in range(len(named))
        ]
    if "lipschitz_bound" in subject.truth:
        details["theorem 4 bound"] = "M + |b_i - a_i|/2 L per target and feature"
        details["max (|dA_i| / |dx|) / bound"] = pairs.bound_ratio(subject.truth["lipschitz_bound"])
    return Outcome(value=pairs.estimate(), holds=not bool(jumps.any()), details=details,
                   samples=pairs.per_sample.tolist(), aggregate="max")  # fmt: skip


def _ascent(attribute, pairs: _Pairs, x, a_x, q, a_q, diff, targets, radius, lo, hi, steps):
    """Projected signed-gradient ascent on ‖A(q) − A(x)‖, with A(x) = ``a_x`` held fixed
    (it does not depend on q); returns the best q per sample, its attributions, its
    difference, and a note for the details."""
    step = 2 * radius / steps
    best_q, best_a, best_diff = q.clone(), a_q.clone(), diff.clone()
    shape = (-1, *[1] * (x.dim() - 1))
    index = torch.arange(len(x), device=x.device)
    for _ in range(steps):
        point = q.detach().requires_grad_(True)
        a = attribute(point, index, "gradient ascent")
        gap = _norm(a - a_x)
        pairs.add(a, a_x, point, x, targets, index)
        better = gap.detach() > best_diff
        best_q = torch.where(better.view(shape), point.detach(), best_q)
        best_a = torch.where(better.view(shape), a.detach(), best_a)
        best_diff = torch.where(better, gap.detach(), best_diff)
        if not a.requires_grad:
            return best_q, best_a, best_diff, "the method returned no graph: stopped"
        (grad,) = torch.autograd.grad(gap.sum(), point, allow_unused=True)
        if grad is None:
            return best_q, best_a, best_diff, "A does not depend on x through its graph: stopped"
        moved = point.detach() + step * grad.sign()
        offset = moved - x
        norm = _norm(offset).clamp(min=torch.finfo(x.dtype).tiny)
        q = (x + offset * (radius / norm).clamp(max=1).view(shape)).clamp(lo, hi)
    return best_q, best_a, best_diff, f"{steps} steps of size {step:.3g}"
