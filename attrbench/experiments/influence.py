"""The influence-decomposition experiments of 001 on the digits networks.

- ``window_attack_rates`` (001 §4.4, supplement §3 table): the fraction of k×k windows of
  each image whose ε-bounded attack (FG, BI, PGD in L2 or L∞) changes the predicted
  class, per attack, norm, ε and k. The supplement's table calls this "accuracy", but its
  values behave as a misclassification rate (1.0 for the largest windows, 0 for the
  smallest), and that is what is reported here.
- ``neuron_importance`` (001 §4.2, Tables 1 and 2): on an MLP, IG on each hidden layer's
  pre-activations (zero baseline, the predicted class) marks a neuron important when its
  attribution exceeds the sample's mean. Accuracy after ablating (zeroing) the unimportant
  (Ablation-Exclusive) or important (Ablation-Inclusive) neurons, and after an L∞ fast
  gradient attack of size ε on them (Adv-Exc, Adv-Inc); then accuracy against the size of
  random subsets of all neurons (``subsets`` per sample and size), whose local differences
  of misclassification are the layer's influence decomposition (Table 2, in %).

All perturbations of all samples, windows and subsets are attacked in batched passes.
``rate_ends``, ``accuracy`` and ``whole_set_accuracy`` summarise the results for the
Boolean suite's assertions (suites/test_boolean_recovery.py).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor, nn

from attrbench.attacks.prediction import NORMS, PREDICTION_ATTACKS, changes_class, predicted_classes, prediction_attack
from attrbench.methods.occlusion import sliding_windows

#: ε grids per norm for the window attacks on digits in [−1, 1] (the supplement uses
#: 0.5, 1, 10 in L2 and 0.1, 0.5, 1, 10 in L∞ on ImageNet's scale).
WINDOW_EPSILONS = {"l2": (0.5, 1.0, 2.0), "linf": (0.1, 0.25, 0.5)}


def window_attack_rates(
    model,
    x: Tensor,
    *,
    window_sizes=(8, 6, 4, 2, 1),
    attacks=PREDICTION_ATTACKS,
    norms=NORMS,
    epsilons: dict | None = None,
    stride: int = 1,
    domain: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> pd.DataFrame:
    """Rows (attack, norm, epsilon, window, windows, misclassified) for images (N, C, H, W):
    ``misclassified`` is the fraction of (sample, window) pairs whose attack, restricted to
    the window's pixels (all channels), changes the predicted class."""
    if x.dim() != 4:
        raise ValueError(f"window attacks need images (N, C, H, W); got {tuple(x.shape)}.")
    epsilons = epsilons or WINDOW_EPSILONS
    h, w = x.shape[2], x.shape[3]
    rows = []
    for k in window_sizes:
        windows = sliding_windows((h, w), k, stride).to(x.device).view(-1, 1, h, w)
        for attack in attacks:
            for norm in norms:
                for eps in epsilons[norm]:
                    changed = changes_class(model, x, windows, attack=attack, norm=norm, epsilon=eps, domain=domain,
                                            generator=generator)  # fmt: skip
                    rate = float(changed.double().mean())
                    rows.append((attack, norm, eps, k, len(windows), rate))
    return pd.DataFrame(rows, columns=["attack", "norm", "epsilon", "window", "windows", "misclassified"])


def hidden_layers(model: nn.Sequential) -> list[int]:
    """Indices of the ``nn.Linear`` modules whose outputs are hidden pre-activations (every
    Linear but the last)."""
    linear = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linear) < 2:
        raise ValueError("neuron_importance needs an nn.Sequential MLP with at least one hidden layer.")
    return linear[:-1]


def accuracy(model, x: Tensor, y: Tensor) -> float:
    """Accuracy (%) of ``model``'s predicted classes on (x, y)."""
    return 100.0 * float((predicted_classes(model, x) == y).double().mean())


def random_subset_masks(within: Tensor, fraction: float, draws: int, generator=None) -> Tensor:
    """For each row of the bool mask ``within`` (N, F), ``draws`` random subsets holding
    round(fraction · |row|) of its True entries, uniformly: (N · draws, F), row-major."""
    rows = within.repeat_interleave(draws, 0)
    keys = torch.rand(rows.shape, generator=generator).to(rows.device).masked_fill(~rows, float("inf"))
    rank = keys.argsort(1).argsort(1)  # 0 for the smallest key of each row
    size = (fraction * rows.sum(1, keepdim=True)).round()
    return (rank < size) & rows


