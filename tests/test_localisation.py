"""Localisation (attrbench.checks.localisation): relevance mass accuracy (Arras, Osman &
Samek 2022, CLEVR-XAI) on r = Σ_c |A_c| and the pointing game (Zhang et al. 2018), no
tolerance region, ties to the lowest flat index. Every expected value is derived by hand
(the 4×4 cases, worked in each docstring), by a per-pixel Python loop written from the
definitions, or by symmetry (a map of i.i.d. entries puts, in expectation, the mask's
area fraction inside it)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench import methods
from attrbench.checks import localisation as lo
from attrbench.checks.context import CheckContext
from attrbench.errors import InputShapeError, MissingTruthError
from attrbench.scales import get_scale
from attrbench.subjects import Subject

#: The 2×2 top-left block of a 4×4 image: flat indices 0, 1, 4, 5; area fraction 4/16.
BLOCK = torch.zeros(4, 4, dtype=torch.bool)
BLOCK[:2, :2] = True


def test_relevance_mass_and_pointing_by_hand():
    """One channel, mask = BLOCK. Sample 0: |A| inside = |1| + |−2| + |3| + |0| = 6, the
    total = 6 + |1| + |2| + |1| = 10, mass 0.6; the maximum |A| = 3 at (1, 0), inside: 1.
    Sample 1: sample 0 with A[3, 3] = −5: total 6 + |1| + |2| + |−5| = 14, mass 6/14;
    the maximum |−5| lies outside: 0. Area fraction 4/16 = 0.25 for both."""
    a = torch.tensor([[1.0, -2, 0, 0], [3, 0, 0, 1], [0, 0, 2, 0], [0, 0, 0, 1]])
    b = a.clone()
    b[3, 3] = -5
    maps = torch.stack([a, b])[:, None]  # (2, 1, 4, 4)
    masks = BLOCK.expand(2, 4, 4)
    r = lo.localisation(maps, masks)
    assert r.mass.tolist() == pytest.approx([0.6, 6 / 14], rel=1e-15)
    assert r.pointing.tolist() == [1.0, 0.0]
    assert r.area.tolist() == [0.25, 0.25]
    assert r.mass.dtype == r.pointing.dtype == torch.float64


def test_channels_are_summed_as_absolute_values():
    """Two channels. Pixel (0, 0), inside, has channels (+2, −2): r = 4 (its signed sum
    would be 0); pixel (3, 3), outside, has (3, 0): r = 3. Mass 4 / 7; the maximum r = 4
    is inside, a hit (by |Σ_c A| the maximum would be outside). Flat (N, C·H·W) maps,
    laid out as ``reshape(N, C, H, W)``, give the same."""
    a = torch.zeros(1, 2, 4, 4)
    a[0, :, 0, 0] = torch.tensor([2.0, -2.0])
    a[0, 0, 3, 3] = 3.0
    masks = BLOCK[None]
    r = lo.localisation(a, masks)
    assert r.mass.tolist() == pytest.approx([4 / 7], rel=1e-15) and r.pointing.tolist() == [1.0]
    flat = lo.localisation(a.reshape(1, -1), masks)
    assert torch.equal(flat.mass, r.mass) and torch.equal(flat.pointing, r.pointing)


def test_pointing_game_ties_go_to_the_lowest_index_and_zero_maps_get_the_area():
    """|A| = 7 at flat indices 6 and 9 (a tie). Mask {9}: the lowest index 6 wins, a miss;
    mask {6}: a hit. An all-zero map ties everywhere, so it points at index 0 (a hit for
    BLOCK, a miss for {9}), and its mass is the mask's area fraction (4/16 and 1/16)."""
    a = torch.zeros(4, 1, 4, 4)
    for i in (0, 1):
        a[i].view(-1)[6] = 7.0
        a[i].view(-1)[9] = -7.0
    masks = torch.zeros(4, 16, dtype=torch.bool)
    masks[0, 9] = masks[1, 6] = masks[3, 9] = True
    masks[2] = BLOCK.reshape(-1)
    masks = masks.reshape(4, 4, 4)
    r = lo.localisation(a, masks)
    assert r.pointing.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert r.mass.tolist() == pytest.approx([0.5, 0.5, 0.25, 1 / 16], rel=1e-15)


