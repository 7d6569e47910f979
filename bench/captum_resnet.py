"""attrbench against Captum on the ResNet (issue 22): IG, DeepLIFT, occlusion and Shapley
sampling, wall time and agreement, in one process.

    python bench/captum_resnet.py [--reps 3] [--warmup 1] [--subject shapes/resnet]
                                  [--out bench/results/captum_resnet.md]

The subject's model (3×32×32 inputs, BatchNorm, skip connections; a stand-in of the same
shape until ``shapes/resnet`` is registered, ``scale_subjects.py``), float32, its first
test images and targets, the zero baseline. Both libraries get the same inputs, baseline,
steps, windows and samples:

- **IG**: 50 steps, Gauss–Legendre (both), :data:`BATCH` images.
- **DeepLIFT (Rescale)**: Captum's ``DeepLift`` (its Rescale rule), :data:`BATCH` images;
  again in float64 (model and inputs): the Rescale multiplier Δy/Δx divides by small
  differences, so float32 rounding of two equal computations shows there and vanishes here.
- **Occlusion-1**: one feature (element) at a time to the baseline, Captum's
  ``Occlusion(sliding_window_shapes=(1, 1, 1), strides=1)`` at its default (one
  perturbation per forward pass) and batched (``perturbations_per_eval`` =
  :data:`PER_EVAL`), :data:`SMALL` image(s).
- **Shapley sampling**: :data:`N_SAMPLES` permutations of the 3072 elements. Captum draws
  its permutations with ``torch.randperm`` from the global RNG, attrbench from its own
  seeded generator, so the two estimates differ by sampling noise unless the orders are the
  same. Captum's ``ShapleyValueSampling`` takes its orders from the instance attribute
  ``permutation_generator``, so it is handed attrbench's orders (the argsort of
  ``torch.rand((n_samples, D))`` from a generator seeded with the method's seed, as
  ``attrbench.methods.shapley`` draws them): with the same orders the two compute the same
  estimator, and "equal values" means equal up to float32 rounding of the differences
  F(x_{S∪i}) − F(x_S). Both at Captum's default evaluation (one perturbation per pass)
  and batched, :data:`SMALL` image(s).

Repetitions alternate between the libraries after a warm-up (``harness.interleaved_medians``);
medians, the ratio ours/Captum (≤ 1: attrbench at least as fast) and the largest absolute
and relative difference of the attributions.
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
import time
import warnings
from pathlib import Path

import torch
from tabulate import tabulate

try:
    import captum
    import captum.attr as ca
except ImportError:  # pragma: no cover - message for people running the script
    sys.exit('this benchmark needs captum: pip install "attrbench[compare]"')

import harness
import scale_subjects
from attrbench import methods
from attrbench.heap import keep_freed_memory

BATCH = 8
SMALL = 1
N_STEPS = 50
N_SAMPLES = 2
SEED = 0
PER_EVAL = 256
#: This process's CPU time (one torch thread): other jobs share the machine's two cores.
CLOCK = time.process_time


def ours(name: str, **params):
    method = methods.get(name, **params)
    return lambda m, x, t, b: method.attribute(m, x, t, b)


def attrbench_orders(d: int, n_samples: int = N_SAMPLES, seed: int = SEED) -> list[list[int]]:
    """The feature orders attrbench's ``shapley_sampling`` draws: ranks are
    ``rand.argsort(1).argsort(1)``, so the order (features by rank) is ``rand.argsort(1)``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n_samples, d), generator=gen).argsort(1).tolist()


def shapley(per_eval: int):
    def run(m, x, t, b):
        sv = ca.ShapleyValueSampling(m)
        orders = attrbench_orders(x[0].numel())
        sv.permutation_generator = lambda num_features, num_samples: iter(orders)
        return sv.attribute(x, baselines=b, target=t, n_samples=N_SAMPLES, perturbations_per_eval=per_eval)

    return run


def occlusion(per_eval: int):
    return lambda m, x, t, b: ca.Occlusion(m).attribute(
        x, sliding_window_shapes=(1, 1, 1), strides=1, baselines=b, target=t, perturbations_per_eval=per_eval
    )


