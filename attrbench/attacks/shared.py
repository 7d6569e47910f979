"""The perturbations every method faces in the fragility suite (Ghorbani et al., 004 §3 and
App. A), computed without the method under test so that all methods meet the same x_adv:

- **random sign noise** (004 §3): x_t + ε·sign(noise), the first of ``steps`` draws that
  keeps the predicted label (``attrbench.attacks.interpretation.random_sign``);
- **transfer attacks**: the top-k and mass-center attacks of Algorithm 1 run against each
  method of a fixed panel of differentiable surrogates (``PANEL``), through the softplus
  copy of ReLU networks as every white-box attack (App. A, footnote c).

The panel — ``gradient`` and ``input_x_gradient``, each with its default options — holds
the two maps the gradient-based built-ins are made of: the plain gradient (whose R =
|∇S|/Σ|∇S| is also saliency's, and which SmoothGrad averages) and the gradient times the
input (equal to ε-LRP and DeepLIFT-Rescale on ReLU networks, 003 Prop. 3 and §3.2; the
integrand of IG and, averaged over baselines, of expected gradients and GradientSHAP). IG
itself is left out for cost: one iteration of its attack costs 42–56 times one of the
gradient's (bench/README.md), and the panel is computed in every pytest-xdist worker,
which would add about a third to the suite's time; in issue 25's measurement the top-k
perturbation transferred from IG moved occlusion no more than those from saliency and
Gradient×Input (0.823–0.844 on ``digits/cnn_relu``). Path methods still meet their own
white-box attack. A method faces both panel maps under both attacks, and the worst
counts.

Both are functions of the subject (model, samples, targets, baseline), the ε grid, the
attack's settings and the run's seed only: the random draws and the mass-center start
come from a generator seeded by (seed, subject, attack), never from the per-test
generator, and the panel's calls are made by a guard of their own with a seed derived
the same way. They are cached in-process (``_CACHE``), so each is computed once per
process and reused by every method's test; pytest-xdist workers compute their own copy
and agree through determinism, sharing no state.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor

from attrbench.attacks.interpretation import (
    TARGETED,
    AttackResult,
    ball,
    predicted_labels,
    random_sign,
    run_interpretation_attack,
)
from attrbench.functional import seeded_generator
from attrbench.guard import Guard

#: The differentiable surrogates of the transfer attacks, each with its default options.
PANEL = ("gradient", "input_x_gradient")
#: Cached perturbation sets kept per process (oldest dropped first).
CACHE_SIZE = 256

_CACHE: OrderedDict = OrderedDict()


@dataclass(frozen=True)
class Grid:
    """What the shared perturbations of a subject depend on besides its tensors: the radii
    ε, the iterations P (also the random redraws), the step sizes α (one per ε), k of the
    top-k attack, and the run's seed."""

    epsilon: tuple[float, ...]
    steps: int
    step_size: tuple[float, ...]
    k: int
    seed: int


@dataclass(frozen=True)
class Perturbation:
    """Points x_adv (rows ε-major, as ``AttackResult``), whether each row moved while
    keeping the label, and how they were found."""

    x_adv: Tensor
    moved: Tensor
    note: str
    surrogate: int = 0


def clear_cache() -> None:
    """Forget every cached perturbation (tests)."""
    _CACHE.clear()


def random_perturbation(subject: str, model, x: Tensor, *, grid: Grid, domain) -> Perturbation:
    """Random sign noise at every ε of the grid (rows ε-major), drawn from
    ``seeded_generator(seed, subject, "random")``; cached."""

    def compute() -> Perturbation:
        eps = torch.as_tensor(grid.epsilon, dtype=x.dtype, device=x.device)
        x_t, radius, low, high = ball(x, eps, domain)
        labels = predicted_labels(model, x_t)
        gen = seeded_generator(grid.seed, subject, "random")
        x_adv, moved, note = random_sign(model, x_t, labels, radius, low, high, grid.steps, gen)
        return Perturbation(x_adv, moved, note)

    return _cached(("random", subject, grid, str(domain), _fingerprint(model, x)), compute)


def transfer_perturbation(surrogate: str, kind: str, subject: str, model, x: Tensor, target, baseline, *,
                          grid: Grid, domain, image_shape, guard: Guard) -> Perturbation:
    """Algorithm 1 of ``kind`` against the panel method ``surrogate`` (default options) at
    every ε of the grid; its calls go through ``guard`` (seeded with
    ``panel_seed(grid.seed, subject)``); cached."""
    from attrbench import methods  # the registry: a method by name

    if kind not in TARGETED:
        raise ValueError(f"transfer attacks are {TARGETED}, not {kind!r}")

    def compute() -> Perturbation:
        result: AttackResult = run_interpretation_attack(
            methods.get(surrogate), model, x, target, kind=kind, epsilon=list(grid.epsilon), steps=grid.steps,
            step_size=list(grid.step_size), k=grid.k, baseline=baseline,
            generator=seeded_generator(grid.seed, subject, f"{kind}@{surrogate}"), domain=domain,
            image_shape=image_shape, guard=guard,
        )  # fmt: skip
        rows = result.x_adv.reshape(-1, *x.shape[1:])
        return Perturbation(rows, result.moved, result.note, result.surrogate)

    key = ("transfer", surrogate, kind, subject, grid, str(domain), image_shape,
           _fingerprint(model, x, target, baseline))  # fmt: skip
    return _cached(key, compute)


def panel_seed(seed: int, subject: str) -> int:
    """The global-RNG seed of the panel's guard: from the run's seed and the subject."""
    return int(hashlib.sha256(f"{seed}:{subject}:panel".encode()).hexdigest()[:15], 16)


def _cached(key: tuple, compute):
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = compute()
    _CACHE[key] = value
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def _fingerprint(model, *tensors) -> str:
    """A digest of the model's parameters and buffers and of the given tensors (None and
    plain values by their repr), so two subjects of one name never share perturbations."""
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        h.update(name.encode())
        h.update(_bytes(value))
    for value in tensors:
        if isinstance(value, Tensor):
            h.update(str((value.dtype, tuple(value.shape), str(value.device))).encode())
            h.update(_bytes(value))
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _bytes(t: Tensor) -> bytes:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
