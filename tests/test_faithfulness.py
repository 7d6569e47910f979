"""Faithfulness metrics: deletion/insertion (Petsiuk et al. 2018 §4.1), ROAD (Rong et al.
2022) with noisy linear imputation, and infidelity (Yeh et al. 2019 §2). Every
expected value is derived independently: by hand, by a per-item loop written from the
papers' definitions, or by Captum/Quantus on the same inputs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from attrbench.checks import faithfulness as fa
from attrbench.checks.imputation import linear_imputation, noisy_linear_imputation
from attrbench.errors import InputShapeError, InvalidOptionError, UnsupportedModelError
from attrbench.functional import seeded_generator


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


class TwoClassLinear(nn.Module):
    """Logits (0, w·x): the softmax probability of class 1 is σ(w·x)."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.tensor(w)

    def forward(self, x):
        z = x.reshape(len(x), -1) @ self.w
        return torch.stack([torch.zeros_like(z), z], 1)


def random_mlp(d, classes=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 12), nn.Tanh(), nn.Linear(12, classes)).eval()


def random_cnn(c=2, h=5, w=6, classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * h * w, classes)).eval()


# -- deletion / insertion: by hand ---------------------------------------------------------------------


def test_deletion_insertion_by_hand_on_a_linear_model():
    """w = (3, −1, 2), x = (1, 1, 1), zero baseline, A = w ⊙ x: the order is features 0, 2, 1.
    Deletion leaves w·x = 4, 1, −1, 0 after k = 0..3 removals; insertion builds 0, 3, 5, 4.
    The probability of class 1 is σ(w·x) and the AUC the trapezoid over k/3 (worked by hand)."""
    model = TwoClassLinear([3.0, -1.0, 2.0])
    x = torch.ones(1, 3)
    a = torch.tensor([[3.0, -1.0, 2.0]])
    r = fa.deletion_insertion(model, x, 1, a, 0.0)
    deletion = [sigmoid(z) for z in (4, 1, -1, 0)]
    insertion = [sigmoid(z) for z in (0, 3, 5, 4)]
    trap = lambda ys: sum((ys[i] + ys[i + 1]) / 2 for i in range(3)) / 3  # noqa: E731
    assert r.counts.tolist() == [0, 1, 2, 3]
    assert r.deletion[0].tolist() == pytest.approx(deletion, abs=1e-6)
    assert r.insertion[0].tolist() == pytest.approx(insertion, abs=1e-6)
    assert float(r.deletion_auc[0]) == pytest.approx(trap(deletion), abs=1e-6)
    assert float(r.insertion_auc[0]) == pytest.approx(trap(insertion), abs=1e-6)


def test_steps_round_half_up_and_ties_take_the_lower_index():
    """F = 3, S = 2: k_j = round(j·3/2) = 0, 2 (1.5 rounds up), 3. Equal attributions: the
    stable order removes feature 0 before 1 before 2, so with w = (1, 10, 100) deletion goes
    111 → 100 (features 0 and 1 gone) → 0."""
    assert fa.step_counts(3, 2).tolist() == [0, 2, 3]
    assert fa.step_counts(10, 4).tolist() == [0, 3, 5, 8, 10]  # 2.5 → 3, 7.5 → 8
    model = TwoClassLinear([0.01, 0.1, 1.0])
    r = fa.deletion_insertion(model, torch.ones(1, 3), 1, torch.zeros(1, 3), steps=2)
    assert r.deletion[0].tolist() == pytest.approx([sigmoid(1.11), sigmoid(1.0), sigmoid(0.0)], abs=1e-6)
    assert r.fractions.tolist() == pytest.approx([0, 2 / 3, 1])


# -- deletion / insertion: a loop over samples and steps -------------------------------------------------


def loop_deletion_insertion(model, x, target, a, baseline, steps=None):
    """The definition, one sample and one step at a time (features: pixels of a (C, H, W)
    input, attributions summed over channels; Python's sorted is stable)."""
    out = []
    for i in range(len(x)):
        score = a[i].sum(0).flatten() if x.dim() == 4 else a[i].flatten()
        f = len(score)
        order = sorted(range(f), key=lambda j: -float(score[j]))
        s = f if steps is None else steps
        ks = [math.floor(j * f / s + 0.5) for j in range(s + 1)]
        curves = []
        for inserting in (False, True):
            ys = []
            for k in ks:
                removed = torch.zeros(f, dtype=torch.bool)
                removed[order[:k]] = True
                m = removed.reshape(x.shape[2:]) if x.dim() == 4 else removed
                src = torch.where(m, x[i], baseline[i]) if inserting else torch.where(m, baseline[i], x[i])
                with torch.no_grad():
                    ys.append(float(model(src[None]).softmax(1)[0, target[i]]))
            area = sum((ys[j] + ys[j + 1]) / 2 * (ks[j + 1] - ks[j]) / f for j in range(len(ks) - 1))
            curves.append((ys, area))
        out.append(curves)
    return out


