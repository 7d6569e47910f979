"""Faithfulness metrics' speed on the digits CNN: attrbench's batched deletion/insertion,
ROAD and infidelity vs Quantus' closest metrics per model evaluation, and the efficiency of
each against the model's raw batched forward throughput.

    python bench/faithfulness_speed.py [--reps 5] [--warmup 1] [--out bench/results/faithfulness_speed.md]

Subject ``digits/cnn_relu`` (trained and cached on first use), Gradient×Input attributions
(the method does not affect the timing), ``SAMPLES`` test images for attrbench and twice
as many for the Quantus metrics that compute one curve where attrbench computes two, so
both sides make about the same number of model evaluations:

- **deletion + insertion, one pixel per step**: attrbench's ``deletion_insertion``
  (2 × 65 evaluations per image) vs ``quantus.PixelFlipping(features_in_step=1)``
  (64 per image, deletion only);
- **deletion + insertion, 2×2 regions**: ``deletion_insertion(steps=16)`` (2 × 17 per
  image) vs ``quantus.RegionPerturbation(patch_size=2, regions_evaluation=16)`` (1 + 16);
- **ROAD**: attrbench's ``road`` at 10 %, …, 90 % MoRF and LeRF (2 × 9 imputed images per
  image; the imputation of all of them in one call, ``nested_imputation``: per image and
  order one Cholesky factor for the removals up to half the pixels and one, on the kept
  side, for those above) vs
  ``quantus.ROAD`` at the same percentages (MoRF only, 9 per image, one sparse solve per
  image); and the imputation of those 576 images alone, nested (and nested with every
  fraction solved from the removed side, ``kept_side=False``: one factor of up to 58
  unknowns per image and order), and one mask at a time by either of attrbench's other solvers
  (``"cg"``, the default up to 256 pixels, and ``"lu"``, one block-diagonal sparse LU);
- **infidelity** (attrbench only; Quantus' ``Infidelity`` perturbs patches by a baseline,
  another distribution): 64 Gaussian perturbations per image.

**model alone**: the same number of forward passes and nothing else at 256, 512, 1024 and
4096 inputs per pass (attrbench's faithfulness functions pass 512).
**efficiency** = evaluations × the fastest per-example forward time of
the model alone / wall time (1.0 is the model alone). Runs alternate between contenders
after a warm-up; medians are reported. Quantus computes related but different numbers
(docs/suites.md, "Not the same as Quantus and Captum"), so only time per evaluation is
compared.
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import torch
from tabulate import tabulate

import harness
from attrbench import methods, subjects
from attrbench.checks import faithfulness as fa
from attrbench.checks.imputation import linear_imputation, nested_imputation
from attrbench.functional import evaluate
from attrbench.heap import keep_freed_memory

SAMPLES = 32
PERTURBATIONS = 64
CHUNKS = (256, 512, 1024, 4096)
PERCENTAGES = [10, 20, 30, 40, 50, 60, 70, 80, 90]
NESTED = "imputation alone, nested (what ROAD calls)"
ROAD = "attrbench ROAD (MoRF + LeRF)"


def model_alone(model, x, t, evaluations: int, batch_size: int | None):
    """Forward passes of ``evaluations`` inputs and nothing else, ``batch_size`` per pass."""
    points = x.repeat(math.ceil(evaluations / len(x)), *[1] * (x.dim() - 1))[:evaluations]
    targets = t.repeat(math.ceil(evaluations / len(t)))[:evaluations]
    return lambda: evaluate(model, points, targets, batch_size)


def ours(model, x, t, a) -> dict[str, tuple]:
    """name -> (function, model evaluations)."""
    road_gen = torch.Generator().manual_seed(0)
    perts = 0.1 * torch.randn(len(x), PERTURBATIONS, *x.shape[1:], generator=torch.Generator().manual_seed(0))
    n = len(x)
    return {
        "attrbench deletion + insertion, 1 pixel/step": (
            lambda: fa.deletion_insertion(model, x, t, a, 0.0), n * 2 * 65),
        "attrbench deletion + insertion, 16 steps": (
            lambda: fa.deletion_insertion(model, x, t, a, 0.0, steps=16), n * 2 * 17),
        ROAD: (
            lambda: fa.road(model, x, t, a, generator=road_gen.manual_seed(0)), n * 2 * len(PERCENTAGES)),
        "attrbench infidelity": (
            lambda: fa.infidelity(model, x, t, a, perts, normalize=True), n * (PERTURBATIONS + 1)),
    }  # fmt: skip


def imputations(x, a) -> dict[str, callable]:
    """ROAD's 576 imputations (every sample, order and fraction) by each solver, nothing else."""
    ranks = fa.feature_ranks(a, x, True)
    f = ranks.shape[1]
    counts = torch.tensor([round(p * f / 100) for p in PERCENTAGES])
    position = torch.cat([ranks, f - 1 - ranks])  # MoRF, then LeRF
    removed = (position[:, None] < counts[None, :, None]).reshape(-1, *x.shape[2:])
    images = x.repeat(2, 1, 1, 1).repeat_interleave(len(PERCENTAGES), 0)
    per_mask = {f"imputation alone, per mask, {solver}": (lambda s=solver: linear_imputation(images, removed, solver=s))
                for solver in ("cg", "lu")}  # fmt: skip
    return {
        NESTED: lambda: nested_imputation(x.repeat(2, 1, 1, 1), position, counts),
        "imputation alone, nested, removed side only (one factor of up to 58 unknowns)":
            lambda: nested_imputation(x.repeat(2, 1, 1, 1), position, counts, kept_side=False),
    } | per_mask


