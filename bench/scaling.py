"""How each suite's main check grows with the input size and the model size (issue 22).

    python bench/scaling.py [--reps 1] [--cap 60] [--out bench/results/scaling.md]

For each suite that runs on image subjects, its main check (Sensitivity-n; fragility;
faithfulness: deletion/insertion; sanity: model randomisation) with each of a
representative set of methods (:data:`METHODS`) on

- the **size axis**: ``digits/cnn_relu`` (64 features), ``digits28/cnn_relu`` (784) and
  ``shapes/cnn`` (3072): the same architecture family (3×3 convolutions, pooling, dense);
- the **model axis**: ``shapes/cnn`` against ``shapes/resnet`` (the same 3072 features).

Time is this process's CPU time (one torch thread, freed memory kept in the heap, as a
suite run sets up its processes; the two cores are shared with other jobs) of one run of
the check after one warm-up run, at :data:`SCALE` (``quick`` with one or two samples:
how the time grows, not its size, is the point). The fitted exponent is
the least-squares slope of log time against log features over the three sizes
(:func:`fit_exponent`): 1 means the check's time grows linearly with the features.

A cell is skipped, and marked so, when the previous subject's time × the growth in
features (the prediction of a linear exponent; the ResNet is predicted from the CNN of the
same size) exceeds ``--cap`` seconds, or the previous subject was skipped, so a run stays
bounded.
The axioms, Boolean and interaction suites run on analytic subjects and circuits of 2–16
inputs, not on images: they have no size axis here.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import torch
from tabulate import tabulate

import harness
import scale_subjects
from attrbench import methods
from attrbench.checks import faithfulness, fragility, sanity, sensitivity_n
from attrbench.checks.context import CheckContext
from attrbench.guard import Guard
from attrbench.heap import keep_freed_memory
from attrbench.scales import get_scale

SCALE = dataclasses.replace(
    get_scale("quick"), name="bench", max_samples=2, sensitivity_n_samples=2, fragility_samples=1,
    faithfulness_samples=2, sanity_samples=2,
)  # fmt: skip
SUITES = {
    "sensitivity_n": sensitivity_n.sensitivity_n_curve,
    "fragility": fragility.fragility,
    "faithfulness": faithfulness.deletion_insertion_auc,
    "sanity": sanity.model_randomization,
}
#: name -> options (Shapley sampling with 5 orders instead of 25: its cost is linear in
#: the orders, so the exponent in the features is the same).
METHODS = {
    "gradient": {},
    "integrated_gradients": {},
    "deeplift_rescale": {},
    "occlusion": {},
    "shapley_sampling": {"n_samples": 5},
    "smoothgrad": {},
}
SIZES = ("digits/cnn_relu", "digits28/cnn_relu", "shapes/cnn")
MODELS = ("shapes/cnn", "shapes/resnet")
CLOCK = time.process_time


def fit_exponent(features, seconds) -> float:
    """Least-squares slope of log(seconds) against log(features): t ≈ c·F^slope."""
    xs, ys = [math.log(f) for f in features], [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if len(xs) < 2 or sxx == 0:
        raise ValueError("fit_exponent needs at least two distinct feature counts.")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def time_check(check_fn, method, subject) -> float:
    """CPU seconds of one run of the check after one warm-up run."""

    def run() -> None:
        ctx = CheckContext(scale=SCALE, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
        with ctx.guard.scope():
            check_fn(method, subject, ctx)

    run()
    start = CLOCK()
    run()
    return CLOCK() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=15.0, help="skip a cell predicted above this (s; default 15)")
    parser.add_argument("--suite", action="append", help=f"default: {', '.join(SUITES)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scaling.md")
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)  # as a suite run sets up its processes (attrbench.pytest_plugin)
    keep_freed_memory()
    names = list(dict.fromkeys(SIZES + MODELS))
    subjects = {name: scale_subjects.get(name) for name in names}
    size_rows, model_rows = [], []
    for suite in opts.suite or list(SUITES):
        check_fn = SUITES[suite]
        for method_name, params in METHODS.items():
            method = methods.get(method_name, **params)
            times: dict[str, float | str] = {}
            previous = None
            for name in names:
                predicted = None
                if previous is not None and isinstance(times[previous], float):
                    grow = scale_subjects.FEATURES[name] / scale_subjects.FEATURES[previous]
                    predicted = times[previous] * max(grow, 1.0)
                elif previous is not None and str(times[previous]).startswith(">"):
                    predicted = math.inf  # the smaller or lighter subject was already over the cap
                if predicted is not None and predicted > opts.cap:
                    times[name] = f"> {opts.cap:g} s (predicted)"
                else:
                    try:
                        times[name] = time_check(check_fn, method, subjects[name])
                    except Exception as exc:  # a check or method that refuses the subject
                        times[name] = f"{type(exc).__name__}"
                previous = name
            measured = [(scale_subjects.FEATURES[n], times[n]) for n in SIZES if isinstance(times[n], float)]
            exponent = f"{fit_exponent(*zip(*measured)):.2f}" if len(measured) == len(SIZES) else "–"
            cell = [f"{times[n]:.2f}" if isinstance(times[n], float) else times[n] for n in names]
            size_rows.append([suite, method_name, *cell[: len(SIZES)], exponent])
            a, b = (times[m] for m in MODELS)
            ratio = f"{b / a:.1f}×" if isinstance(a, float) and isinstance(b, float) else "–"
            model_rows.append([suite, method_name, *(cell[names.index(m)] for m in MODELS), ratio])
            print(" | ".join(size_rows[-1]), "||", " | ".join(model_rows[-1][2:]), flush=True)
    f = scale_subjects.FEATURES
    size_table = tabulate(size_rows, headers=["suite (main check)", "method", *(f"`{n}` {f[n]} s" for n in SIZES),
                                              "exponent (log-log fit)"],
                          tablefmt="github", disable_numparse=True)  # fmt: skip
    params = {n: scale_subjects.parameters(subjects[n]) for n in MODELS}
    model_table = tabulate(model_rows, headers=["suite (main check)", "method",
                                                *(f"`{n}` ({params[n]:,} parameters) s" for n in MODELS),
                                                "ResNet / CNN"], tablefmt="github", disable_numparse=True)  # fmt: skip
    scale = ", ".join(f"{k.name}={getattr(SCALE, k.name)}" for k in dataclasses.fields(SCALE)
                      if k.name != "name"
                      and getattr(SCALE, k.name) != getattr(get_scale("quick"), k.name))  # fmt: skip
    checks = "; ".join(f"{suite}: `{fn.info.check}`" for suite, fn in SUITES.items())
    harness.publish(opts.out, [
        "# Scaling of each suite's main check with input size and model size",
        f"Machine: {harness.machine()}; {harness.load()} at the end of the run.",
        f"Subjects: {scale_subjects.describe(names)}",
        f"Main checks: {checks}. Scale: `quick` with {scale}. Methods at their defaults but Shapley sampling "
        "(5 orders). CPU seconds of this process (one torch thread) for one run after a warm-up run. Generated by "
        f"`python bench/scaling.py{'' if opts.cap == 15 else f' --cap {opts.cap:g}'}`.",
        "## Against input size",
        size_table,
        "## Against model size (same 3072 features)",
        model_table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