@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("steps", [None, 7])
def test_deletion_insertion_matches_a_loop(image, steps):
    """Random models (an MLP on flat inputs, a CNN on 2-channel images), random
    attributions with ties, a random baseline; the batched stream at batch size 13 equals
    the per-sample, per-step loop above."""
    g = gen(1)
    if image:
        x, model = torch.randn(5, 2, 5, 6, generator=g), random_cnn()
    else:
        x, model = torch.randn(5, 20, generator=g), random_mlp(20)
    a = torch.randint(-3, 4, x.shape, generator=g).float()
    b = torch.randn(x.shape, generator=g)
    t = torch.tensor([0, 1, 2, 1, 0])
    r = fa.deletion_insertion(model, x, t, a, b, steps=steps, batch_size=13)
    ref = loop_deletion_insertion(model, x, t, a, b, steps)
    for i, ((dys, dauc), (iys, iauc)) in enumerate(ref):
        assert r.deletion[i].tolist() == pytest.approx(dys, abs=1e-6)
        assert r.insertion[i].tolist() == pytest.approx(iys, abs=1e-6)
        assert float(r.deletion_auc[i]) == pytest.approx(dauc, abs=1e-6)
        assert float(r.insertion_auc[i]) == pytest.approx(iauc, abs=1e-6)


def test_deletion_curve_matches_quantus_pixel_flipping():
    """Quantus' PixelFlipping (features_in_step=1, perturb_baseline="black", normalise and
    abs off) records the target probability after each single-pixel deletion in the order of
    the attributions (distinct here, so argsort and the stable sort agree): our deletion
    curve from k = 1 on, with Quantus' "black" — each sample's minimum, not 0 — as
    baseline. Its AUC differs by design (np.trapz with dx = 1 over the F points, no k = 0
    point), so only the curves are compared."""
    quantus = pytest.importorskip("quantus")
    g = gen(2)
    model = random_cnn(c=1, h=4, w=4, classes=3)
    x = torch.rand(3, 1, 4, 4, generator=g)
    a = torch.randn(x.shape, generator=g)
    t = torch.tensor([0, 2, 1])
    r = fa.deletion_insertion(model, x, t, a, x.flatten(1).amin(1).reshape(-1, 1, 1, 1))
    metric = quantus.PixelFlipping(features_in_step=1, perturb_baseline="black", normalise=False, abs=False,
                                   disable_warnings=True)  # fmt: skip
    curves = metric(model=model, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), device="cpu",
                    softmax=True, channel_first=True)  # fmt: skip
    assert np.asarray(curves) == pytest.approx(r.deletion[:, 1:].numpy(), abs=1e-5)


def test_deletion_insertion_errors():
    model = TwoClassLinear([1.0, 2.0])
    with pytest.raises(InputShapeError, match="attributions have shape"):
        fa.deletion_insertion(model, torch.ones(2, 2), 1, torch.ones(2, 3))
    with pytest.raises(InvalidOptionError, match="steps=0"):
        fa.deletion_insertion(model, torch.ones(2, 2), 1, torch.ones(2, 2), steps=0)
    one = nn.Linear(2, 1)
    with pytest.raises(UnsupportedModelError, match="C ≥ 2"):
        fa.deletion_insertion(one, torch.ones(2, 2), 0, torch.ones(2, 2))


# -- noisy linear imputation --------------------------------------------------------------------------


