"""Public functional helpers: the scalar under attribution, F(x) = model(x)[arange(N),
target] (pre-softmax), its chunked evaluation over many points and its gradient, baseline
expansion and input validation.

Methods, checks, attacks and plugin authors all go through these functions, so the target
convention, the baseline convention and the chunking live in one place.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from attrbench.errors import InputShapeError, ModelStateError, TargetRangeError

#: Points per forward pass when a method or check does not say otherwise. 1024: within 20 %
#: of the fastest chunk per input for every digits model, while 4096-row passes of the
#: digits CNNs spill out of the caches and cost about twice as much per input (the tabular
#: MLP, at 0.1–0.3 µs an input, is fastest in one pass; bench/results/batch_size.md).
DEFAULT_BATCH_SIZE = 1024
#: Baselines a variant ``method[baseline=KIND]`` may ask for (attrbench.subjects.baselines).
BASELINE_KINDS = ("zero", "blurred", "uniform", "mean")


def as_targets(target, n: int, device: torch.device) -> Tensor:
    """``target`` (int, sequence or tensor) as a LongTensor of shape (n,)."""
    if target is None:
        raise InputShapeError(
            f"target is None; pass a class index (int) for the whole batch or one per sample, shape ({n},)."
        )
    t = torch.as_tensor(target, device=device)
    if t.is_floating_point() or t.is_complex():
        raise InputShapeError(f"target has dtype {t.dtype}; pass integer class indices (e.g. target.long()).")
    t = t.long()
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise InputShapeError(
            f"target has shape {tuple(t.shape)} for a batch of {n}; pass a class index (int) for the whole "
            f"batch or one per sample, shape ({n},)."
        )
    return t


def expand_baseline(baseline, x: Tensor) -> Tensor:
    """The baseline x' broadcast to ``x``'s shape; zeros when ``baseline`` is None."""
    if baseline is None:
        return torch.zeros_like(x)
    b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        return b.expand_as(x)
    except RuntimeError:
        row = tuple(x.shape[1:])
        raise InputShapeError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to the input's shape {tuple(x.shape)}; "
            f"pass one baseline per sample {tuple(x.shape)}, one for the whole batch {row} or "
            f"{(1, *row)}, a scalar, or None for zeros."
        ) from None


def reference_set(baseline, x: Tensor) -> Tensor:
    """A distributional method's reference rows (M, *x.shape[1:]): a single sample-shaped
    baseline is one row, a scalar one constant row, None the zero row."""
    if baseline is None:
        return torch.zeros_like(x[:1])
    refs = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    given = tuple(refs.shape)
    if refs.dim() == x.dim() - 1:
        refs = refs.unsqueeze(0)
    if refs.dim() == 0:
        refs = refs.expand_as(x[:1])
    try:
        if refs.dim() != x.dim() or len(refs) == 0:
            raise RuntimeError
        return refs.expand(len(refs), *x.shape[1:])
    except RuntimeError:
        row = tuple(x.shape[1:])
        raise InputShapeError(
            f"reference set of shape {given} does not fit inputs of shape "
            f"{tuple(x.shape)}; a distributional method takes M >= 1 reference rows (M, {', '.join(map(str, row))}) "
            f"shared by every sample, one row {row}, a scalar, or None for zeros."
        ) from None


def _depends_on_mode(module: nn.Module) -> bool:
    """True for layers that compute differently in train mode (dropout, batch statistics)."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p > 0
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return module.track_running_stats
    if isinstance(module, (nn.RNNBase, nn.MultiheadAttention)):
        return module.dropout > 0
    return False


def check_eval_mode(model) -> None:
    """Refuse a module in train mode that has a dropout or batch-norm layer in train mode.

    A train-mode wrapper without such layers (a fresh ``nn.Linear``, ``nn.Sequential``
    around an eval-mode model) computes the same in both modes and passes. Only the
    modules are inspected, so a ``forward`` that branches on ``self.training`` itself
    is not seen."""
    if not (isinstance(model, nn.Module) and model.training):
        return
    for name, module in model.named_modules():
        if module.training and _depends_on_mode(module):
            raise ModelStateError(
                f"the model is in train mode and its layer {name or '<root>'} ({type(module).__name__}) "
                "computes differently in training: dropout and batch-norm make attributions depend on "
                "the batch and the random number generator. Call model.eval() before attributing."
            )


