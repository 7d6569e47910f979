"""Efficiency of every batched check on the 28×28 CNN and the ResNet (issue 22), side by
side in one run.

    python bench/efficiency_at_scale.py [--reps 1] [--method saliency] [--profile-seconds 1]
                                        [--subject digits28/cnn_relu --subject shapes/resnet]
                                        [--out bench/results/efficiency_at_scale.md]

The measurement is ``check_efficiency.py``'s (its docstring): every top-level model pass
of a check is logged by kind, and efficiency = Σ rows × the model's best per-example cost
of that kind (``ROWS`` rows in chunks of the fastest of ``SIZES``) / the check's CPU
time; target ≥ 0.8. The scale is ``standard`` with fewer samples and attack steps
(:data:`SCALE`), so a run stays within minutes while every batched stream still fills its
chunks. Each subject runs in a worker process set up as the suites run it (one torch
thread, ``attrbench.heap.keep_freed_memory``); each check runs once to warm up and log its
passes, then ``--reps`` times (median).

ROAD's imputation is work beyond model passes (Rong et al.'s noisy linear imputation), so
its time alone on the check's own images and masks is in a second table, by each solver:
``nested_imputation`` (what ROAD calls: per image and order two Cholesky factors, removed
and kept side, up to 256 pixels; the banded solve per mask above) and
``linear_imputation`` per mask with the banded Cholesky and with the general sparse LU
(the default above 256 pixels before this issue). Checks below the target are profiled
with pyinstrument (``check_efficiency.profile``).
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

#: ``standard`` with fewer samples per check and without its cap of 4 samples per large
#: subject (``large_samples``; paper runs take every sample): e.g. Sensitivity-n's
#: 4 × 100 × 12 points flow in passes of 1024, deletion/insertion's 16 × 2 × 65 in 512.
SCALE = dataclasses.replace(
    get_scale("standard"), name="bench", max_samples=8, sensitivity_n_samples=4, fragility_samples=2,
    fragility_epsilons=(0.02,), fragility_steps=5, faithfulness_samples=16, sanity_samples=16, large_samples=None,
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
SOLVES = ("nested", "per mask, banded", "per mask, sparse LU")
#: This process's CPU time, not wall time: with one torch thread the CPU time is the work
#: done, whatever else shares the two cores.
CLOCK = time.process_time


def measure(check_fn, method, subject, reps: int):
    """(CPU seconds, passes log, run callable) of one check."""

    def run() -> None:
        ctx = CheckContext(scale=SCALE, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
        with ctx.guard.scope():
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


def road_imputations(subject, method) -> dict[str, float]:
    """CPU seconds of ROAD's imputations alone for the check's images and masks, by each
    solver (module docstring; interleaved medians of 3)."""
    x, t, b = CheckContext(scale=SCALE, generator=torch.Generator()).samples(subject, SCALE.faithfulness_samples)
    a = method.attribute(subject.model, x, t, b)
    if x.dim() == 2:  # an MLP's flat images
        x, a = (v.reshape(len(v), 1, *subject.truth["image_shape"]) for v in (x, a))
    ranks = faithfulness.feature_ranks(a, x, True)
    f = ranks.shape[1]
    counts = torch.tensor([round(p * f) for p in faithfulness.ROAD_FRACTIONS])
    images = x.repeat(2, 1, 1, 1)
    position = torch.cat([ranks, f - 1 - ranks])  # MoRF, then LeRF
    removed = (position[:, None, :] < counts[None, :, None]).reshape(-1, *x.shape[2:])
    each = images.repeat_interleave(len(counts), 0)
    fns = {
        "nested": functools.partial(imputation.nested_imputation, images, position, counts),
        "per mask, banded": functools.partial(imputation.linear_imputation, each, removed, solver="banded"),
        "per mask, sparse LU": functools.partial(imputation.linear_imputation, each, removed, solver="lu"),
    }
    return harness.interleaved_medians(fns, 3, warmup=1, clock=CLOCK) | {"images": len(each)}


def child(name: str, opts) -> None:
    """Every check of one subject, set up as the suites run (one torch thread, freed memory
    kept); one JSON line per check, then the imputation times."""
    keep_freed_memory()
    torch.set_num_threads(1)  # as the suites run (attrbench.pytest_plugin.pin_threads)
    method = methods.get(opts.method)
    subject = scale_subjects.get(name)
    for check_fn in CHECKS:
        label = check_fn.info.check
        try:
            cpu, log, run = measure(check_fn, method, subject, opts.reps)
        except Exception as exc:  # a check that refuses the subject: say so in the table
            print(json.dumps({"label": label, "error": f"{type(exc).__name__}: {exc}"[:80]}), flush=True)
            continue
        costs = ce.per_example_costs(log.passes, reps=2, rows=ROWS, sizes=SIZES, clock=CLOCK)
        work = ce.full_batch_work(log.passes, costs)
        bare = ce.bare_passes(log.passes, reps=2, clock=CLOCK)
        counts = log.rows()
        split = None
        if work / cpu < TARGET and opts.profile_seconds > 0:
            totals, hot = ce.profile(run, opts.profile_seconds)
            whole = sum(totals.values()) or 1.0
            split = [*(f"{totals.get(c, 0.0) / whole:.0%}" for c in ce.CATEGORIES), hot]
        kinds = " / ".join(str(counts[k]) for k in ce.KINDS)
        print(json.dumps({"label": label, "passes": len(log.passes), "rows": kinds, "cpu": cpu, "work": work,
                          "bare": bare, "profile": split}), flush=True)  # fmt: skip
    print(json.dumps({"solves": road_imputations(subject, method)}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="timed runs of each check (median; default 1)")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--subject", action="append", help=f"default: {', '.join(SUBJECTS)}")
    parser.add_argument("--profile-seconds", type=float, default=1.0, help="sampled seconds per missed check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "efficiency_at_scale.md")
    parser.add_argument("--child", metavar="SUBJECT", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        child(opts.child, opts)
        return 0
    names = opts.subject or list(SUBJECTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    rows, shares, solves = [], [], []
    for name in names:
        args = ["--child", name, "--reps", str(opts.reps), "--method", opts.method,
                "--profile-seconds", str(opts.profile_seconds)]  # fmt: skip
        done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr}")
        got = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        for r in (r for r in got if "label" in r):
            if "error" in r:
                rows.append([f"`{name}`", r["label"], "–", "–", "–", "–", "–", "–", r["error"]])
                continue
            rows.append([f"`{name}`", r["label"], r["passes"], r["rows"], f"{r['cpu'] * 1e3:.0f}",
                         f"{r['work'] * 1e3:.0f}", f"{r['work'] / r['cpu']:.2f}", f"{r['bare'] / r['cpu']:.2f}",
                         "met" if r["work"] / r["cpu"] >= TARGET else "missed"])  # fmt: skip
            if r["profile"]:
                shares.append([f"`{name}`", r["label"], *r["profile"]])
        sv = next(r["solves"] for r in got if "solves" in r)
        road = next((r for r in got if r.get("label") == "road" and "cpu" in r), None)
        solves.append([f"`{name}`", sv["images"], *(f"{sv[k] * 1e3:.0f}" for k in SOLVES),
                       f"{(road['work'] + sv['nested']) / road['cpu']:.2f}" if road else "–"])  # fmt: skip
        print("\n".join(" | ".join(map(str, row)) for row in rows), flush=True)
    table = tabulate(rows, headers=["subject", "check", "passes", "rows f / fb / f2b", "CPU ms",
                                    "work at full batch ms", "efficiency ↑", "efficiency at own batches",
                                    f"target ≥ {TARGET}"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    solve_table = tabulate(solves, headers=["subject", "ROAD images", *(f"{k} ms" for k in SOLVES),
                                            "road's efficiency, the nested imputation counted as work"],
                           tablefmt="github", disable_numparse=True)  # fmt: skip
    profile_table = tabulate(shares, headers=["subject", "check", *ce.CATEGORIES, "largest non-model hotspot"],
                             tablefmt="github", disable_numparse=True)  # fmt: skip
    scale = ", ".join(f"{f.name}={getattr(SCALE, f.name)}" for f in dataclasses.fields(SCALE)
                      if f.name != "name"
                      and getattr(SCALE, f.name) != getattr(get_scale("standard"), f.name))  # fmt: skip
    harness.publish(opts.out, [
        "# Efficiency of the batched checks at scale (28×28 CNN, ResNet)",
        f"Machine: {harness.machine()}; {harness.load()} at the end of the run.",
        f"Subjects: {scale_subjects.describe(names)}",
        f"Method `{opts.method}`, the standard scale with {scale}; seed 0; median of {opts.reps} run(s) after one "
        "warm-up run. Generated by "
        f"`python bench/efficiency_at_scale.py{' --reps ' + str(opts.reps) if opts.reps != 1 else ''}`. "
        "One worker process per subject, set up as the suites run (one torch thread, "
        "`attrbench.heap.keep_freed_memory()`). Rows per pass kind: f forward only, fb forward + backward, f2b "
        f"forward + double backward. Work = Σ rows × the best per-example cost of {ROWS} rows of that kind in "
        f"chunks of {', '.join(map(str, SIZES))} (the model's best throughput); efficiency = work / the check's "
        f"time (target ≥ {TARGET}); efficiency at own batches = the same passes replayed on the bare model, at "
        "the check's own batch sizes, / the check's time: what is left when small batches are not counted. All "
        "times are the process's CPU time (`time.process_time`, one torch thread).",
        table,
        "## ROAD's imputation alone",
        "The road rows' own images and masks (every sample × MoRF/LeRF × 9 fractions), interleaved medians of 3: "
        "`nested` is what ROAD calls; the per-mask solves are the same systems one mask at a time. The last "
        "column counts the nested imputation as work beside the model passes.",
        solve_table,
        "## Where the time goes (checks below the target)",
        f"pyinstrument, 0.1 ms sampling, each check repeated for {opts.profile_seconds:g} s.",
        profile_table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
