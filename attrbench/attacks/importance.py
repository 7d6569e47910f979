"""The normalised importance R of an attribution map, its top-k features and its centre of
mass (Ghorbani et al., 004 §2.1 and App. A): what the interpretation attacks ascend and
the fragility metrics compare."""

from __future__ import annotations

import torch
from torch import Tensor


def importance(attributions: Tensor) -> Tensor:
    """R = |A| / Σ|A| per sample (004 §2.1), shape (N, F); for images (N, C, H, W) a
    feature is a pixel and |A| is summed over its channels. All-zero maps give R = 0."""
    a = attributions.abs()
    if a.dim() == 4:
        a = a.sum(1)
    a = a.reshape(len(a), -1)
    return a / a.sum(1, keepdim=True).clamp(min=torch.finfo(a.dtype).tiny)


def feature_positions(x: Tensor, image_shape: tuple[int, ...] | None = None) -> Tensor:
    """Coordinates of each feature of ``importance`` (F, dims): the (row, column) of each
    pixel for (N, C, H, W) inputs or for flat inputs that are images of ``image_shape``,
    else the feature's index (a 1-D position)."""
    shape = tuple(x.shape[2:]) if x.dim() == 4 else (tuple(image_shape) if image_shape else (x[0].numel(),))
    grids = torch.meshgrid(*[torch.arange(s, dtype=x.dtype, device=x.device) for s in shape], indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], 1)


def topk_mask(r: Tensor, k: int) -> Tensor:
    """Bool mask of the k largest entries of each row (ties broken by torch.topk)."""
    return torch.zeros_like(r, dtype=torch.bool).scatter_(1, r.topk(k, dim=1).indices, True)


def center_of_mass(r: Tensor, positions: Tensor) -> Tensor:
    """C = Σᵢ Rᵢ·positionᵢ (004 App. A, footnote b), shape (N, dims)."""
    return r @ positions
