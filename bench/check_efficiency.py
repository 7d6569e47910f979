"""Efficiency of every check: model work done × batched per-example cost / wall time.

    python bench/check_efficiency.py [--reps 3] [--method saliency] [--out bench/results/check_efficiency.md]

Each check of the four suites runs at the standard scale with one method on one subject
of its suite (listed in the table). A forward hook on the subject's model counts the rows
of every forward pass: rows whose output carries a graph count as forward + backward (the
checks differentiate what they build a graph for), the others as forward only. The
reference costs are those of the same model on 4096 of the subject's inputs in one pass:
c_f (forward, no graph) and c_fb (forward, then ∇ₓ of the target scores). Efficiency =
(rows_f × c_f + rows_fb × c_fb) / wall time (target ≥ 0.5): the share of the check's
time spent at the model's best batched throughput. Models a check builds itself (the
second network of linearity, the equivalent network of implementation invariance) are
not counted, so the figure is a lower bound there.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from tabulate import tabulate

import harness
from attrbench import methods, subjects
from attrbench.checks import axioms, boolean, fragility, sensitivity_n
from attrbench.checks.context import CheckContext
from attrbench.checks.lipschitz import lipschitz
from attrbench.guard import Guard
from attrbench.scales import get_scale

#: (check, subject): a subject of the check's suite with the premise the check needs.
CHECKS = [
    (axioms.completeness, "analytic/smooth"),
    (axioms.sensitivity_a, "analytic/smooth"),
    (axioms.dummy, "analytic/dummy"),
    (axioms.linearity, "analytic/smooth"),
    (axioms.symmetry, "analytic/symmetric"),
    (axioms.implementation_invariance, "analytic/equivalent"),
    (axioms.asi, "analytic/smooth"),
    (axioms.ndp, "analytic/monotone"),
    (lipschitz, "analytic/smooth"),
    (lipschitz, "digits/mlp_tanh"),
    (sensitivity_n.sensitivity_n_curve, "digits/cnn_tanh"),
    (fragility.fragility, "digits/cnn_tanh"),
    (boolean.dummy_recovery, "boolean/junta_8"),
    (boolean.influence_recovery, "boolean/junta_8"),
    (boolean.order_identifiability, "boolean/junta_8"),
]


class RowCounter:
    def __init__(self) -> None:
        self.forward = self.backward = 0

    def __call__(self, module, args, out) -> None:
        rows = out.shape[0]
        if out.requires_grad:
            self.backward += rows
        else:
            self.forward += rows


def per_example_costs(model, x, t, rows: int = 4096, reps: int = 5) -> tuple[float, float]:
    """(c_f, c_fb): seconds per example of a batched forward pass, and of forward + ∇ₓ."""
    big = x.repeat((rows + len(x) - 1) // len(x), *[1] * (x.dim() - 1))[:rows]
    tt = t.repeat((rows + len(t) - 1) // len(t))[:rows]

    def forward():
        with torch.no_grad():
            model(big)

    def forward_backward():
        point = big.detach().requires_grad_(True)
        torch.autograd.grad(model(point).gather(1, tt[:, None]).sum(), point)

    times = harness.interleaved_medians({"f": forward, "fb": forward_backward}, reps, warmup=1)
    return times["f"] / rows, times["fb"] / rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each check (median; default 3)")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "check_efficiency.md")
    opts = parser.parse_args(argv)
    scale = get_scale("standard")
    method = methods.get(opts.method)
    rows = []
    for check_fn, name in CHECKS:
        subject = subjects.get(name)
        c_f, c_fb = per_example_costs(subject.model, subject.inputs, subject.targets)
        counter = RowCounter()
        handle = subject.model.register_forward_hook(counter)
        walls = []
        try:
            for _ in range(opts.reps + 1):  # the first run warms up
                counter.forward = counter.backward = 0
                ctx = CheckContext(scale=scale, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
                start = time.perf_counter()
                check_fn(method, subject, ctx)
                walls.append(time.perf_counter() - start)
        finally:
            handle.remove()
        wall = statistics.median(walls[1:])
        work = counter.forward * c_f + counter.backward * c_fb
        info = check_fn.info
        rows.append([info.suite, info.check, f"`{name}`", counter.forward, counter.backward,
                     f"{wall * 1e3:.1f}", f"{work * 1e3:.2f}", f"{work / wall:.2f}"])  # fmt: skip
    table = tabulate(rows, headers=["suite", "check", "subject", "forward rows", "forward+backward rows",
                                    "wall ms", "batched-cost ms", "efficiency ↑"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    harness.publish(opts.out, [
        "# Efficiency of every check",
        f"Machine: {harness.machine()}.",
        f"Method `{opts.method}`, standard scale, seed 0; medians of {opts.reps} runs after one warm-up run. "
        "Generated by `python bench/check_efficiency.py`. Efficiency = (forward rows × c_f + forward+backward "
        "rows × c_fb) / wall time, c_f and c_fb the per-example costs of one batched pass of 4096 inputs "
        "(see the script's docstring).",
        table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