def validate_call(model, x, target, baseline, *, distributional: bool = False) -> None:
    """The checks ``Method.attribute`` makes before calling a method, without a forward
    pass: ``x`` a floating-point tensor (N, ...) (a single sample needs its batch dimension:
    one of shape (D,) is read as D scalar inputs), the model not in train mode with dropout
    or batch-norm (:func:`check_eval_mode`), ``target`` as :func:`as_targets` accepts,
    ``baseline`` broadcasting to ``x`` (:func:`expand_baseline`) or, for a distributional
    method, a reference set (:func:`reference_set`). Raises an ``AttrbenchError``."""
    if not isinstance(x, Tensor):
        raise InputShapeError(
            f"x is a {type(x).__name__}; pass the inputs as a floating-point torch.Tensor of shape (N, ...)."
        )
    if not x.is_floating_point():
        raise InputShapeError(f"x has dtype {x.dtype}; attributions need floating-point inputs: pass x.float().")
    if x.dim() == 0:
        raise InputShapeError(
            "x is a 0-dimensional tensor, with no batch dimension; pass a batch (N, ...) with one row "
            "per sample (x.reshape(1, 1) for a single scalar input, x.unsqueeze(0) for a single sample)."
        )
    check_eval_mode(model)
    as_targets(target, len(x), x.device)
    if distributional:
        reference_set(baseline, x)
    else:
        expand_baseline(baseline, x)


def check_scores(out, n: int):
    """``out`` when it is a tensor of (n, C) scores; InputShapeError saying what to change otherwise."""
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != n:
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else f"a {type(out).__name__}"
        raise InputShapeError(
            f"model returned {got} for a batch of {n}; attrbench needs a tensor of (N, C) class scores "
            "(logits). Make the model return them: out.unsqueeze(1) for one score per sample, "
            "out.flatten(1) or pooling for extra dims, the logits tensor for a tuple or output object."
        )
    return out


def check_target_range(target: Tensor, n_classes: int) -> None:
    """TargetRangeError unless every class index lies in 0..n_classes-1."""
    bad = (target < 0) | (target >= n_classes)
    if bool(bad.any()):
        k = int(target[bad][0])
        classes = f"classes 0..{n_classes - 1}" if n_classes > 1 else "class 0 only"
        raise TargetRangeError(
            f"target class {k} is out of range for a model with {n_classes} outputs ({classes}); "
            "pass targets that index the model's output columns."
        )


def target_output(model, x: Tensor, target: Tensor) -> Tensor:
    """F(x) for a batch: model(x)[arange(N), target], shape (N,)."""
    out = check_scores(model(x), x.shape[0])
    check_target_range(target, out.shape[1])
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


#: Sharpness of the softplus that stands in for ReLU where a second derivative is needed
#: (fragility's attacks, Integrated Hessians): softplus_β(z) = log(1 + e^{βz})/β is within
#: log(2)/β = 0.07 of ReLU everywhere.
SURROGATE_BETA = 10.0


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


def bit_masks(codes: Tensor, n: int) -> Tensor:
    """Bool (len(codes), n): bit i of the integer ``codes[k]`` — whether i is in the subset it
    codes, or x_i of the point of {0, 1}ⁿ it codes."""
    return ((codes[:, None] >> torch.arange(n, device=codes.device)) & 1).bool()


def seeded_generator(seed: int, subject: str, what: str) -> torch.Generator:
    """A CPU generator seeded from the run's seed, a subject's name and ``what`` alone: the
    draws every method of a subject meets (shared attacks, ROAD's noise, infidelity's
    perturbations) are the same."""
    digest = hashlib.sha256(f"{seed}:{subject}:{what}".encode()).hexdigest()
    return torch.Generator(device="cpu").manual_seed(int(digest[:15], 16))