def loop_localisation(a, mask):
    """The definitions one pixel at a time: r_p = Σ_c |A_c,p|, mass = Σ_in r / Σ r (the area
    fraction when Σ r = 0), the first pixel (row-major) of maximal r, inside or not."""
    n, h, w = mask.shape
    maps = a.reshape(n, -1, h, w).double()
    out = []
    for i in range(n):
        r = [sum(abs(float(maps[i, c, y, x])) for c in range(maps.shape[1])) for y in range(h) for x in range(w)]
        inside = [bool(mask[i, y, x]) for y in range(h) for x in range(w)]
        total = sum(r)
        mass = sum(v for v, m in zip(r, inside) if m) / total if total > 0 else sum(inside) / len(inside)
        best = 0
        for p in range(len(r)):
            if r[p] > r[best]:
                best = p
        out.append((mass, float(inside[best])))
    return out


@pytest.mark.parametrize("shape", [(6, 3, 5, 7), (6, 5, 7), (6, 2 * 5 * 7)], ids=["nchw", "nhw", "flat"])
def test_batched_scores_match_a_loop_on_random_maps(shape):
    """Random signed maps with ties (integers in −3..3) and random masks."""
    g = torch.Generator().manual_seed(3)
    a = torch.randint(-3, 4, shape, generator=g).float()
    masks = torch.rand(6, 5, 7, generator=g) < 0.3
    r = lo.localisation(a, masks)
    ref = loop_localisation(a, masks)
    assert r.mass.tolist() == pytest.approx([m for m, _ in ref], rel=1e-12)
    assert r.pointing.tolist() == [p for _, p in ref]


def test_iid_maps_put_the_area_fraction_inside_on_average():
    """By exchangeability E[|u_p| / Σ|u|] = 1/P for i.i.d. entries, so E[mass] = |mask| / P
    exactly, and the hit probability of the pointing game is |mask| / P too: the random
    control's reference. 4000 seeded Gaussian maps on a 10/64 mask: each mean lies within
    4 standard errors (computed from the same draws) of 10/64."""
    g = torch.Generator().manual_seed(0)
    n = 4000
    mask = torch.zeros(64, dtype=torch.bool)
    mask[torch.randperm(64, generator=g)[:10]] = True
    masks = mask.reshape(8, 8).expand(n, 8, 8)
    r = lo.localisation(torch.randn(n, 3, 8, 8, generator=g), masks)
    for values in (r.mass, r.pointing):
        se = float(values.std()) / n**0.5
        assert abs(float(values.mean()) - 10 / 64) < 4 * se


def test_shape_errors():
    masks = BLOCK[None]
    with pytest.raises(InputShapeError, match="bool tensor"):
        lo.localisation(torch.ones(1, 4, 4), masks.float())
    with pytest.raises(InputShapeError, match="do not fit"):
        lo.localisation(torch.ones(1, 1, 5, 4), masks)
    with pytest.raises(InputShapeError, match="do not fit"):
        lo.localisation(torch.ones(1, 15), masks)
    with pytest.raises(InputShapeError, match="do not fit"):
        lo.localisation(torch.ones(2, 1, 4, 4), masks)


class MaskedLinear(nn.Module):
    """Two logits (0, Σ w ⊙ x) with w nonzero only on BLOCK's pixels (all 3 channels)."""

    def __init__(self):
        super().__init__()
        self.w = (torch.arange(1.0, 49.0).reshape(3, 4, 4) * BLOCK).requires_grad_(False)

    def forward(self, x):
        z = (x * self.w).flatten(1).sum(1)
        return torch.stack([torch.zeros_like(z), z], 1)