def theirs(model, xq, tq, aq) -> dict[str, tuple]:
    import quantus

    common = dict(normalise=False, abs=False, disable_warnings=True)
    call = dict(model=model, x_batch=xq, y_batch=tq, a_batch=aq, device="cpu", softmax=True, channel_first=True,
                batch_size=len(xq))  # fmt: skip
    flipping = quantus.PixelFlipping(features_in_step=1, perturb_baseline="black", **common)
    regions = quantus.RegionPerturbation(patch_size=2, regions_evaluation=16, perturb_baseline="black", **common)
    road = quantus.ROAD(percentages=PERCENTAGES, noise=0.01, **common)
    n = len(xq)
    return {
        "Quantus PixelFlipping": (lambda: flipping(**call), n * 64),
        "Quantus RegionPerturbation": (lambda: regions(**call), n * 17),
        "Quantus ROAD (MoRF)": (lambda: road(**call), n * len(PERCENTAGES)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per contender (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per contender first (default 1)")
    default_out = Path(__file__).parent / "results" / "faithfulness_speed.md"
    parser.add_argument("--out", type=Path, default=default_out, help=f"markdown file (default {default_out})")
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the suites run (attrbench.pytest_plugin.pin_threads) ...
    keep_freed_memory()  # ... and its heap set-up, process-wide: for Quantus alike

    subject = subjects.get("digits/cnn_relu")
    model = subject.model
    gxi = methods.get("input_x_gradient")
    x, t = subject.inputs[:SAMPLES], subject.targets[:SAMPLES]
    a = gxi.attribute(model, x, t, None)
    contenders = ours(model, x, t, a)
    try:
        import quantus

        warnings.filterwarnings("ignore")
        xq, tq = subject.inputs[: 2 * SAMPLES], subject.targets[: 2 * SAMPLES]
        aq = gxi.attribute(model, xq, tq, None)
        contenders.update(theirs(model, xq.numpy(), tq.numpy(), aq.numpy()))
        extra = f"quantus {quantus.__version__}"
    except ImportError:
        extra = "quantus not installed (pip install attrbench[compare])"
    largest = max(count for _, count in contenders.values())
    alone = {f"model alone, {size} inputs per pass": model_alone(model, x, t, largest, size) for size in CHUNKS}
    solves = imputations(x, a)
    fns = {name: fn for name, (fn, _) in contenders.items()} | alone | solves
    medians = harness.interleaved_medians(fns, opts.reps, opts.warmup)
    per_example = min(medians[name] for name in alone) / largest

    rows = []
    for name, (_, count) in contenders.items():
        median = medians[name]
        rows.append([name, count, f"{median * 1e3:.1f}", f"{median / count * 1e6:.2f}",
                     f"{count * per_example / median:.2f}"])  # fmt: skip
    for name in alone:
        rows.append([name, largest, f"{medians[name] * 1e3:.1f}", f"{medians[name] / largest * 1e6:.2f}",
                     f"{per_example * largest / medians[name]:.2f}"])  # fmt: skip
    table = tabulate(rows, headers=["contender", "model evaluations", "median ms", "µs / evaluation", "efficiency ↑"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip

    def ratio(mine: str, other: str) -> str:
        if other not in medians:
            return "–"
        a_eval = medians[mine] / contenders[mine][1]
        b_eval = medians[other] / contenders[other][1]
        return f"{b_eval / a_eval:.1f}×"

    pairs = [("attrbench deletion + insertion, 1 pixel/step", "Quantus PixelFlipping"),
             ("attrbench deletion + insertion, 16 steps", "Quantus RegionPerturbation"),
             ("attrbench ROAD (MoRF + LeRF)", "Quantus ROAD (MoRF)")]  # fmt: skip
    versus = tabulate([[m, o, ratio(m, o)] for m, o in pairs],
                      headers=["attrbench", "Quantus", "Quantus time per evaluation ÷ attrbench's"],
                      tablefmt="github")  # fmt: skip
    solve_table = tabulate([[name, f"{medians[name] * 1e3:.1f}"] for name in solves],
                           headers=["ROAD's 576 imputations (digits, 8×8)", "median ms"], tablefmt="github")
    harness.publish(opts.out, [
        "# Faithfulness metrics: attrbench vs Quantus per model evaluation, and efficiency",
        f"Machine: {harness.machine(extra)}.",
        f"`digits/cnn_relu`, Gradient×Input maps, {SAMPLES} images for attrbench and {2 * SAMPLES} for the "
        f"Quantus metrics (one curve each where attrbench computes two); medians of {opts.reps} interleaved "
        f"repetitions after {opts.warmup} warm-up run(s). Generated by `python bench/faithfulness_speed.py`; "
        "the script's docstring says what each contender computes.",
        table,
        versus,
        solve_table,
        "Efficiency = model evaluations × the fastest per-example time of the model alone / wall time "
        "(target ≥ 0.8). ROAD's time includes the imputation (per image and order one Cholesky factor for the "
        "removals up to half the pixels and one on the kept side above, float64) on top of the forward passes: "
        "real work beyond model evaluations, shown alone in the last table. Counting that imputation as work "
        "beside the model evaluations, ROAD's efficiency is "
        f"{(contenders[ROAD][1] * per_example + medians[NESTED]) / medians[ROAD]:.2f}.",
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
