"""Efficiency of every batched check on the 28×28 CNN and the ResNet (issue 22), before
and after this issue's two fixes, side by side in one run.

    python bench/efficiency_at_scale.py [--reps 1] [--method saliency] [--profile-seconds 1]
                                        [--subject digits28/cnn_relu --subject shapes/resnet]
                                        [--out bench/results/efficiency_at_scale.md]

The measurement is ``check_efficiency.py``'s (its docstring): every top-level model pass
of a check is logged by kind, and efficiency = Σ rows × the model's best per-example cost
of that kind (``ROWS`` rows in chunks of the fastest of ``SIZES``) / the check's CPU
time; target ≥ 0.8. The scale is ``standard`` with fewer samples and attack steps
(:data:`SCALE`), so a run stays within minutes on two shared cores while every batched
stream still fills its chunks. Each check runs once to warm up and log its passes, then
``--reps`` times.

The two fixes, each shown before and after:

- **the allocator** (``attrbench.heap.keep_freed_memory``): every check runs in two worker
  processes, one with glibc's malloc as it comes (before), one with freed memory kept
  (after, as the pytest plugin now sets up every run);
- **ROAD's imputation**: the road check also runs with the general sparse LU that was the
  default above 256 pixels until this issue (``linear_imputation(solver="lu")``, patched in
  for that row only) beside today's default (the banded Cholesky solve); each solver's
  time alone on the same images and masks is in the second table.

Checks below the target are profiled with pyinstrument (``check_efficiency.profile``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import subprocess
import sys
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
from attrbench.guard import Guard
from attrbench.heap import keep_freed_memory
from attrbench.scales import get_scale

#: ``standard`` with fewer samples per check (the chunks stay full: e.g. Sensitivity-n's
#: 4 × 100 × 12 points flow in passes of 1024, deletion/insertion's 16 × 2 × 65 in 512).
SCALE = dataclasses.replace(
    get_scale("standard"), name="bench", max_samples=8, sensitivity_n_samples=4, fragility_samples=2,
    fragility_epsilons=(0.02,), fragility_steps=5, faithfulness_samples=16, sanity_samples=16,
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
MODES = ("default", "kept")
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


def child(name: str, mode: str, opts) -> None:
    """Every check of one subject under one allocator ``mode`` ("default": glibc's malloc
    as it comes; "kept": ``attrbench.heap.keep_freed_memory``); one JSON line per check."""
    if mode == "kept":
        keep_freed_memory()
    torch.set_num_threads(1)  # as the suites run (attrbench.pytest_plugin.pin_threads)
    method = methods.get(opts.method)
    subject = scale_subjects.get(name)
    checks = [(fn, False) for fn in CHECKS]
    if subject.inputs[0, 0].numel() > imputation.CG_MAX_PIXELS:  # the LU was the default above 256 pixels
        checks.insert(CHECKS.index(faithfulness.road_accuracy), (faithfulness.road_accuracy, True))
    for check_fn, before in checks:
        label = check_fn.info.check + (" (imputation: sparse LU, before)" if before else "")
        try:
            cpu, log, run = measure(check_fn, method, subject, opts.reps, before)
        except Exception as exc:  # a check that refuses the subject: say so in the table
            print(json.dumps({"label": label, "error": f"{type(exc).__name__}: {exc}"[:80]}), flush=True)
            continue
        costs = ce.per_example_costs(log.passes, reps=2, rows=ROWS, sizes=SIZES, clock=CLOCK)
        work = sum(p.shape[0] * costs[id(p.model), p.kind] for p in log.passes)
        counts = log.rows()
        split = None
        if mode == "kept" and work / cpu < TARGET and opts.profile_seconds > 0 and not before:
            totals, hot = ce.profile(run, opts.profile_seconds)
            whole = sum(totals.values()) or 1.0
            split = [*(f"{totals.get(c, 0.0) / whole:.0%}" for c in ce.CATEGORIES), hot]
        kinds = " / ".join(str(counts[k]) for k in ce.KINDS)
        print(json.dumps({"label": label, "passes": len(log.passes), "rows": kinds, "cpu": cpu, "work": work,
                          "profile": split}), flush=True)  # fmt: skip
    times = road_imputations(subject, method)
    print(json.dumps({"solves": {"images": times["images"], "lu": times["lu"], "default": times[None]}}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="timed runs of each check (median; default 1)")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--subject", action="append", help=f"default: {', '.join(SUBJECTS)}")
    parser.add_argument("--profile-seconds", type=float, default=1.0, help="sampled seconds per missed check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "efficiency_at_scale.md")
    parser.add_argument("--child", nargs=2, metavar=("SUBJECT", "MODE"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        child(*opts.child, opts)
        return 0
    names = opts.subject or list(SUBJECTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    rows, shares, solves = [], [], []
    for name in names:
        got = {}
        for mode in MODES:
            args = ["--child", name, mode, "--reps", str(opts.reps), "--method", opts.method,
                    "--profile-seconds", str(opts.profile_seconds)]  # fmt: skip
            done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{name} {mode} failed:\n{done.stderr}")
            got[mode] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        before, after = ({r["label"]: r for r in got[m] if "label" in r} for m in MODES)
        for label, r in after.items():
            if "error" in r:
                rows.append([f"`{name}`", label, "–", "–", "–", "–", "–", "–", "–", r["error"]])
                continue
            b = before[label]
            rows.append([f"`{name}`", label, r["passes"], r["rows"], f"{b['cpu'] * 1e3:.0f}", f"{r['cpu'] * 1e3:.0f}",
                         f"{r['work'] * 1e3:.0f}", f"{r['work'] / b['cpu']:.2f}", f"{r['work'] / r['cpu']:.2f}",
                         "met" if r["work"] / r["cpu"] >= TARGET else "missed"])  # fmt: skip
            if r["profile"]:
                shares.append([f"`{name}`", label, *r["profile"]])
        sb, sa = (next(r["solves"] for r in got[m] if "solves" in r) for m in MODES)
        solves.append([f"`{name}`", sa["images"], f"{sb['lu'] * 1e3:.0f}", f"{sa['default'] * 1e3:.0f}",
                       f"{sb['lu'] / sa['default']:.1f}×", f"{sa['lu'] * 1e3:.0f}", f"{sa['lu'] / sa['default']:.1f}×"])
        print("\n".join(" | ".join(map(str, row)) for row in rows[-len(after):]), flush=True)
    table = tabulate(rows, headers=["subject", "check", "passes", "rows f / fb / f2b", "CPU ms before (glibc malloc)",
                                    "CPU ms after (memory kept)", "work at full batch ms", "efficiency before",
                                    "efficiency after ↑", f"target ≥ {TARGET}"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    solve_table = tabulate(solves, headers=["subject", "ROAD images", "sparse LU, glibc malloc ms (before)",
                                            "banded, memory kept ms (after)", "before / after",
                                            "sparse LU, memory kept ms", "solver alone"],
                           tablefmt="github", disable_numparse=True)  # fmt: skip
    profile_table = tabulate(shares, headers=["subject", "check", *ce.CATEGORIES, "largest non-model hotspot"],
                             tablefmt="github", disable_numparse=True)  # fmt: skip
    scale = ", ".join(f"{f.name}={getattr(SCALE, f.name)}" for f in dataclasses.fields(SCALE)
                      if f.name != "name"
                      and getattr(SCALE, f.name) != getattr(get_scale("standard"), f.name))  # fmt: skip
    harness.publish(opts.out, [
        "# Efficiency of the batched checks at scale (28×28 CNN, ResNet), before and after",
        f"Machine: {harness.machine()}; {harness.load()} at the end of the run.",
        f"Subjects: {scale_subjects.describe(names)}",
        f"Method `{opts.method}`, the standard scale with {scale}; seed 0; median of {opts.reps} run(s) after one "
        "warm-up run. Generated by "
        f"`python bench/efficiency_at_scale.py{' --reps ' + str(opts.reps) if opts.reps != 1 else ''}`. "
        "Per subject two worker processes one after the other, the same code: **before** with glibc's malloc as "
        "it comes, **after** with `attrbench.heap.keep_freed_memory()` (as the pytest plugin now sets up every "
        "run). Rows per pass kind: f forward only, fb forward + backward, f2b forward + double backward. "
        f"Work = Σ rows × the best per-example cost of {ROWS} rows of that kind in chunks of "
        f"{', '.join(map(str, SIZES))}, measured in the *after* process (the model's best throughput); efficiency = "
        f"work / the check's time (target ≥ {TARGET}). All times are the process's CPU time (`time.process_time`, "
        "one torch thread), not wall time: other jobs shared the two cores.",
        table,
        "## ROAD's imputation alone, before and after",
        "The same images and masks as the road rows (every sample × MoRF/LeRF × 9 fractions), interleaved "
        "medians of 3 within each process.",
        solve_table,
        "## Where the time goes (checks below the target, after)",
        f"pyinstrument, 0.1 ms sampling, each check repeated for {opts.profile_seconds:g} s.",
        profile_table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
