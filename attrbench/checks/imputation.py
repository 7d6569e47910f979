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

Batched, in float64, three solvers for the same systems (``solver=None`` picks by the
pixel count H·W):

- ``"cg"`` (H·W ≤ :data:`CG_MAX_PIXELS`, e.g. 8×8 digits): conjugate gradients on every
  (image, channel) system at once, matrix-free but for one dense (H·W, H·W) stencil matrix
  W shared by all images (one matrix product per iteration; the removed set enters as a
  mask). Each system stops when its residual ‖r‖ ≤ :data:`CG_TOLERANCE` · ‖W_UK x_K‖ and
  is frozen thereafter, so it takes the same steps whatever else is in the batch.
- ``"banded"`` (larger grids, e.g. 28×28 and 32×32): numbered row-major, an image's
  removed pixels couple only to removed pixels at most W + 1 numbers away, so each system
  is a symmetric positive definite band matrix of half-bandwidth ≤ W + 1, and the systems
  of many images are one block-diagonal band matrix: one banded Cholesky solve (LAPACK
  ``pbsv`` through ``scipy.linalg.solveh_banded``) per group of images of similar
  bandwidth (:func:`bandwidth_groups`; work ∝ Σ unknowns × bandwidth²), all channels at once.
- ``"lu"``: the same block-diagonal system as a general sparse matrix, solved by one
  sparse LU factorisation (SuperLU, ``scipy.sparse.linalg.splu``); the default for large
  grids until the banded solver replaced it (4–5× slower on 28×28 and 32×32 images,
  bench/efficiency_at_scale.py); kept as the reference the others are tested against.

All three agree to float32 rounding (tests/test_faithfulness.py); bench/faithfulness_speed.py
and bench/efficiency_at_scale.py time them side by side.