def standin_subject(evidence: bool = True) -> Subject:
    """A 3×4×4 image subject whose class depends only on BLOCK (its evidence mask)."""
    x = torch.rand(10, 3, 4, 4, generator=torch.Generator().manual_seed(1)) + 0.1
    truth = {"evidence": BLOCK.expand(10, 4, 4).clone()} if evidence else {}
    return Subject("shapes/standin", MaskedLinear(), x, torch.ones(10, dtype=torch.long), None, (0.0, 2.0),
                   tags={"image", "linear"}, truth=truth)  # fmt: skip


def quick_ctx():
    return CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(0))


def test_check_on_a_model_that_reads_only_the_evidence():
    """F depends only on BLOCK's pixels, so the gradient (w) and Gradient×Input (w ⊙ x, x > 0)
    are zero outside it: mass 1 and a hit on every sample. The value is the mean of the
    per-sample masses (``scale.faithfulness_samples`` = 8 at quick), the details hold the
    hit rate and the area fraction 4/16; the random control scores what
    :func:`localisation` gives its own map."""
    s = standin_subject()
    for name in ("gradient", "input_x_gradient"):
        out = lo.relevance_mass_accuracy(methods.get(name), s, quick_ctx())
        assert out.samples == pytest.approx([1.0] * 8, rel=1e-12) and out.aggregate == "mean"
        assert out.value == pytest.approx(1.0, rel=1e-12)
        assert out.details["pointing_game"] == 1.0 and out.details["area_fraction"] == 0.25
    control = methods.get("random")
    out = lo.relevance_mass_accuracy(control, s, quick_ctx())
    direct = lo.localisation(control.attribute(s.model, s.inputs[:8], s.targets[:8], None), s.truth["evidence"][:8])
    assert out.samples == direct.mass.tolist() and out.value == pytest.approx(float(direct.mass.mean()), rel=1e-12)
    assert out.details["per_sample_pointing_game"] == direct.pointing.tolist()


def test_check_refuses_a_subject_without_evidence():
    with pytest.raises(MissingTruthError, match=r"no truth\['evidence'\].*shapes/\*"):
        lo.relevance_mass_accuracy(methods.get("gradient"), standin_subject(evidence=False), quick_ctx())


def test_suite_runs_localisation_on_the_shapes_subjects_only():
    """The check's globs in the faithfulness Suite: the subjects with evidence masks."""
    from attrbench.checks.faithfulness import SUITE

    assert SUITE.subjects["localisation"] == ("shapes/*",)
    assert "relevance_mass" not in SUITE.summary_metrics


def test_page_shows_localisation_in_its_own_table_outside_the_score():
    """Rendered from hand-made rows (two methods and the random control, one deletion row
    and one localisation row each): the faithfulness score of each method is its deletion
    row's value alone (the mean of its ``summary_metrics`` rows; relevance_mass is not one),
    the page has a ``localisation · relevance_mass`` table listing the control under the
    rule, and its description names the control as the reference."""
    import json

    from attrbench.leaderboard import render_pages
    from attrbench.leaderboard.ranking import analyse
    from attrbench.results import Record

    def record(method, check, metric, value, kind=""):
        return Record(suite="faithfulness", check=check, metric=metric, direction="higher", method=method,
                      subject="shapes/standin", value=value, holds=None, claimed=False, error="",
                      details=json.dumps({}), scale="quick", seed=0, kind=kind,
                      samples=[value, value], aggregate="mean")  # fmt: skip

    rows = []
    for method, deletion, mass, kind in [("m_a", 0.5, 0.9, ""), ("m_b", 0.3, 0.2, ""), ("random", 0.0, 0.1, "control")]:
        rows += [record(method, "deletion_insertion", "insertion_minus_deletion", deletion, kind),
                 record(method, "localisation", "relevance_mass", mass, kind)]  # fmt: skip
    scores = analyse(rows).suites["faithfulness"].scores
    assert scores == pytest.approx({"m_a": 0.5, "m_b": 0.3, "random": 0.0})
    page = render_pages(rows)["faithfulness.md"]
    table = page[page.index("## `localisation` · `relevance_mass`") :].split("\n\n")[1]
    lines = table.splitlines()
    assert lines[0].startswith("| method (relevance_mass ↑)") and "shapes/standin" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]][-1].startswith("random")
    assert "The random control is its reference" in page
