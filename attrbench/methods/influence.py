"""Pixel attributions from the influence decomposition's window attacks (Reing et al.,
001 §4.3)."""

from __future__ import annotations

import torch

from attrbench.attacks.prediction import NORMS, PREDICTION_ATTACKS, bitflip_changes_class, changes_class
from attrbench.methods.occlusion import sliding_windows
from attrbench.methods.registry import Option, register_method

#: PGD's random start is drawn from a generator with this seed, so attributions are a
#: function of the input.
PGD_SEED = 0


@register_method(
    "influence_decomposition",
    claims=("implementation_invariance",),
    needs_baseline=False,
    differentiable=False,
    kind="perturbation",
    reference="Reing et al. 2021 (001) §3.4, §4.3: k×k windows whose ε-bounded attack changes the class",
    options={
        "window": Option(int, low=1),
        "stride": Option(int, low=1),
        "epsilon": Option(float, low=0, strict=True),
        "attack": Option(choices=(*PREDICTION_ATTACKS, "bitflip")),
        "norm": Option(choices=NORMS),
        "steps": Option(int, low=1),
    },
)
def influence_decomposition(
    model,
    x,
    target,
    baseline,
    *,
    window: int = 2,
    stride: int = 1,
    epsilon: float = 2.0,
    attack: str = "fgsm",
    norm: str = "l2",
    steps: int = 10,
):
    """For every window (k×k pixels of an (N, C, H, W) image with all its channels, or k
    consecutive features of any other input) at every ``stride``, an ε-bounded attack
    (``attrbench.attacks.prediction.prediction_attack``; default the fast gradient method in L2,
    §4.3) perturbs only that window. Each window whose attack changes the predicted class
    adds 1/(k·k) (1/k for a run of features) to each of its pixels, and a pixel's
    attribution is that sum averaged over the misclassifying windows — 0 everywhere when
    none misclassifies. ε is in the input's units (2: a 2×2 window of a digit in [−1, 1]
    can move each pixel by 1). All windows of all samples are attacked in one batch. The score
    is about the predicted class (``target`` and ``baseline`` are not used): the
    decomposition measures misclassification, not a class score (§3.1). It depends on the
    model only through its values and gradients, so equivalent networks get the same
    attributions (implementation invariance, 000 §1.2); windows mix neighbours, so dummy,
    symmetry and the other axioms are not claimed.

    ``attack="bitflip"``: the adversary of 001 §4.1 for inputs in {0, 1} — every flip inside
    the window is tried (``bitflip_changes_class``; ``epsilon``, ``norm``, ``steps`` unused),
    so a window counts exactly when the class is not constant on its subcube."""
    n = len(x)
    image = x.dim() == 4
    shape = tuple(x.shape[2:]) if image else (x[0].numel(),)
    windows = sliding_windows(shape, window, stride).to(x.device)  # (K, F)
    k = len(windows)
    masks = windows.view(k, 1, *shape) if image else windows.view(k, *x.shape[1:])
    changed = _changed(model, x, masks, attack=attack, norm=norm, epsilon=epsilon, steps=steps).T.to(x.dtype)
    area = float(window**len(shape))
    scores = (changed @ windows.to(x.dtype)) / area / changed.sum(1, keepdim=True).clamp(min=1)
    if image:
        return scores.view(n, 1, *shape).expand_as(x).clone()
    return scores.view_as(x)


def _changed(model, x, masks, *, attack: str, norm: str, epsilon: float, steps: int):
    """Bool (M, N): does the attack, restricted to ``masks[m]``, change row i's class?"""
    if attack == "bitflip":
        return bitflip_changes_class(model, x, masks)
    return changes_class(model, x, masks, attack=attack, norm=norm, epsilon=epsilon, steps=steps,
                         generator=torch.Generator().manual_seed(PGD_SEED))  # fmt: skip


def subset_influence(model, x, masks, *, epsilon: float = 2.0, attack: str = "fgsm", norm: str = "l2",
                     steps: int = 10, **_):  # fmt: skip
    """I_A for each bool mask A (M, features of x flattened): the fraction of the rows of
    ``x`` whose predicted class the method's attack, restricted to A, changes (001 §3.4).
    All masks × rows are attacked in one batch; ``attack="bitflip"`` tries every flip inside
    A (001 §4.1), exact on {0, 1} inputs."""
    changed = _changed(model, x, masks.view(len(masks), *x.shape[1:]), attack=attack, norm=norm,
                       epsilon=epsilon, steps=steps)  # fmt: skip
    return changed.to(x.dtype).mean(1)


influence_decomposition.subset_influence = subset_influence