ROAD removes *nested* sets: the first k_1 < k_2 < … pixels of one order per image. With the
unknowns numbered in that order, every system D − W_UU is a leading principal block of the
one matrix P(D − W)Pᵀ, and the Cholesky factor of a leading block is the leading block of
the factor (:func:`nested_imputation`): one factorisation per image and order serves every
count, and one forward and one backward triangular solve all of them (right-hand sides zero
past k_g give exactly the leading block's solution). Counts above half the pixels are
solved from the kept side instead, so no factor exceeds F/2 unknowns (F = H·W): with
G = (D − W + 11ᵀ/F)⁻¹ (:func:`grid_green`, fixed per grid) the imputed image is
z = G_{·K} c + α1, where G_KK c + α1 = x_K and 1ᵀc = 0 — z equals x on the kept pixels K
and satisfies the removed pixels' equations, (D − W)z = c vanishing off K — and the kept
sets, the last F − k_g pixels of the order, are leading blocks of the reversed order: one
Cholesky factor of G's block on the largest kept set serves those counts. For ROAD's nine
fractions of 64 pixels the factors are 32 × 32 and 26 × 26 instead of one 58 × 58. Dense,
so used up to :data:`NESTED_MAX_PIXELS`; above, each mask goes to :func:`linear_imputation`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import InputShapeError, InvalidOptionError

#: (row offset, column offset, weight) of the eight neighbours (Rong et al.'s code).
NEIGHBOURS = (
    (-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
    (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12),
)  # fmt: skip
#: Largest H·W solved by conjugate gradients on a dense stencil (``solver=None``); above
#: it, sparse LU (the dense stencil grows as (H·W)²: 0.5 MiB at 16×16).
CG_MAX_PIXELS = 256
#: Conjugate gradients stop at ‖r‖ ≤ this · ‖right-hand side‖ (float64), per system.
CG_TOLERANCE = 1e-10
SOLVERS = ("cg", "banded", "lu")
#: Largest H·W imputed by the nested Cholesky factorisation of :func:`nested_imputation`
#: (one dense (k, k) factor per image and order, k < H·W: cubic in the pixel count).
NESTED_MAX_PIXELS = 256
#: Images of one banded solve have half-bandwidths within a factor of this of each other.
BAND_GROUP_RATIO = 2


def linear_imputation(images: Tensor, removed: Tensor, *, solver: str | None = None) -> Tensor:
    """``images`` (B, C, H, W) with the pixels where ``removed`` (B, H, W) is True replaced
    by the solution of the neighbour-mean system of the module docstring (no noise); the
    other pixels are returned unchanged. ``solver`` is ``"cg"``, ``"banded"``, ``"lu"`` or
    None (``"cg"`` up to :data:`CG_MAX_PIXELS` pixels, ``"banded"`` above). InputShapeError
    when an image has every pixel removed (its system is singular: nothing to impute from)."""
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
    if solver not in (None, *SOLVERS):
        raise InvalidOptionError(f"solver={solver!r}: pass one of {SOLVERS}, or None to choose by the pixel count.")
    if not mask.any():
        return images.detach().clone()
    if solver == "cg" or (solver is None and h * w <= CG_MAX_PIXELS):
        return _conjugate_gradients(images.detach(), removed.detach())
    if solver in (None, "banded"):
        return _banded(images.detach(), mask)
    out = images.detach().clone()
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


#: (later, earlier) pixel slices of (B, H, W) for the four neighbour pairs: vertical,
#: horizontal, diagonal and anti-diagonal (the later pixel comes second row-major).
_PAIRS = (
    ((slice(None), slice(1, None), slice(None)), (slice(None), slice(None, -1), slice(None))),
    ((slice(None), slice(None), slice(1, None)), (slice(None), slice(None), slice(None, -1))),
    ((slice(None), slice(1, None), slice(1, None)), (slice(None), slice(None, -1), slice(None, -1))),
    ((slice(None), slice(1, None), slice(None, -1)), (slice(None), slice(None, -1), slice(1, None))),
)


def bandwidths(mask: np.ndarray) -> np.ndarray:
    """(B,) the half-bandwidth of each image's system: the largest difference of the
    row-major numbers of two removed pixels that are neighbours (0 without any); ``mask``
    is (B, H, W) bool."""
    b = mask.shape[0]
    number = np.cumsum(mask.reshape(b, -1), axis=1).reshape(mask.shape)
    widest = np.zeros(b, dtype=np.int64)
    for later, earlier in _PAIRS:
        gap = np.where(mask[later] & mask[earlier], number[later] - number[earlier], 0)
        widest = np.maximum(widest, gap.reshape(b, -1).max(1, initial=0))
    return widest


def bandwidth_groups(widths: np.ndarray, ratio: int = BAND_GROUP_RATIO) -> list[np.ndarray]:
    """Indices of images grouped so that within a group the half-bandwidths lie in
    (ratio^(k−1), ratio^k] (zero with one): each group is one banded solve of the largest
    bandwidth it holds, so no image pays much more than its own bandwidth squared."""
    level = np.ceil(np.log(np.maximum(widths, 1)) / np.log(ratio)).astype(np.int64)
    return [np.flatnonzero(level == k) for k in np.unique(level)]


def _banded(images: Tensor, mask: np.ndarray) -> Tensor:
    """The ``"banded"`` solver (module docstring): per group of :func:`bandwidth_groups`,
    the lower band of every image's D − W_UU side by side and one LAPACK banded Cholesky
    solve for all channels."""
    from scipy.linalg import solveh_banded

    b, c, h, w = images.shape
    out = images.clone()
    pixels = images.cpu().double().numpy().transpose(0, 2, 3, 1)  # (B, H, W, C)
    widths = bandwidths(mask)
    for group in bandwidth_groups(widths):
        sub = mask[group]
        if not sub.any():
            continue
        number = (np.cumsum(sub.reshape(-1)) - 1).reshape(sub.shape)  # row-major, image after image
        kept = pixels[group] * ~sub[..., None]
        rhs, diagonal = np.zeros(kept.shape), np.zeros((h, w))
        band = np.zeros((int(widths[group].max()) + 1, int(sub.sum())))  # band[i − j, j] = A_ij, i ≥ j
        for dr, dc, weight in NEIGHBOURS:  # pixel p, its neighbour q = p + (dr, dc): slices, no index lists
            p = (slice(None), slice(max(0, -dr), h - max(0, dr)), slice(max(0, -dc), w - max(0, dc)))
            q = (slice(None), slice(max(0, dr), h - max(0, -dr)), slice(max(0, dc), w - max(0, -dc)))
            rhs[p] += weight * kept[q]
            diagonal[p[1:]] += weight
            if dr * w + dc < 0:  # the lower triangle: q comes first
                both = sub[p] & sub[q]
                j = number[q][both]
                band[number[p][both] - j, j] = -weight
        band[0] = np.broadcast_to(diagonal, sub.shape)[sub]
        solution = solveh_banded(band, rhs[sub], overwrite_ab=True, overwrite_b=True, lower=True,
                                 check_finite=False)  # fmt: skip
        image, pixel = np.nonzero(sub.reshape(len(group), -1))
        out.reshape(b, c, h * w)[group[image], :, pixel] = torch.as_tensor(
            solution, dtype=out.dtype, device=out.device)
    return out


@lru_cache(maxsize=8)
def stencil(h: int, w: int) -> Tensor:
    """The (H·W, H·W) float64 matrix of neighbour weights w_ij (row i: pixel i's neighbours
    inside the image), pixels numbered row-major."""
    row, col = np.divmod(np.arange(h * w), w)
    matrix = np.zeros((h * w, h * w))
    for dr, dc, weight in NEIGHBOURS:
        inside = (row + dr >= 0) & (row + dr < h) & (col + dc >= 0) & (col + dc < w)
        i = np.flatnonzero(inside)
        matrix[i, i + dr * w + dc] = weight
    return torch.from_numpy(matrix)


@lru_cache(maxsize=8)
def stencil_system(h: int, w: int) -> Tensor:
    """D − W over all H·W pixels (:func:`stencil`; D the diagonal of W's row sums): every
    image's system D − W_UU is its block on the removed pixels U."""
    weights = stencil(h, w)
    return torch.diag(weights.sum(1)) - weights


def _conjugate_gradients(images: Tensor, removed: Tensor) -> Tensor:
    """The ``"cg"`` solver: (D − W_UU) x_U = W_UK x_K for every (image, channel) at once,
    with vectors over all H·W pixels that are zero off U (module docstring)."""
    b, c, h, w = images.shape
    weights, system = stencil(h, w).to(images.device), stencil_system(h, w).to(images.device)  # u masks D − W
    u = removed.reshape(b, 1, h * w).to(torch.float64).expand(b, c, h * w).reshape(b * c, h * w)
    kept = images.to(torch.float64).reshape(b * c, h * w) * (1 - u)
    r = u * (kept @ weights)  # right-hand side W_UK x_K, and the residual at x_U = 0 (W is symmetric)
    x, p = torch.zeros_like(r), r
    rr = torch.linalg.vecdot(r, r)[:, None]
    stop = CG_TOLERANCE**2 * rr
    for _ in range(4 * h * w):  # at most H·W steps in exact arithmetic; a margin for rounding
        active = rr > stop  # frozen systems take α = β = 0: x and r stay, p = r
        if not bool(active.any()):
            break
        ap = u * (p @ system)  # (D − W_UU) p on U, as p is zero off U
        alpha = torch.where(active, rr / torch.linalg.vecdot(p, ap)[:, None], 0.0)
        x, r = torch.addcmul(x, alpha, p), torch.addcmul(r, alpha, ap, value=-1)
        rn = torch.linalg.vecdot(r, r)[:, None]
        p, rr = torch.addcmul(r, torch.where(active, rn / rr, 0.0), p), rn
    else:
        return linear_imputation(images, removed, solver="lu")  # not reached for SPD systems; LU is exact
    return (kept + x).reshape(b, c, h, w).to(images.dtype)


@lru_cache(maxsize=8)
def grid_green(h: int, w: int) -> Tensor:
    """G = (D − W + 11ᵀ/F)⁻¹ over all F = H·W pixels (:func:`stencil_system`), float64,
    row-major contiguous: D − W is the grid's weighted Laplacian (D − W)1 = 0, and adding
    11ᵀ/F makes it invertible without changing it on vectors that sum to zero. So for c
    with 1ᵀc = 0, z = Gc + α1 has (D − W)z = c: z is harmonic wherever c is zero, which
    :func:`_kept_side` uses to impute from the kept pixels."""
    f = h * w
    return torch.linalg.inv(stencil_system(h, w) + 1.0 / f).contiguous()


def _leading_block_solves(matrix: Tensor, rhs: Tensor, sizes: Tensor) -> Tensor:
    """(B, k, R): column r of ``rhs`` (B, k, R) solved with the leading (s_r, s_r) block of
    the symmetric positive definite ``matrix`` (B, k, k), s_r = ``sizes[r]``, and zero
    past s_r. One Cholesky factor: a leading block's factor is the factor's leading block,
    forward substitution never reads past row s_r, and back substitution starting from
    zeros there returns zeros there."""
    inside = (torch.arange(matrix.shape[-1], device=matrix.device)[:, None] < sizes[None, :]).to(matrix.dtype)
    factor = torch.linalg.cholesky(matrix)
    half = torch.linalg.solve_triangular(factor, rhs * inside, upper=False) * inside
    return torch.linalg.solve_triangular(factor.mT, half, upper=True) * inside


def _rows_and_block(matrix: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """``matrix`` (F, F)'s rows at ``index`` (B, k), shape (B, k, F), and its (B, k, k)
    blocks at rows and columns ``index``."""
    b, k = index.shape
    rows = matrix.index_select(0, index.reshape(-1)).view(b, k, -1)
    return rows, torch.gather(rows, 2, index[:, None, :].expand(b, k, k))


def _removed_side(x: Tensor, position: Tensor, order: Tensor, counts: Tensor, h: int, w: int) -> Tensor:
    """(B, G, C, F): :func:`nested_imputation` for counts k_g, solved for the removed pixels
    U_g = the first k_g of ``order``: one Cholesky factor of the leading (k, k) block of
    P(D − W)Pᵀ, k = max k_g, per image; right-hand sides W_UK x_K = −((D − W) x_K)_U, as
    x_K is zero on U."""
    b, c, f = x.shape
    kept = x[:, None] * (position[:, None, None, :] >= counts[None, :, None, None])  # (B, G, C, F)
    k = int(counts.max())
    if k == 0:
        return kept
    first = order[:, :k]
    rows, block = _rows_and_block(stencil_system(h, w).to(x.device), first)
    rhs = -(rows @ kept.reshape(b, -1, f).mT)  # (B, k, G·C)
    solution = _leading_block_solves(block, rhs, counts.repeat_interleave(c))
    return kept.scatter_add(3, first[:, None, None, :].expand(b, len(counts), c, k),
                            solution.mT.reshape(b, len(counts), c, k))  # fmt: skip


def _kept_side(x: Tensor, position: Tensor, order: Tensor, counts: Tensor, h: int, w: int) -> Tensor:
    """(B, G, C, F): :func:`nested_imputation` for counts k_g, solved for the s_g = F − k_g
    kept pixels K_g = the last s_g of ``order``: the imputed image is z = G_{·K} c + α1 with
    G = :func:`grid_green`, where G_KK c + α1 = x_K and 1ᵀc = 0 (so z = x on K and z is
    harmonic on U: the removed side's system). With M = G_KK, c = M⁻¹x_K − αM⁻¹1 and
    α = 1ᵀM⁻¹x_K / 1ᵀM⁻¹1; the K_g are leading sets of the reversed order, so one
    Cholesky factor of the leading (s, s) block of M, s = max s_g, serves every g."""
    b, c, f = x.shape
    g, sizes = len(counts), f - counts
    s = int(sizes.max())
    last = order.flip(1)[:, :s]  # the kept pixels of the smallest count, last removed first
    rows, block = _rows_and_block(grid_green(h, w).to(x.device), last)
    rhs = torch.cat([torch.gather(x, 2, last[:, None, :].expand(b, c, s)), x.new_ones(b, 1, s)], 1)  # (x_K, 1)
    solution = _leading_block_solves(block, rhs.mT.repeat(1, 1, g), sizes.repeat_interleave(c + 1))
    solution = solution.reshape(b, s, g, c + 1)
    ones = solution[..., c:]
    alpha = solution[..., :c].sum(1, keepdim=True) / ones.sum(1, keepdim=True)  # (B, 1, G, C)
    coefficients = (solution[..., :c] - alpha * ones).reshape(b, s, g * c)
    z = (coefficients.mT @ rows).view(b, g, c, f) + alpha.view(b, g, c, 1)
    return torch.where(position[:, None, None, :] < counts[None, :, None, None], z, x[:, None])


def nested_imputation(images: Tensor, position: Tensor, counts: Tensor, *, kept_side: bool = True) -> Tensor:
    """(B, G, C, H, W): image b of ``images`` (B, C, H, W) with its pixels p whose
    ``position[b, p]`` (each row a permutation of 0 … H·W − 1: the pixel's place in the
    removal order, row-major pixel numbers) is below ``counts[g]`` removed and imputed as
    :func:`linear_imputation` does (no noise), for each g; every count below H·W. Up to
    :data:`NESTED_MAX_PIXELS` pixels in float64 by one Cholesky factor per image for the
    counts k_g ≤ F/2 (:func:`_removed_side`, k_g unknowns) and one for the others
    (:func:`_kept_side`, F − k_g < F/2 unknowns), so no system exceeds F/2 unknowns (module
    docstring); above, by :func:`linear_imputation` per mask. ``kept_side=False`` solves
    every count from the removed side (one factor of max k_g unknowns: the same results,
    slower for counts near F; bench/faithfulness_speed.py times both)."""
    if images.dim() != 4:
        raise InputShapeError(f"nested imputation needs images (B, C, H, W); got {tuple(images.shape)}.")
    b, c, h, w = images.shape
    f = h * w
    if position.shape != (b, f) or counts.dim() != 1:
        raise InputShapeError(
            f"nested imputation needs images (B, C, H, W), positions (B, H·W) and counts (G,); got "
            f"{tuple(images.shape)}, {tuple(position.shape)} and {tuple(counts.shape)}."
        )
    if bool((counts >= f).any()) or bool((counts < 0).any()):
        raise InputShapeError(
            "nested imputation needs between 0 and H·W − 1 removed pixels per image: an image with every pixel "
            "removed has no kept neighbour to impute from; remove a fraction of the pixels below 1."
        )
    device, g = images.device, len(counts)
    position, counts = position.to(device), counts.to(device)
    places = torch.arange(f, device=device)
    order = torch.full_like(position, -1).scatter_(1, position.clamp(0, f - 1), places.expand(b, f))
    if bool((order < 0).any()) or bool((position < 0).any()) or bool((position >= f).any()):
        raise InputShapeError(
            "each row of the positions must hold every place 0 … H·W − 1 once (a permutation of the pixels)."
        )
    if f > NESTED_MAX_PIXELS:
        removed = position[:, None, :] < counts[None, :, None]  # (B, G, F)
        flat = images.detach()[:, None].expand(b, g, c, h, w).reshape(b * g, c, h, w)
        return linear_imputation(flat, removed.reshape(b * g, h, w)).reshape(b, g, c, h, w)
    if g == 0:
        return images.new_zeros(b, 0, c, h, w)
    x = images.detach().to(torch.float64).reshape(b, c, f)
    low = 2 * counts <= f if kept_side else torch.ones_like(counts, dtype=torch.bool)
    sides = [(side, counts[where]) for side, where in ((_removed_side, low), (_kept_side, ~low)) if bool(where.any())]
    filled = torch.cat([side(x, position, order, k, h, w) for side, k in sides], 1)
    if not bool((low[:-1] >= low[1:]).all()):  # a count above F/2 before one below: put back in order
        filled = filled[:, torch.argsort(torch.cat([torch.nonzero(low), torch.nonzero(~low)]).squeeze(1))]
    return filled.reshape(b, g, c, h, w).to(images.dtype)


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
