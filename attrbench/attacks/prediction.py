"""Attacks on the prediction: FGSM, BIM and PGD in L∞ and L2 (001 §4.4), restricted to a
mask of the input, and whether they change the predicted class; and the exhaustive bit-flip
adversary on {0, 1} inputs (001 §4.1).

Below the methods (``influence_decomposition`` attacks windows with them): this module
imports nothing from the guard, the checks or the plugin.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import InputShapeError, InvalidOptionError
from attrbench.functional import DEFAULT_BATCH_SIZE, check_scores, chunks

PREDICTION_ATTACKS = ("fgsm", "bim", "pgd")
NORMS = ("linf", "l2")
#: The largest number of input features the bit-flip adversary enumerates: it classifies all
#: 2ⁿ corners of {0, 1}ⁿ and holds a 2ⁿ × 2ⁿ table (64 MB at n = 12).
MAX_BITFLIP_FEATURES = 12


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


def subcube_nonconstant(f: np.ndarray, n: int) -> np.ndarray:
    """Bool (2ⁿ subsets A, 2ⁿ inputs x): is f (integer classes, one per corner of {0,1}ⁿ,
    row k holding the corner whose bit i is xᵢ) non-constant on {x ⊕ z : z ⊆ A}? Built by
    adding one free variable at a time: the subcube of A ∪ {i} is that of A and its copy
    with xᵢ flipped (vectorised over every A whose largest element is i)."""
    size = 2**n
    idx = np.arange(size)
    f = np.asarray(f)
    dtype = np.int16 if f.size == 0 or (f.min() >= -(2**15) and f.max() < 2**15) else f.dtype
    lo = np.empty((size, size), dtype=dtype)  # the least class on the subcube
    hi = np.empty((size, size), dtype=dtype)  # the largest
    lo[0] = hi[0] = f
    for i in range(n):
        block, flip = slice(2**i, 2 ** (i + 1)), idx ^ (1 << i)
        lo[block] = np.minimum(lo[: 2**i], lo[: 2**i][:, flip])
        hi[block] = np.maximum(hi[: 2**i], hi[: 2**i][:, flip])
    return lo != hi


def _codes(bits: Tensor) -> np.ndarray:
    """Row k of the bool/0-1 (K, n) ``bits`` as the integer Σᵢ bitsᵢ 2ⁱ."""
    powers = 1 << np.arange(bits.shape[1], dtype=np.int64)
    return (bits.detach().cpu().numpy().astype(np.int64) * powers).sum(1)


def bitflip_table(model, shape: tuple[int, ...], *, device=None, dtype=None,
                  batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Bool (2ⁿ subsets A, 2ⁿ inputs x), n = the features of one input of ``shape``: can a flip
    inside A change the predicted class at x (001 §4.1)? All 2ⁿ corners (row k: bit i = xᵢ)
    are classified in chunked passes on ``device``, then :func:`subcube_nonconstant`."""
    n = math.prod(shape)
    corners = ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).to(device=device, dtype=dtype)
    classes = predicted_classes(model, corners.view(-1, *shape), batch_size).cpu().numpy()
    return subcube_nonconstant(classes, n)


def bitflip_changes_class(model, x: Tensor, masks: Tensor, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """Bool (M, N): can flipping bits inside ``masks[m]`` (each broadcasting to one input)
    change the predicted class of row i of ``x``? The adversary of 001 §4.1 tries every flip
    z ⊆ A, so this is exact: the class is not constant on the subcube x ⊕ {z ⊆ A}. Every
    entry of ``x`` must be 0 or 1; all 2ⁿ corners (n = features per input ≤
    MAX_BITFLIP_FEATURES) are classified in chunked passes, then looked up."""
    x = x.detach()
    if not bool(((x == 0) | (x == 1)).all()):
        raise InputShapeError(
            "the bit-flip adversary (attack='bitflip', 001 §4.1) flips Boolean inputs: every entry of x must be "
            "0 or 1; use attack='fgsm', 'bim' or 'pgd' for real-valued inputs."
        )
    shape, n = tuple(x.shape[1:]), int(x[0].numel())
    if n > MAX_BITFLIP_FEATURES:
        raise InvalidOptionError(
            f"the bit-flip adversary enumerates all 2ⁿ inputs; n = {n} features is above {MAX_BITFLIP_FEATURES}. "
            "Use attack='fgsm', 'bim' or 'pgd' for larger inputs."
        )
    table = bitflip_table(model, shape, device=x.device, dtype=x.dtype, batch_size=batch_size)
    flat_masks = masks.to(torch.bool).expand(len(masks), *shape).reshape(len(masks), n)
    return torch.from_numpy(table[_codes(flat_masks)][:, _codes(x.reshape(len(x), n))]).to(x.device)
