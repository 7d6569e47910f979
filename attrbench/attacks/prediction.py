"""Attacks on the prediction: FGSM, BIM and PGD in L∞ and L2 (001 §4.4), restricted to a
mask of the input, and whether they change the predicted class.

Below the methods (``influence_decomposition`` attacks windows with them): this module
imports nothing from the guard, the checks or the plugin.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attrbench.errors import InvalidOptionError
from attrbench.functional import DEFAULT_BATCH_SIZE, check_scores, chunks

PREDICTION_ATTACKS = ("fgsm", "bim", "pgd")
NORMS = ("linf", "l2")


def class_scores(model, x: Tensor) -> Tensor:
    """Scores whose argmax is the predicted class: the model's (N, C) output, or for a
    one-column output s (a Boolean circuit) the two scores (0.5 − s, s − 0.5), so the class
    is s > 1/2."""
    out = check_scores(model(x), len(x))
    return torch.cat([0.5 - out, out - 0.5], 1) if out.shape[1] == 1 else out


def predicted_classes(model, x: Tensor, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """argmax of ``class_scores`` in chunked passes without a graph."""
    with torch.no_grad():
        return torch.cat([class_scores(model, x[s]).argmax(1) for s in chunks(len(x), batch_size)])


def _project(delta: Tensor, epsilon: float, norm: str) -> Tensor:
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    flat = delta.reshape(len(delta), -1)
    scale = (epsilon / flat.norm(dim=1).clamp(min=torch.finfo(delta.dtype).tiny)).clamp(max=1.0)
    return (flat * scale[:, None]).view_as(delta)


def _direction(grad: Tensor, norm: str) -> Tensor:
    if norm == "linf":
        return grad.sign()
    flat = grad.reshape(len(grad), -1)
    return (flat / flat.norm(dim=1, keepdim=True).clamp(min=torch.finfo(grad.dtype).tiny)).view_as(grad)


def prediction_attack(
    model,
    x: Tensor,
    *,
    attack: str = "fgsm",
    norm: str = "l2",
    epsilon: float,
    mask: Tensor | None = None,
    steps: int = 10,
    step_size: float | None = None,
    domain: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Untargeted ε-bounded attack on the predicted class of each row of ``x``, moving only
    the entries where ``mask`` (broadcasting to ``x``) is True: the fast gradient method
    (one step of size ε, Goodfellow et al.), the basic iterative method (``steps`` steps of
    ``step_size``, default 2.5ε/steps, projected onto the ε-ball; Kurakin et al.) or PGD
    (the same from a uniform random start in the ball; Madry et al.), each in the L∞ or
    L2 norm, ascending the cross-entropy of the original class. The result stays in
    ``domain``; all rows are attacked in one batch."""
    if attack not in PREDICTION_ATTACKS:
        raise InvalidOptionError(f"unknown attack {attack!r}; choose one of {', '.join(PREDICTION_ATTACKS)}.")
    if norm not in NORMS:
        raise InvalidOptionError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")
    if not epsilon > 0:
        raise InvalidOptionError(f"epsilon must be > 0, got {epsilon}.")
    x = x.detach()
    m = torch.ones_like(x) if mask is None else mask.to(device=x.device, dtype=x.dtype).expand_as(x)
    labels = predicted_classes(model, x)
    lo, hi = domain if domain is not None else (-torch.inf, torch.inf)
    delta = torch.zeros_like(x)
    if attack == "pgd":
        start = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1
        delta = _project(start * epsilon * m, epsilon, norm)
    n_steps, alpha = (1, epsilon) if attack == "fgsm" else (steps, step_size or 2.5 * epsilon / steps)
    for _ in range(n_steps):
        point = (x + delta).clamp(lo, hi).requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(class_scores(model, point), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, point)
        delta = _project((delta + alpha * _direction(grad * m, norm)) * m, epsilon, norm)
    return (x + delta).clamp(lo, hi).detach()


def changes_class(
    model,
    x: Tensor,
    masks: Tensor,
    *,
    attack: str = "fgsm",
    norm: str = "l2",
    epsilon: float,
    steps: int = 10,
    domain: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Bool (M, N): does :func:`prediction_attack` on row i of ``x``, moving only the
    entries of ``masks[m]`` (each broadcasting to one input), change its predicted class?
    The M·N attacks run as one batch, mask-major (row m·N + i)."""
    m, n = len(masks), len(x)
    rows = x.detach().repeat(m, *[1] * (x.dim() - 1))
    mask = masks.to(x.device).repeat_interleave(n, 0)
    adv = prediction_attack(model, rows, attack=attack, norm=norm, epsilon=epsilon, mask=mask, steps=steps,
                            domain=domain, generator=generator)  # fmt: skip
    return (predicted_classes(model, adv) != predicted_classes(model, rows)).view(m, n)