def test_imputation_is_exact_on_affine_and_constant_images():
    """The weighted mean of the eight neighbours (weights symmetric about the pixel) of an
    affine image a + b·r + c·col is its value at the pixel, so removed pixels away from the
    border — however many, and coupled — are imputed exactly. A constant image is
    reproduced whatever the mask (each equation's weights sum to its diagonal)."""
    h, w = 7, 8
    r, c = torch.arange(h)[:, None].double(), torch.arange(w)[None].double()
    img = torch.stack([0.5 + 0.3 * r - 0.2 * c, -1.0 + 0.1 * r + 0.4 * c])[None].float()
    removed = torch.zeros(1, h, w, dtype=torch.bool)
    removed[0, 1:6, 1:7] = True
    corrupted = img.masked_fill(removed[:, None], 99.0)
    assert linear_imputation(corrupted, removed) == pytest.approx(img, abs=1e-5)
    removed = torch.rand(1, h, w, generator=gen(3)) < 0.8
    removed[0, 0, 0] = False
    const = torch.full((1, 2, h, w), 3.0)
    assert linear_imputation(const.masked_fill(removed[:, None], -5.0), removed) == pytest.approx(const, abs=1e-5)


def test_imputation_of_one_pixel_by_hand():
    """One removed interior pixel, neighbours known: (1/6)·Σ direct + (1/12)·Σ diagonal.
    One removed corner pixel: its three neighbours with weights 1/6, 1/6, 1/12, divided by
    their sum 5/12 (the weights of neighbours outside the image are dropped)."""
    img = torch.arange(16.0).reshape(1, 1, 4, 4)
    removed = torch.zeros(1, 4, 4, dtype=torch.bool)
    removed[0, 1, 2] = True
    direct = img[0, 0, 0, 2] + img[0, 0, 2, 2] + img[0, 0, 1, 1] + img[0, 0, 1, 3]
    diagonal = img[0, 0, 0, 1] + img[0, 0, 0, 3] + img[0, 0, 2, 1] + img[0, 0, 2, 3]
    assert float(linear_imputation(img, removed)[0, 0, 1, 2]) == pytest.approx(float(direct / 6 + diagonal / 12))
    removed = torch.zeros(1, 4, 4, dtype=torch.bool)
    removed[0, 0, 0] = True
    expected = (float(img[0, 0, 0, 1]) / 6 + float(img[0, 0, 1, 0]) / 6 + float(img[0, 0, 1, 1]) / 12) / (5 / 12)
    assert float(linear_imputation(img, removed)[0, 0, 0, 0]) == pytest.approx(expected)


def dense_imputation(img, removed):
    """One image at a time: a dense system with one equation per removed pixel, written
    pixel by pixel (W_i x_i − Σ_{removed j} w_ij x_j = Σ_{kept j} w_ij x_j)."""
    out = img.clone().double()
    for i in range(len(img)):
        c, h, w = img.shape[1:]
        unknown = [(r, q) for r in range(h) for q in range(w) if removed[i, r, q]]
        index = {p: n for n, p in enumerate(unknown)}
        a = np.zeros((len(unknown), len(unknown)))
        b = np.zeros((len(unknown), c))
        for n, (r, q) in enumerate(unknown):
            for dr, dq, wt in fa_neighbours():
                rr, qq = r + dr, q + dq
                if 0 <= rr < h and 0 <= qq < w:
                    a[n, n] += wt
                    if (rr, qq) in index:
                        a[n, index[rr, qq]] -= wt
                    else:
                        b[n] += wt * img[i, :, rr, qq].double().numpy()
        z = np.linalg.solve(a, b)
        for n, (r, q) in enumerate(unknown):
            out[i, :, r, q] = torch.from_numpy(z[n])
    return out.float()


def fa_neighbours():
    return [(dr, dq, 1 / 6 if dr == 0 or dq == 0 else 1 / 12) for dr in (-1, 0, 1) for dq in (-1, 0, 1) if dr or dq]


@pytest.mark.parametrize("solver", ["cg", "banded", "lu"])
def test_batched_imputation_matches_per_image_dense_solves_and_quantus(solver):
    """Random images and masks: the three batched solvers (conjugate gradients, banded
    Cholesky, block-diagonal sparse LU) equal a dense solve per image and Quantus' noisy_linear_imputation (Rong et
    al.'s code) with its noise off."""
    g = gen(4)
    img = torch.randn(3, 2, 5, 6, generator=g)
    removed = torch.rand(3, 5, 6, generator=g) < 0.6
    ours = linear_imputation(img, removed, solver=solver)
    assert ours == pytest.approx(dense_imputation(img, removed), abs=1e-5)
    assert ours[~removed[:, None].expand_as(img)].tolist() == img[~removed[:, None].expand_as(img)].tolist()
    from_quantus = pytest.importorskip("quantus.functions.perturb_func")
    for i in range(3):
        idx = np.flatnonzero(removed[i].numpy().reshape(-1))
        theirs = from_quantus.noisy_linear_imputation(img[i].numpy(), idx, noise=0.0)
        assert ours[i].numpy() == pytest.approx(theirs, abs=1e-5)


