"""Noisy linear imputation (Rong et al. 2022, "A consistent and efficient evaluation
strategy for attribution methods", ICML: "ROAD").

A removed pixel is not set to a constant (which leaks the mask's shape to the model) but
replaced by the weighted mean of its eight neighbours, x_i = Σ_j w_ij x_j / Σ_j w_ij over
the neighbours j inside the image, with w = 1/6 for the four direct neighbours and 1/12
for the four diagonal ones (the weights of the authors' code, ``NoisyLinearImputer``).
Where neighbours are themselves removed the equations are coupled: the removed pixels U of
one image solve the sparse linear system

    (D − W_UU) x_U = W_UK x_K,    D = diag(Σ_{j inside} w_ij),

one right-hand side per channel. D − W_UU is symmetric and strictly diagonally dominant on
every connected group of removed pixels that touches a kept pixel, so it is positive
definite whenever at least one pixel of the image is kept. Gaussian noise N(0, σ²) is then
added to the imputed values only (the "noisy" of the name; σ = 0.01 in the authors' code
for normalised images).

Batched: the systems of every image of a batch are one block-diagonal sparse system,
assembled with vectorised index arithmetic (no loop over pixels or images) and solved by
one sparse LU factorisation (SuperLU, ``scipy.sparse.linalg.splu``) in float64 for all
channels at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import InputShapeError

#: (row offset, column offset, weight) of the eight neighbours (Rong et al.'s code).
NEIGHBOURS = (
    (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
    (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12),
)  # fmt: skip


def linear_imputation(images: Tensor, removed: Tensor) -> Tensor:
    """``images`` (B, C, H, W) with the pixels where ``removed`` (B, H, W) is True replaced
    by the solution of the neighbour-mean system of the module docstring (no noise); the
    other pixels are returned unchanged. InputShapeError when an image has every pixel
    removed (its system is singular: there is nothing to impute from)."""
    if images.dim() != 4 or removed.shape != (images.shape[0], *images.shape[2:]):
        raise InputShapeError(
            f"linear imputation needs images (B, C, H, W) and a mask (B, H, W); got {tuple(images.shape)} "
            f"and {tuple(removed.shape)}."
        )
    b, c, h, w = images.shape
    mask = removed.detach().cpu().numpy().astype(bool)
    if mask.reshape(b, -1).all(1).any():
        raise InputShapeError(
            "an image has every pixel removed, so noisy linear imputation has no kept neighbour to impute "
            "from; remove a fraction of the pixels below 1."
        )
    out = images.detach().clone()
    if not mask.any():
        return out
    pixels = images.detach().cpu().double().numpy().transpose(0, 2, 3, 1).reshape(b * h * w, c)
    flat = mask.reshape(-1)
    unknown = np.flatnonzero(flat)  # global pixel index g = (image · H + row) · W + column
    number = np.full(flat.shape, -1)
    number[unknown] = np.arange(len(unknown))
    row, col = (unknown // w) % h, unknown % w
    eqs, nbs, weights = [], [], []
    for dr, dc, weight in NEIGHBOURS:  # eight vectorised passes over every unknown of the batch
        inside = (row + dr >= 0) & (row + dr < h) & (col + dc >= 0) & (col + dc < w)
        eqs.append(np.flatnonzero(inside))
        nbs.append(unknown[inside] + dr * w + dc)
        weights.append(np.full(int(inside.sum()), weight))
    eq, nb, weight = np.concatenate(eqs), np.concatenate(nbs), np.concatenate(weights)
    coupled = flat[nb]
    from scipy.sparse import csc_matrix, csr_matrix
    from scipy.sparse.linalg import splu

    size = len(unknown)
    diagonal = np.bincount(eq, weights=weight, minlength=size)  # D_ii: the weights of neighbours inside
    system = csc_matrix(
        (np.concatenate([diagonal, -weight[coupled]]),
         (np.concatenate([np.arange(size), eq[coupled]]), np.concatenate([np.arange(size), number[nb[coupled]]]))),
        shape=(size, size),
    )  # fmt: skip
    rhs = csr_matrix((weight[~coupled], (eq[~coupled], nb[~coupled])), shape=(size, len(flat))) @ pixels
    # symmetric positive definite: no pivoting needed, and a fill-reducing order for A + Aᵀ
    lu = splu(system, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    solution = lu.solve(rhs)
    image, pixel = unknown // (h * w), unknown % (h * w)
    filled = out.reshape(b, c, h * w)
    filled[image, :, pixel] = torch.as_tensor(solution, dtype=out.dtype, device=out.device)
    return out


def noisy_linear_imputation(
    images: Tensor, removed: Tensor, noise_std: float, generator: torch.Generator | None = None
) -> Tensor:
    """:func:`linear_imputation`, then N(0, ``noise_std``²) added to the imputed pixels
    (every channel), drawn on the CPU from ``generator`` for the whole batch at once."""
    filled = linear_imputation(images, removed)
    if noise_std <= 0:
        return filled
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return filled + noise_std * noise * removed[:, None].to(images.dtype)