def neuron_importance(
    model: nn.Sequential,
    x: Tensor,
    y: Tensor,
    *,
    epsilons=(0.1, 0.5, 1.0),
    subset_sizes=(20, 60, 100, 140, 180),
    fractions=(0.1, 0.25, 0.5, 0.75, 1.0),
    subsets: int = 20,
    generator: torch.Generator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(Table 1, Table 2, Figure 2's curves) of 001 §4.2 for ``model`` on (x, y), in %.

    Table 1: one row per measurement (clean, Ablation-Exclusive/-Inclusive, Adv-Exc/-Inc
    at each ε) and one column per hidden layer, plus the mean fraction of neurons marked
    important. Figure 2: accuracy after the ε = max(epsilons) L∞ fast gradient attack on
    random subsets holding each of ``fractions`` of the important (Adv-Inc), unimportant
    (Adv-Exc) or all neurons of each sample (``subsets`` draws per sample): columns layer,
    set, fraction, accuracy. Table 2: per layer, I_(k) = miscls(k) − miscls(previous size)
    for random subsets of k of all the layer's neurons, the decomposition read off the
    curve for all neurons."""
    from attrbench import methods

    ig = methods.get("integrated_gradients")
    table1: dict[str, dict[str, float]] = {}
    table2: dict[str, dict[str, float]] = {}
    curves = []
    eps = max(epsilons)
    for number, index in enumerate(hidden_layers(model), 1):
        layer = f"Layer {number}"
        prefix, suffix = model[: index + 1], model[index + 1 :]
        with torch.no_grad():
            h = prefix(x)
        predicted = predicted_classes(suffix, h)
        a = ig.attribute(suffix, h, predicted, torch.zeros(1, h.shape[1]))
        important = a > a.mean(1, keepdim=True)
        column = {"clean": accuracy(suffix, h, y), "important fraction (%)": 100.0 * float(important.double().mean())}
        column["Ablation-Exclusive"] = accuracy(suffix, h * important, y)
        column["Ablation-Inclusive"] = accuracy(suffix, h * ~important, y)
        for e in epsilons:
            for name, mask in (("Exc", ~important), ("Inc", important)):
                adv = prediction_attack(suffix, h, attack="fgsm", norm="linf", epsilon=e, mask=mask)
                column[f"Adv-{name} (ε = {e:g})"] = accuracy(suffix, adv, y)
        table1[layer] = column
        rows = h.repeat_interleave(subsets, 0)
        labels = y.repeat_interleave(subsets, 0)

        # Called only within this iteration, on this layer's suffix, rows and labels; bound as
        # defaults so that is plain to see.
        def attackedaccuracy(mask: Tensor, suffix=suffix, rows=rows, labels=labels) -> float:
            adv = prediction_attack(suffix, rows, attack="fgsm", norm="linf", epsilon=eps, mask=mask)
            return accuracy(suffix, adv, labels)

        sets = {"Adv-Inc": important, "Adv-Exc": ~important, "all": torch.ones_like(important)}
        for name, within in sets.items():
            for fraction in fractions:
                mask = random_subset_masks(within, fraction, subsets, generator)
                curves.append((layer, name, fraction, attackedaccuracy(mask)))
        previous, decomposition = 0.0, {}
        everything = torch.ones_like(rows[:1], dtype=torch.bool)
        for k in sorted(subset_sizes):
            if k > h.shape[1]:
                break
            mask = random_subset_masks(everything, k / h.shape[1], len(rows), generator)
            miscls = 100.0 - attackedaccuracy(mask)
            decomposition[f"I_({k})"] = miscls - previous
            previous = miscls
        table2[layer] = decomposition
    curve_frame = pd.DataFrame(curves, columns=["layer", "set", "fraction", "accuracy"])
    return pd.DataFrame(table1), pd.DataFrame(table2).T, curve_frame


def rate_ends(rates: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """From :func:`window_attack_rates`' rows, the mean misclassification rate at the
    smallest and at the largest window (key ``"window"``), and per norm at the smallest and
    the largest ε (key ``"epsilon (norm)"``): larger windows and radii should not do worse."""
    by_window = rates.groupby("window")["misclassified"].mean()
    ends = {"window": (by_window.iloc[0], by_window.iloc[-1])}
    for norm, part in rates.groupby("norm"):
        by_eps = part.groupby("epsilon")["misclassified"].mean()
        ends[f"epsilon ({norm})"] = (by_eps.iloc[0], by_eps.iloc[-1])
    return ends


def whole_set_accuracy(curves: pd.DataFrame) -> pd.Series:
    """Figure 2's accuracy where the attacked subset is the whole set (fraction 1), indexed
    by (layer, set): the Adv-Inc / Adv-Exc rows of Table 1 at the same ε."""
    return curves[curves["fraction"] == 1.0].set_index(["layer", "set"])["accuracy"]