def test_conjugate_gradients_equal_the_sparse_lu_solve_in_float64():
    """The two solvers of the same SPD systems in float64 (LU is exact up to rounding): CG
    stops at a relative residual of 1e-10, so the solutions agree to 1e-8 of the image's
    range (a margin of 100 for the systems' condition number); masks from 1 to H·W − 1
    removed pixels, one image per row of the batch. Each CG system is frozen once it
    converges, so an image alone takes the same steps as in the batch (equal up to the
    matrix product's rounding, which may block a batch differently)."""
    g = gen(11)
    img = torch.randn(40, 2, 8, 8, generator=g, dtype=torch.float64)
    removed = torch.rand(40, 8, 8, generator=g) < torch.linspace(0.02, 0.98, 40)[:, None, None]
    removed[:, 0, 0], removed[0, 4, 4], removed[-1] = False, True, True
    removed[-1, 7, 7] = False
    cg, lu = linear_imputation(img, removed, solver="cg"), linear_imputation(img, removed, solver="lu")
    assert float((cg - lu).abs().max()) <= 1e-8 * float(img.abs().max())
    alone = linear_imputation(img[5:6], removed[5:6], solver="cg")
    assert float((alone - cg[5:6]).abs().max()) <= 1e-12 * float(img.abs().max())
    assert torch.equal(linear_imputation(img, removed), cg)  # 64 pixels: the default is CG
    with pytest.raises(InvalidOptionError, match="solver"):
        linear_imputation(img, removed, solver="qr")


def test_conjugate_gradients_that_never_meet_their_tolerance_fall_back_to_lu(monkeypatch):
    """With a tolerance of 0 the CG loop runs out of steps (4·H·W) and the LU solves the
    systems: the result is still the LU's (up to float64 rounding)."""
    from attrbench.checks import imputation

    monkeypatch.setattr(imputation, "CG_TOLERANCE", 0.0)
    g = gen(12)
    img = torch.randn(3, 1, 3, 4, generator=g, dtype=torch.float64)
    removed = torch.rand(3, 3, 4, generator=g) < 0.5
    removed[:, 0, 0] = False
    cg, lu = linear_imputation(img, removed, solver="cg"), linear_imputation(img, removed, solver="lu")
    assert float((cg - lu).abs().max()) <= 1e-12 * float(img.abs().max())


def test_banded_solver_equals_the_sparse_lu_on_large_grids():
    """The banded Cholesky (the default above 256 pixels) against the general sparse LU on
    the same systems in float64, 28×28 and 3×32×32 images with 1 to H·W − 1 pixels removed
    (random masks, and a solid block, the widest band): equal to 1e-10 of the range, as two
    direct factorisations of one SPD matrix; the kept pixels untouched."""
    g = gen(13)
    for c, h, w in ((1, 28, 28), (3, 32, 32)):
        img = torch.rand(24, c, h, w, generator=g, dtype=torch.float64)
        removed = torch.rand(24, h, w, generator=g) < torch.linspace(0.0, 0.99, 24)[:, None, None]
        removed[0, 3, 4], removed[-1], removed[-1, 0, 0] = True, True, False
        removed[1] = False
        removed[1, 5:20, 2:] = True
        banded, lu = linear_imputation(img, removed, solver="banded"), linear_imputation(img, removed, solver="lu")
        assert float((banded - lu).abs().max()) <= 1e-10
        assert torch.equal(linear_imputation(img, removed), banded)  # above 256 pixels: the default
        keep = ~removed[:, None].expand_as(img)
        assert torch.equal(banded[keep], img[keep])


