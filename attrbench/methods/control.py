"""The control every leaderboard shows as its floor."""

from __future__ import annotations

import torch

from attrbench.methods.registry import SEED_OPTION, register_method


@register_method(
    "random",
    claims=(),
    differentiable=False,
    kind="control",
    reference="Adebayo et al. 2018 (sanity checks): a random attribution as baseline",
    options={"seed": SEED_OPTION},
)
def random(model, x, target, baseline, *, seed: int = 0):
    """Standard normal noise of ``x``'s shape from a generator seeded with ``seed``;
    independent of the model and the input. Claims nothing."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
