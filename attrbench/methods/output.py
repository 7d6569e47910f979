"""The scalar under attribution, F(x) = model(x)[arange(N), target] (pre-softmax), its
batched evaluation over many points, and its gradient.

Every built-in method goes through these functions, so the target convention, the
baseline convention and the chunking live in one place.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from attrbench.errors import InputShapeError

#: Points per forward pass when a method does not say otherwise.
DEFAULT_BATCH_SIZE = 4096


def as_targets(target, n: int, device: torch.device) -> Tensor:
    """``target`` (int, sequence or tensor) as a LongTensor of shape (n,)."""
    t = torch.as_tensor(target, device=device).long()
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise InputShapeError(f"target has shape {tuple(t.shape)}; expected a class index or shape ({n},).")
    return t


def expand_baseline(baseline, x: Tensor) -> Tensor:
    """The baseline x' broadcast to ``x``'s shape; zeros when ``baseline`` is None."""
    if baseline is None:
        return torch.zeros_like(x)
    b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        return b.expand_as(x)
    except RuntimeError:
        raise InputShapeError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to the input's shape "
            f"{tuple(x.shape)}; pass one baseline per sample, one for the whole batch, or a scalar."
        ) from None


def target_output(model, x: Tensor, target: Tensor) -> Tensor:
    """F(x) for a batch: model(x)[arange(N), target], shape (N,)."""
    out = model(x)
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        raise InputShapeError(
            f"model returned shape {tuple(out.shape)} for a batch of {x.shape[0]}; attrbench needs "
            "(N, C) scores (use a 1-column output for a scalar model)."
        )
    return out.gather(1, target.view(-1, 1)).squeeze(1)


def chunks(total: int, size: int | None) -> Iterator[slice]:
    """Consecutive slices of ``range(total)`` with at most ``size`` items each."""
    size = total if not size else max(1, int(size))
    for start in range(0, total, size):
        yield slice(start, min(total, start + size))


def evaluate(model, points: Tensor, targets: Tensor, batch_size: int | None = DEFAULT_BATCH_SIZE) -> Tensor:
    """F at many points in chunked forward passes, without a graph; shape (P,)."""
    with torch.no_grad():
        return torch.cat([target_output(model, points[s], targets[s]) for s in chunks(len(points), batch_size)])


def gradient(
    model,
    points: Tensor,
    targets: Tensor,
    batch_size: int | None = None,
    create_graph: bool | None = None,
) -> Tensor:
    """∂F/∂x at many points in chunked forward/backward passes; shape of ``points``.

    With ``create_graph`` (default: ``points.requires_grad``) the result stays
    differentiable with respect to whatever ``points`` was computed from.
    """
    return values_and_gradients(model, points, targets, batch_size, create_graph)[1]


def values_and_gradients(
    model,
    points: Tensor,
    targets: Tensor,
    batch_size: int | None = None,
    create_graph: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """F (detached, shape (P,)) and ∂F/∂x (as :func:`gradient`) from the same passes."""
    create_graph = points.requires_grad if create_graph is None else create_graph
    values, grads = [], []
    for s in chunks(len(points), batch_size):
        with torch.enable_grad():
            p = points[s] if create_graph else points[s].detach().requires_grad_(True)
            f = target_output(model, p, targets[s])
            (g,) = torch.autograd.grad(f.sum(), p, create_graph=create_graph)
        values.append(f.detach())
        grads.append(g)
    if len(grads) == 1:
        return values[0], grads[0]
    return torch.cat(values), torch.cat(grads)


def evaluate_replaced(
    model,
    x: Tensor,
    baseline: Tensor,
    targets: Tensor,
    replace: Tensor,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> Tensor:
    """F at sample-specific perturbations, shape (N, M): point (i, j) is ``x[i]`` with the
    entries where ``replace[i, j]`` is True taken from ``baseline[i]``.

    ``replace`` is a bool tensor (N, M, ...) whose trailing dims broadcast to one input
    (e.g. (N, M, 1, H, W) replaces whole pixels of (C, H, W) images). The N·M points are
    built and evaluated chunk by chunk, at most ``batch_size`` per forward pass."""
    n, m = replace.shape[:2]
    flat = replace.reshape(n * m, *replace.shape[2:])
    out = []
    for s in chunks(n * m, batch_size):
        rows = torch.arange(s.start, s.stop, device=x.device) // m
        points = torch.where(flat[s], baseline[rows], x[rows])
        out.append(evaluate(model, points, targets[rows], None))
    return torch.cat(out).reshape(n, m)


def repeat_targets(targets: Tensor, times: int) -> Tensor:
    """Targets for ``times`` stacked copies of a batch (copy-major order)."""
    return targets.repeat(times)


def evaluate_hybrids(
    model,
    x: Tensor,
    baseline: Tensor,
    targets: Tensor,
    keep: Callable[[slice], Tensor],
    count: int,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> Tensor:
    """F at hybrid inputs, shape (count, N): for mask k, the flattened features where
    ``keep(slice)[k]`` is True come from ``x`` and the rest from ``baseline``.

    Masks are built chunk by chunk (``keep`` maps a slice of mask indices to a bool
    tensor (k, D)), so occluding every feature of a large input never materialises all
    hybrids at once; each chunk is one forward pass of at most ``batch_size`` points.
    """
    n = len(x)
    flat_x, flat_b = x.reshape(n, -1), baseline.reshape(n, -1)
    per_chunk = max(1, batch_size // n) if batch_size else count
    out = []
    for s in chunks(count, per_chunk):
        m = keep(s).to(x.device)
        points = torch.where(m[:, None, :], flat_x[None], flat_b[None]).reshape(-1, *x.shape[1:])
        out.append(evaluate(model, points, targets.repeat(len(m)), None).reshape(len(m), n))
    return torch.cat(out)
