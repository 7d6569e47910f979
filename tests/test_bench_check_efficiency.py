"""The accounting of bench/check_efficiency.py: the pass log that counts model rows by
kind, and the split of a profile into categories.

The bench page's efficiency and "where the time goes" tables are only as good as this
accounting, so it is tested on inputs whose answer is known by construction: a frame
tree built by hand (times chosen so each category's total is a sum one can do on paper),
and model passes made here with known batch sizes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
check_efficiency = pytest.importorskip("check_efficiency")

TORCH = "/site-packages/torch"


def frame(function: str, path: str, time: float, self_time: float = 0.0, children=(), synthetic=False):
    """A stand-in for a pyinstrument Frame: ``time`` is the frame's total, ``self_time``
    what its own [self] leaf holds. As in pyinstrument's raw tree, a frame's self time sits
    in a synthetic [self] child *and* in the parent's ``total_self_time``."""
    kids = list(children)
    if self_time and not synthetic:
        kids.append(frame("[self]", "", self_time, self_time, synthetic=True))
    return SimpleNamespace(function=function, file_path=path, time=time, total_self_time=self_time,
                           children=kids, is_synthetic=synthetic)  # fmt: skip


def test_profile_shares_count_each_sample_once_and_sum_to_the_root():
    """A check (0.5 s of its own) calls the guard (0.5 s), which calls the method (0.5 s of
    its own), which runs the model (2 s, one forward call) and autograd (1 s). Total 4.5 s;
    the categories must add up to it. The first version walked into the synthetic [self]
    leaves too and counted every self time twice (its shares summed to more than 100 %)."""
    model = frame("_wrapped_call_impl", TORCH + "/nn/modules/module.py", 2.0, 0.0,
                  [frame("forward", "/x/model.py", 2.0, 2.0)])  # fmt: skip
    backward = frame("grad", TORCH + "/autograd/__init__.py", 1.0, 1.0)
    method = frame("attribute", "/x/attrbench/methods/registry.py", 3.5, 0.5, [model, backward])
    guard = frame("_call", "/x/attrbench/guard.py", 4.0, 0.5, [method])
    root = frame("lipschitz", "/x/attrbench/checks/lipschitz.py", 4.5, 0.5, [guard])

    totals, hot = check_efficiency.profile_shares(root)
    assert totals == pytest.approx({"model forward": 2.0, "autograd backward": 1.0, "guard": 0.5,
                                    "method, own code": 0.5, "check, own code": 0.5})  # fmt: skip
    assert sum(totals.values()) == pytest.approx(root.time)
    # the hottest non-model self time: three of 0.5 s tie, the first one walked wins (11 %)
    assert hot == "`lipschitz.py:lipschitz` 11%"


def test_pass_log_counts_top_level_rows_by_kind():
    """PassLog with the global hooks: a no-grad pass of 3 rows is forward only, a graph pass
    of 5 rows differentiated once is forward + backward, and one of 7 rows whose gradient
    is taken with create_graph=True is forward + double backward. Submodule calls inside a
    pass are not counted again (nn.Sequential calls two children per pass). After the
    undo nothing is logged and torch.autograd.grad is torch's own."""
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    original_grad = torch.autograd.grad
    log = check_efficiency.PassLog()
    undo = check_efficiency.install(log)
    try:
        log.active = True
        with torch.no_grad():
            model(torch.zeros(3, 2))
        x = torch.zeros(5, 2, requires_grad=True)
        torch.autograd.grad(model(x).sum(), x)
        x = torch.zeros(7, 2, requires_grad=True)
        (g,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
        torch.autograd.grad(g.sum(), x)
        log.active = False
        model(torch.zeros(11, 2))  # not logged
    finally:
        undo()
    assert log.rows() == {"f": 3, "fb": 5, "f2b": 7}
    assert [p.shape for p in log.passes] == [(3, 2), (5, 2), (7, 2)]
    # undone: the hooks are gone and torch.autograd.grad is torch's own again
    assert torch.autograd.grad is original_grad
    log.active = True
    model(torch.zeros(13, 2))
    assert len(log.passes) == 3


def test_interleaved_efficiency_takes_each_models_best_chunk_per_example():
    """``interleaved_efficiency`` on a clock that only the code under test advances: a
    model whose forward pass of b rows costs b·(1 + 64/b) units (a fixed 64 per pass, so
    the largest chunk is the cheapest per row), and a "check" that costs 500 units and runs
    two forward passes of 3 and 5 rows. By hand: chunks of 4, 8 and 16 rows over 16 rows
    cost 16 + 4·64, 16 + 2·64 and 16 + 64, so the best is 80 / 16 = 5 units per row, and the
    check's 8 rows are worth 40 units of work; replaying its two passes costs
    (3 + 64) + (5 + 64) = 136."""
    now = [0.0]

    class Costed(nn.Module):
        def forward(self, x):
            now[0] += len(x) + 64
            return x.sum(1, keepdim=True)

    model = Costed()
    passes = [check_efficiency.Pass(model, (3, 2), torch.float32, "f"),
              check_efficiency.Pass(model, (5, 2), torch.float32, "f")]  # fmt: skip

    def check():
        now[0] += 500

    wall, work, bare = check_efficiency.interleaved_efficiency(
        check, passes, reps=3, rows=16, sizes=(4, 8, 16), clock=lambda: now[0])
    assert (wall, work, bare) == (500, 40, 136)