#: (label, images, ours, Captum)
PAIRS = [
    (f"IG gausslegendre, {N_STEPS} steps", BATCH,
     ours("integrated_gradients", n_steps=N_STEPS, integration="gausslegendre"),
     lambda m, x, t, b: ca.IntegratedGradients(m).attribute(x, baselines=b, target=t, n_steps=N_STEPS,
                                                            method="gausslegendre")),
    ("DeepLift (Rescale)", BATCH, ours("deeplift_rescale"),
     lambda m, x, t, b: ca.DeepLift(m).attribute(x, baselines=b, target=t)),
    ("DeepLift (Rescale), float64 model and inputs", BATCH, ours("deeplift_rescale"),
     lambda m, x, t, b: ca.DeepLift(m).attribute(x, baselines=b, target=t)),
    ("Occlusion-1 (Captum perturbations_per_eval=1, its default)", SMALL, ours("occlusion"), occlusion(1)),
    (f"Occlusion-1 (Captum perturbations_per_eval={PER_EVAL})", SMALL, ours("occlusion"), occlusion(PER_EVAL)),
    (f"Shapley sampling, {N_SAMPLES} orders (Captum perturbations_per_eval=1, its default)", SMALL,
     ours("shapley_sampling", n_samples=N_SAMPLES, seed=SEED), shapley(1)),
    (f"Shapley sampling, {N_SAMPLES} orders (Captum perturbations_per_eval={PER_EVAL})", SMALL,
     ours("shapley_sampling", n_samples=N_SAMPLES, seed=SEED), shapley(PER_EVAL)),
]  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per library (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per library first (default 1)")
    parser.add_argument("--subject", default="shapes/resnet")
    default_out = Path(__file__).parent / "results" / "captum_resnet.md"
    parser.add_argument("--out", type=Path, default=default_out, help=f"markdown file (default {default_out})")
    opts = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="captum")  # DeepLift's note about its hooks
    torch.set_num_threads(1)
    kept = keep_freed_memory()  # process-wide, so for both libraries alike, as a suite run sets it up
    subject = scale_subjects.get(opts.subject)
    rows = []
    for label, n, mine, theirs in PAIRS:
        x, t, model = subject.inputs[:n], subject.targets[:n], subject.model
        if "float64" in label:  # the same computation without float32 rounding
            x, model = x.double(), copy.deepcopy(model).double()
        args = (model, x, t, torch.zeros_like(x))
        try:
            fns = {"ours": functools.partial(mine, *args), "theirs": functools.partial(theirs, *args)}
            medians = harness.interleaved_medians(fns, opts.reps, opts.warmup, clock=CLOCK)
        except Exception as exc:  # a library that refuses the model: say which and why
            rows.append([label, n, "–", "–", "–", f"{type(exc).__name__}: {exc}"[:90], "–"])
            continue
        a, b = mine(*args).double(), theirs(*args).double()
        diff = (a - b).abs().max().item()
        ratio = medians["ours"] / medians["theirs"]
        rows.append([label, n, f"{medians['ours'] * 1e3:.0f}", f"{medians['theirs'] * 1e3:.0f}", f"{ratio:.2f}",
                     f"{diff:.1e}", f"{diff / b.abs().max().item():.1e}"])  # fmt: skip
        print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    table = tabulate(rows, headers=["method", "images", "attrbench ms", "Captum ms", "ours/Captum ↓", "max |Δ|",
                                    "max |Δ| / max |Captum|"], tablefmt="github", disable_numparse=True)  # fmt: skip
    harness.publish(opts.out, [
        "# attrbench vs Captum on the ResNet: wall time and agreement",
        f"Machine: {harness.machine(f'captum {captum.__version__}')}; {harness.load()}.",
        f"Subject: {scale_subjects.describe([opts.subject])} float32, zero baseline, the subject's first inputs "
        f"and targets; medians of {opts.reps} interleaved repetitions per library after {opts.warmup} warm-up "
        f"run(s), one process, one torch thread, freed memory kept in the heap for both libraries "
        f"(`attrbench.heap.keep_freed_memory()`: {kept}); times are this process's CPU time (the cores are shared). "
        "Generated by `python bench/captum_resnet.py`. Shapley sampling: Captum is handed "
        "attrbench's feature orders (the script's docstring), so equal values are expected up to float32 "
        "rounding.",
        table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