def test_bandwidths_are_the_widest_neighbour_gap_in_removed_pixel_numbers():
    """The half-bandwidth of each image's system, against a brute force over every pair of
    removed 8-neighbours (their positions in the row-major list of removed pixels), and the
    groups of :func:`bandwidth_groups` (each image in exactly one, widths within a factor 2)."""
    from attrbench.checks.imputation import bandwidth_groups, bandwidths

    mask = (torch.rand(30, 7, 9, generator=gen(14)) < torch.linspace(0, 1, 30)[:, None, None]).numpy()
    expected = []
    for m in mask:
        where = list(zip(*np.nonzero(m)))
        position = {p: k for k, p in enumerate(where)}
        gaps = [abs(position[p] - position[q]) for p in where for q in where
                if p != q and max(abs(p[0] - q[0]), abs(p[1] - q[1])) == 1]  # fmt: skip
        expected.append(max(gaps, default=0))
    widths = bandwidths(mask)
    assert widths.tolist() == expected
    groups = bandwidth_groups(widths)
    assert sorted(np.concatenate(groups).tolist()) == list(range(30))
    for group in groups:
        assert widths[group].max() <= 2 * max(widths[group].min(), 1)


def test_noise_only_on_removed_pixels_and_seeded():
    img = torch.zeros(2, 1, 6, 6)
    removed = torch.rand(2, 6, 6, generator=gen(5)) < 0.5
    a = noisy_linear_imputation(img, removed, 0.5, gen(7))
    assert a[~removed[:, None]].abs().max() == 0 and a[removed[:, None]].abs().min() > 0
    assert torch.equal(a, noisy_linear_imputation(img, removed, 0.5, gen(7)))
    with pytest.raises(InputShapeError, match="every pixel removed"):
        linear_imputation(img, torch.ones(2, 6, 6, dtype=torch.bool))


# -- ROAD ----------------------------------------------------------------------------------------------


def loop_road(model, x, target, a, fractions):
    """ROAD without noise, one sample, order and fraction at a time (dense imputation)."""
    morf, lerf = [], []
    for i in range(len(x)):
        score = a[i].sum(0).flatten()
        f = len(score)
        order = sorted(range(f), key=lambda j: -float(score[j]))
        rows = []
        for ranked in (order, order[::-1]):
            ys = []
            for p in fractions:
                removed = torch.zeros(f, dtype=torch.bool)
                removed[ranked[: math.floor(p * f + 0.5)]] = True
                filled = dense_imputation(x[i : i + 1], removed.reshape(1, *x.shape[2:]))
                with torch.no_grad():
                    ys.append(float(model(filled).softmax(1)[0, target[i]]))
            rows.append(ys)
        morf.append(rows[0])
        lerf.append(rows[1])
    return morf, lerf


def test_road_matches_a_loop_and_accepts_flat_images():
    """Noise off: the batched ROAD equals the loop on a random CNN; the same images
    flattened for an MLP-like model (image_shape) give the same numbers as the images."""
    g = gen(6)
    x, model = torch.randn(4, 2, 5, 6, generator=g), random_cnn()
    a = torch.randn(x.shape, generator=g)
    t = torch.tensor([0, 1, 2, 0])
    fractions = (0.0, 0.2, 0.5, 0.9)
    r = fa.road(model, x, t, a, fractions=fractions, noise_std=0.0, batch_size=5)
    morf, lerf = loop_road(model, x, t, a, fractions)
    assert r.morf_probability.numpy() == pytest.approx(np.array(morf), abs=1e-5)
    assert r.lerf_probability.numpy() == pytest.approx(np.array(lerf), abs=1e-5)
    with torch.no_grad():
        correct = (model(x).argmax(1) == t).float()
    assert r.morf_correct[:, 0].tolist() == correct.tolist() == r.lerf_correct[:, 0].tolist()  # p = 0: x itself
    flat_model = nn.Sequential(nn.Unflatten(1, (2, 5, 6)), model)
    flat = fa.road(flat_model, x.flatten(1), t, a.flatten(1), fractions=fractions, noise_std=0.0,
                   image_shape=(2, 5, 6))  # fmt: skip
    assert flat.morf_probability.numpy() == pytest.approx(r.morf_probability.numpy(), abs=1e-6)


def test_road_noise_is_seeded_and_independent_of_the_batch_size():
    g = gen(8)
    x, model = torch.randn(3, 2, 5, 6, generator=g), random_cnn()
    a = torch.randn(x.shape, generator=g)
    one = fa.road(model, x, 0, a, noise_std=0.1, generator=gen(9), batch_size=4)
    two = fa.road(model, x, 0, a, noise_std=0.1, generator=gen(9), batch_size=1000)
    assert one.morf_probability == pytest.approx(two.morf_probability, abs=1e-6)
    quiet = fa.road(model, x, 0, a, noise_std=0.0)
    assert not torch.allclose(one.morf_probability, quiet.morf_probability)


