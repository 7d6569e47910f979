"""Efficiency of every batched check on the 28×28 CNN and the ResNet (issue 22), with
ROAD before and after its banded imputation side by side in the same run.

    python bench/efficiency_at_scale.py [--reps 2] [--method saliency] [--profile-seconds 1]
                                        [--subject digits28/cnn_relu --subject shapes/resnet]
                                        [--out bench/results/efficiency_at_scale.md]

The measurement is ``check_efficiency.py``'s (its docstring): every top-level model pass
of a check is logged by kind, and efficiency = Σ rows × the model's best per-example cost
of that kind (``ROWS`` rows in chunks of the fastest of ``SIZES``) / the check's CPU
time; target ≥ 0.8. The scale is ``standard`` with fewer samples (:data:`SCALE`), so a
run stays within minutes on two shared cores while every batched stream still fills its
chunks. Each check runs once to warm up and log its passes, then ``--reps`` times.

ROAD runs twice: **road (before)** imputes with the general sparse LU that was the default
above 256 pixels until this issue (``linear_imputation(solver="lu")``, patched in for that
row only), **road** with today's default (the banded Cholesky solve); each row's
imputation time alone (the same images and masks) is in the second table. Checks below
the target are profiled with pyinstrument (``check_efficiency.profile``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import time
from pathlib import Path

import torch
from tabulate import tabulate

import check_efficiency as ce
import harness
import scale_subjects
from attrbench import methods
from attrbench.checks import faithfulness, fragility, imputation, sanity, sensitivity_n
from attrbench.checks.context import CheckContext
from attrbench.checks.lipschitz import lipschitz
from attrbench.guard import Guard
from attrbench.scales import get_scale

#: ``standard`` with fewer samples per check (the chunks stay full: e.g. Sensitivity-n's
#: 4 × 100 × 12 points flow in passes of 1024, deletion/insertion's 16 × 2 × 65 in 512).
SCALE = dataclasses.replace(
    get_scale("standard"), name="bench", max_samples=8, sensitivity_n_samples=4, fragility_samples=2,
    faithfulness_samples=16, sanity_samples=16, lipschitz_pairs=4,
)  # fmt: skip
CHECKS = [
    sensitivity_n.sensitivity_n_curve,
    fragility.fragility,
    faithfulness.deletion_insertion_auc,
    faithfulness.road_accuracy,
    faithfulness.infidelity_normalized,
    sanity.model_randomization,
    sanity.target_sensitivity,
]
SUBJECTS = ("digits28/cnn_relu", "shapes/resnet")
#: Rows of the reference passes, and their chunk sizes (the model's best is taken).
ROWS, SIZES = 1024, (256, 1024)
TARGET = 0.8
#: This process's CPU time, not wall time: other jobs share the two cores (load 5–13 while
#: this was written), and with one torch thread the CPU time is the work done.
CLOCK = time.process_time


class LuImputation:
    """Within the block, ROAD imputes with the sparse LU (the default before this issue)."""

    def __enter__(self):
        self.original = faithfulness.linear_imputation
        faithfulness.linear_imputation = functools.partial(imputation.linear_imputation, solver="lu")

    def __exit__(self, *exc):
        faithfulness.linear_imputation = self.original


def measure(check_fn, method, subject, reps: int, before: bool = False):
    """(CPU seconds, passes log, run callable) of one check."""

    def run() -> None:
        ctx = CheckContext(scale=SCALE, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
        with ctx.guard.scope(), (LuImputation() if before else _nothing()):
            check_fn(method, subject, ctx)

    log = ce.PassLog()
    undo = ce.install(log)
    walls = []
    try:
        for rep in range(reps + 1):  # the first run warms up and logs the passes
            log.active = rep == 0
            start = CLOCK()
            run()
            walls.append(CLOCK() - start)
    finally:
        undo()
    return statistics.median(walls[1:]), log, run


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def road_imputations(subject, method) -> dict[str, float]:
    """Seconds of ROAD's imputations alone for the check's images and masks, by the sparse
    LU and by the banded solver (interleaved medians of 3)."""
    x, t, b = CheckContext(scale=SCALE, generator=torch.Generator()).samples(subject, SCALE.faithfulness_samples)
    a = method.attribute(subject.model, x, t, b)
    ranks = faithfulness.feature_ranks(a, x, True)
    f = ranks.shape[1]
    counts = torch.tensor([round(p * f) for p in faithfulness.ROAD_FRACTIONS])
    position = torch.cat([ranks, f - 1 - ranks])[:, None]
    removed = (position < counts[None, :, None]).reshape(-1, *x.shape[2:])
    images = x.repeat(2, 1, 1, 1).repeat_interleave(len(counts), 0)
    fns = {s: functools.partial(imputation.linear_imputation, images, removed, solver=s) for s in ("lu", None)}
    return harness.interleaved_medians(fns, 3, warmup=1, clock=CLOCK) | {"images": len(images)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2, help="timed runs of each check (median; default 2)")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--subject", action="append", help=f"default: {', '.join(SUBJECTS)}")
    parser.add_argument("--profile-seconds", type=float, default=1.0, help="sampled seconds per missed check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "efficiency_at_scale.md")
    opts = parser.parse_args(argv)
    names = opts.subject or list(SUBJECTS)
    torch.set_num_threads(1)  # as the suites run (attrbench.pytest_plugin.pin_threads)
    method = methods.get(opts.method)
    rows, shares, solves = [], [], []
    for name in names:
        subject = scale_subjects.get(name)
        checks = [(fn, False) for fn in CHECKS]
        if subject.inputs[0, 0].numel() > imputation.CG_MAX_PIXELS:  # the LU was the default above 256 pixels
            checks.insert(CHECKS.index(faithfulness.road_accuracy), (faithfulness.road_accuracy, True))
        if "softplus" in name or "tanh" in name:
            checks.append((lipschitz, False))
        for check_fn, before in checks:
            label = check_fn.info.check + (" (before: sparse LU)" if before else "")
            try:
                wall, log, run = measure(check_fn, method, subject, opts.reps, before)
            except Exception as exc:  # a check that refuses the subject: say so in the table
                rows.append([f"`{name}`", label, "–", "–", "–", "–", "–", f"{type(exc).__name__}: {exc}"[:80]])
                continue
            costs = ce.per_example_costs(log.passes, reps=2, rows=ROWS, sizes=SIZES, clock=CLOCK)
            work = sum(p.shape[0] * costs[id(p.model), p.kind] for p in log.passes)
            counts = log.rows()
            rows.append([f"`{name}`", label, len(log.passes), " / ".join(str(counts[k]) for k in ce.KINDS),
                         f"{wall * 1e3:.0f}", f"{work * 1e3:.0f}", f"{work / wall:.2f}",
                         "met" if work / wall >= TARGET else "missed"])  # fmt: skip
            print(" | ".join(map(str, rows[-1])), flush=True)
            if work / wall < TARGET and opts.profile_seconds > 0 and not before:
                totals, hot = ce.profile(run, opts.profile_seconds)
                whole = sum(totals.values()) or 1.0
                split = [f"{totals.get(c, 0.0) / whole:.0%}" for c in ce.CATEGORIES]
                shares.append([f"`{name}`", label, *split, hot])
        times = road_imputations(subject, method)
        solves.append([f"`{name}`", times["images"], f"{times['lu'] * 1e3:.0f}", f"{times[None] * 1e3:.0f}",
                       f"{times['lu'] / times[None]:.1f}×"])  # fmt: skip
    table = tabulate(rows, headers=["subject", "check", "passes", "rows f / fb / f2b", "CPU ms",
                                    "work at full batch ms", "efficiency ↑", f"target ≥ {TARGET}"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    solve_table = tabulate(solves, headers=["subject", "ROAD images", "sparse LU ms (before)",
                                            "default solver ms (after)", "speed-up"],
                           tablefmt="github", disable_numparse=True)  # fmt: skip
    profile_table = tabulate(shares, headers=["subject", "check", *ce.CATEGORIES, "largest non-model hotspot"],
                             tablefmt="github", disable_numparse=True)  # fmt: skip
    scale = ", ".join(f"{f.name}={getattr(SCALE, f.name)}" for f in dataclasses.fields(SCALE)
                      if f.name != "name"
                      and getattr(SCALE, f.name) != getattr(get_scale("standard"), f.name))  # fmt: skip
    harness.publish(opts.out, [
        "# Efficiency of the batched checks at scale (28×28 CNN, ResNet)",
        f"Machine: {harness.machine()}; {harness.load()}.",
        f"Subjects: {scale_subjects.describe(names)}",
        f"Method `{opts.method}`, the standard scale with {scale}; seed 0; medians of {opts.reps} runs after one "
        "warm-up run, every row of one subject in one process and one run. Generated by "
        f"`python bench/efficiency_at_scale.py{' --reps ' + str(opts.reps) if opts.reps != 2 else ''}`. "
        "Rows per pass kind: f forward only, fb forward + backward, f2b forward + double backward. Efficiency = "
        f"Σ rows × the best per-example cost of {ROWS} rows of that kind in chunks of "
        f"{', '.join(map(str, SIZES))} / the check's time (target ≥ {TARGET}). All times are this process's CPU "
        "time (`time.process_time`, one torch thread), not wall time: other jobs shared the two cores.",
        table,
        "## ROAD's imputation alone, before and after",
        "The same images and masks as the road rows (every sample × MoRF/LeRF × 9 fractions), interleaved "
        "medians of 3, in the same run.",
        solve_table,
        "## Where the time goes (checks below the target)",
        f"pyinstrument, 0.1 ms sampling, each check repeated for {opts.profile_seconds:g} s.",
        profile_table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