def test_road_errors():
    model = random_mlp(30)
    with pytest.raises(InputShapeError, match="needs images"):
        fa.road(model, torch.ones(2, 30), 0, torch.ones(2, 30))
    with pytest.raises(InputShapeError, match="image_shape"):
        fa.road(model, torch.ones(2, 30), 0, torch.ones(2, 30), image_shape=(4, 4))
    with pytest.raises(InvalidOptionError, match="fractions"):
        fa.road(random_cnn(), torch.ones(2, 2, 5, 6), 0, torch.ones(2, 2, 5, 6), fractions=(0.5, 1.0))


# -- infidelity ---------------------------------------------------------------------------------------


def test_infidelity_of_the_gradient_of_a_linear_model_is_zero():
    """F(x) = w·x + c: F(x) − F(x − I) = w·I = Iᵀw exactly, so A = w has infidelity 0 for
    any perturbations (Yeh et al. §2); A = 2w gives mean((w·I)²), and normalising (β = ½)
    brings it back to 0."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    w = model.weight[1].detach().expand(4, 5)
    i = torch.randn(4, 7, 5, dtype=torch.float64, generator=gen(1).manual_seed(1))
    assert fa.infidelity(model, x, 1, w, i).abs().max() < 1e-20
    doubled = fa.infidelity(model, x, 1, 2 * w, i)
    assert doubled == pytest.approx(((i * w[:, None]).sum(-1) ** 2).mean(1), rel=1e-10)
    assert fa.infidelity(model, x, 1, 2 * w, i, normalize=True).abs().max() < 1e-20


def loop_infidelity(model, x, target, a, perts, normalize):
    out = []
    for n in range(len(x)):
        dots, drops = [], []
        for p in perts[n]:
            with torch.no_grad():
                drop = float(model(x[n : n + 1])[0, target[n]] - model((x[n] - p)[None])[0, target[n]])
            dots.append(float((p * a[n]).sum()))
            drops.append(drop)
        beta = 1.0
        if normalize:
            beta = sum(u * v for u, v in zip(dots, drops)) / sum(u * u for u in dots)
        out.append(sum((beta * u - v) ** 2 for u, v in zip(dots, drops)) / len(dots))
    return out


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_matches_a_loop_and_captum(normalize):
    """A random CNN: the chunked version equals a loop over samples and perturbations, and
    Captum's infidelity given the same perturbations (a perturb_func returning the fixed I
    and x − I for its repeat_interleave'd batch)."""
    g = gen(10)
    x, model = torch.randn(3, 2, 5, 6, generator=g), random_cnn()
    a = torch.randn(x.shape, generator=g)
    t = torch.tensor([2, 0, 1])
    perts = 0.3 * torch.randn(3, 6, 2, 5, 6, generator=g)
    ours = fa.infidelity(model, x, t, a, perts, normalize=normalize, batch_size=4)
    assert ours.tolist() == pytest.approx(loop_infidelity(model, x, t, a, perts, normalize), rel=1e-4, abs=1e-6)
    captum = pytest.importorskip("captum.metrics")

    def perturb(inputs):
        fixed = perts.reshape(-1, *x.shape[1:])
        return fixed, inputs - fixed

    theirs = captum.infidelity(model, perturb, x, a, target=t, n_perturb_samples=6, normalize=normalize)
    assert ours.tolist() == pytest.approx(theirs.double().tolist(), rel=1e-4, abs=1e-6)


def test_normalized_infidelity_is_the_minimum_over_scales():
    """Yeh et al. §2: β* minimises E[(β IᵀA − ΔF)²]; a grid of scales never does better."""
    g = gen(11)
    x, model = torch.randn(2, 12, generator=g), random_mlp(12)
    a, perts = torch.randn(2, 12, generator=g), torch.randn(2, 9, 12, generator=g)
    best = fa.infidelity(model, x, 0, a, perts, normalize=True)
    for scale in np.linspace(-3, 3, 61):
        assert (best <= fa.infidelity(model, x, 0, float(scale) * a, perts) + 1e-9).all()


def test_infidelity_errors():
    model = random_mlp(4)
    with pytest.raises(InputShapeError, match="perturbations have shape"):
        fa.infidelity(model, torch.ones(2, 4), 0, torch.ones(2, 4), torch.ones(2, 4))


# -- the suite's checks --------------------------------------------------------------------------------


def quick_ctx(seed=0, test_seed=0):
    from attrbench.checks.context import CheckContext
    from attrbench.scales import get_scale

    return CheckContext(scale=get_scale("quick"), generator=gen(test_seed), seed=seed)


@pytest.mark.parametrize(
    "check, subject",
    [(fa.deletion_insertion_auc, "analytic/linear"), (fa.road_accuracy, "digits/mlp_tanh"),
     (fa.road_accuracy, "digits/cnn_tanh"), (fa.infidelity_normalized, "tabular/breast_cancer_mlp")],
    ids=lambda v: getattr(v, "__name__", v),
)  # fmt: skip
def test_checks_keep_one_value_per_sample_and_their_mean(check, subject):
    """Each row's value is the mean of its per-sample values (``scale.faithfulness_samples``
    of them, 8 at quick), which the leaderboard bootstraps; they survive the JSON round trip."""
    from attrbench import methods, subjects
    from attrbench.leaderboard.intervals import aggregate
    from attrbench.results import json_samples

    outcome = check(methods.get("input_x_gradient"), subjects.get(subject), quick_ctx())
    assert outcome.aggregate == "mean" and len(outcome.samples) == 8
    assert aggregate(json_samples(outcome.samples), "mean") == pytest.approx(outcome.value, rel=1e-12)


def test_infidelity_check_is_zero_for_the_gradient_of_the_linear_subject():
    """analytic/linear is affine, so the gradient's infidelity is 0 up to float32 rounding of
    the logits (F(x) − F(x − I) = wᵀI, Yeh et al. §2): logits of order 1 differ from their
    exact values by ~1e-7, so the squared residual is ~1e-14, far below 1e-10. Gradient ×
    Input's IᵀA = Σ wᵢxᵢIᵢ is not proportional to wᵀI for Gaussian I, so it is not 0."""
    from attrbench import methods, subjects

    s = subjects.get("analytic/linear")
    grad = fa.infidelity_normalized(methods.get("gradient"), s, quick_ctx())
    gxi = fa.infidelity_normalized(methods.get("input_x_gradient"), s, quick_ctx())
    assert grad.value < 1e-10 and gxi.value > 1e-3


def test_every_method_meets_the_same_draws_and_rows_are_reproducible():
    """The perturbations and the ROAD noise come from (run seed, subject) alone, not from
    the test's generator, so two tests (methods) of one subject see the same draws; a
    different run seed draws others."""
    from attrbench import methods, subjects

    s = subjects.get("digits/cnn_relu")
    one = seeded_generator(quick_ctx(seed=0, test_seed=1).seed, s.name, "infidelity")
    two = seeded_generator(quick_ctx(seed=0, test_seed=2).seed, s.name, "infidelity")
    other = seeded_generator(quick_ctx(seed=1, test_seed=1).seed, s.name, "infidelity")
    draws = [torch.randn(5, generator=g) for g in (one, two, other)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    a = fa.road_accuracy(methods.get("saliency"), s, quick_ctx(test_seed=1))
    b = fa.road_accuracy(methods.get("saliency"), s, quick_ctx(test_seed=2))
    assert a.samples == b.samples and a.details == b.details


def test_road_check_refuses_inputs_without_a_pixel_grid():
    from attrbench import methods, subjects

    with pytest.raises(UnsupportedModelError, match="no pixel grid"):
        fa.road_accuracy(methods.get("saliency"), subjects.get("tabular/breast_cancer_mlp"), quick_ctx())


@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_docs_scale_table_is_the_presets(scale):
    """docs/suites.md's faithfulness scale table is attrbench/scales.py's presets."""
    from pathlib import Path

    from attrbench.scales import SCALES

    text = (Path(__file__).resolve().parents[1] / "docs" / "suites.md").read_text(encoding="utf-8")
    lines = text[text.index("| scale | samples | steps S | perturbations |") :].splitlines()[2:5]
    (row,) = [line.strip("|").split("|") for line in lines if line.startswith(f"| `{scale}`")]
    preset = SCALES[scale]
    samples, steps, perturbations = (cell.strip() for cell in row[1:4])
    assert samples == ("all" if preset.faithfulness_samples is None else str(preset.faithfulness_samples))
    assert steps == ("one per feature" if preset.faithfulness_steps is None else str(preset.faithfulness_steps))
    assert perturbations == str(preset.infidelity_perturbations)


def test_both_curve_files_are_written_and_linked():
    """The suite's curves (deletion/insertion) and more_curves (ROAD) each get a long CSV,
    one row per curve point of each row, and a link on the suite page."""
    import json

    from attrbench.leaderboard import render_curves, render_pages
    from attrbench.results import Record

    def record(check, metric, details):
        return Record(suite="faithfulness", check=check, metric=metric, direction="higher", method="m",
                      subject="s", value=0.5, holds=None, claimed=False, error="",
                      details=json.dumps(details), scale="quick", seed=0)  # fmt: skip

    rows = [
        record("deletion_insertion", "insertion_minus_deletion",
               {"fraction": [0.0, 0.5, 1.0], "removed": [0, 1, 2], "deletion": [0.9, 0.2, 0.1],
                "insertion": [0.1, 0.8, 0.9]}),
        record("road", "road_lerf_minus_morf",
               {"fraction": [0.1, 0.9], "removed": [6, 58], "morf": [0.5, 0.0], "lerf": [1.0, 1.0],
                "morf_probability": [0.4, 0.1], "lerf_probability": [0.9, 0.8]}),
    ]  # fmt: skip
    files = render_curves(rows)
    assert len(files["faithfulness_curves.csv"].splitlines()) == 1 + 3
    road = files["faithfulness_road_curves.csv"].splitlines()
    assert road[0] == "method,subject,fraction,removed,morf,lerf,morf_probability,lerf_probability"
    assert road[1:] == ["m,s,0.1,6,0.5,1.0,0.4,0.9", "m,s,0.9,58,0.0,1.0,0.1,0.8"]
    page = render_pages(rows)["faithfulness.md"]
    assert "(faithfulness_curves.csv)" in page and "(faithfulness_road_curves.csv)" in page


def test_nested_imputation_equals_one_solve_per_mask():
    """ROAD's nested removals (the first k_g pixels of one order per image): the leading
    blocks of one Cholesky factor per image and side — removed pixels for k_g ≤ F/2, kept
    pixels through the grid's Green's function above — give the sparse LU's solution of
    each mask's own system (float64, 1e-10 of the range; tests above tie the LU to a dense
    solve and to Quantus), on a non-square two-channel grid with counts 0 … H·W − 1 of both
    sides interleaved (and every count from the removed side, ``kept_side=False``), and
    above NESTED_MAX_PIXELS (each mask to linear_imputation) the same. By hand: with one
    pixel kept, the only solution is that pixel's value everywhere (a constant satisfies
    every neighbour-mean equation)."""
    from attrbench.checks.imputation import nested_imputation

    g = gen(15)
    for c, h, w in ((2, 5, 7), (1, 17, 16)):
        f = h * w
        img = torch.randn(6, c, h, w, generator=g, dtype=torch.float64)
        order = torch.stack([torch.randperm(f, generator=g) for _ in range(6)])
        counts = torch.tensor([f - 1, 0, f // 2 + 1, 3, f // 2, f - 3, 1])
        position = torch.argsort(order, dim=1)  # pixel p is removed at place position[p]
        got = nested_imputation(img, position, counts)
        assert got.shape == (6, len(counts), c, h, w)
        for i in range(6):
            removed = (position[i][None, :] < counts[:, None]).reshape(len(counts), h, w)
            lu = linear_imputation(img[i : i + 1].expand(len(counts), c, h, w), removed, solver="lu")
            assert float((got[i] - lu).abs().max()) <= 1e-10 * float(img.abs().max())
            assert torch.equal(got[i, 1], img[i])  # nothing removed
            removed_side = nested_imputation(img[i : i + 1], position[i : i + 1], counts, kept_side=False)[0]
            assert float((removed_side - lu).abs().max()) <= 1e-10 * float(img.abs().max())
            last = img[i].reshape(c, f)[:, order[i, -1]]  # the one pixel kept at count F − 1
            assert float((got[i, 0] - last[:, None, None]).abs().max()) <= 1e-10 * float(img.abs().max())
    with pytest.raises(InputShapeError, match="every pixel removed"):
        nested_imputation(img, position, torch.tensor([h * w]))
    with pytest.raises(InputShapeError, match="permutation"):
        nested_imputation(img, position.clamp(max=3), counts)
