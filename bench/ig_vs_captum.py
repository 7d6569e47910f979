"""attrbench's built-in methods against Captum: wall time and agreement, in one process.

    python bench/ig_vs_captum.py [--reps 15] [--warmup 3] [--out bench/results/ig_vs_captum.md]

Two float32 models (an MLP 64→128→128→10 and a small CNN on 1×8×8 digit-sized images,
both ReLU, no max-pool), batch 64, zero baseline. For each method the two libraries run
alternately (ours, Captum, Captum, ours, ...) after a warm-up, so drift in machine load
hits both; the table gives median milliseconds, the ratio ours/Captum (< 1: attrbench
is faster) and the largest absolute difference of the attributions.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from tabulate import tabulate
from torch import nn

try:
    import captum
    import captum.attr as ca
except ImportError:  # pragma: no cover - message for people running the script
    sys.exit('this benchmark needs captum: pip install "attrbench[compare]"')

import harness
from attrbench import methods

BATCH = 64
N_STEPS = 50
N_CLASSES = 10


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, N_CLASSES)
    )


def cnn() -> nn.Module:
    # Strided convolutions instead of max-pool: Captum's DeepLift has a special max-pool rule.
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, N_CLASSES),
    )


def subjects():
    torch.manual_seed(0)
    for name, make, shape in (("MLP 64-128-128-10", mlp, (64,)), ("CNN 1x8x8", cnn, (1, 8, 8))):
        model = make().eval().requires_grad_(False)
        x = torch.rand(BATCH, *shape)  # digit-like intensities in [0, 1]
        yield name, model, x, torch.arange(BATCH) % N_CLASSES, torch.zeros_like(x)


def pairs(x):
    """(method label, ours(model, x, t, b), captum(model, x, t, b)) for every comparison."""
    d = x[0].numel()
    window = (1,) * (x.dim() - 1)

    def ours(name, **params):
        method = methods.get(name, **params)
        return lambda m, x, t, b: method.attribute(m, x, t, b)

    def ig(rule):
        return lambda m, x, t, b: ca.IntegratedGradients(m).attribute(
            x, baselines=b, target=t, n_steps=N_STEPS, method=rule
        )

    def occlusion(per_eval):
        return lambda m, x, t, b: ca.Occlusion(m).attribute(
            x, sliding_window_shapes=window, strides=1, baselines=b, target=t, perturbations_per_eval=per_eval
        )

    return [
        (
            "IG gausslegendre, 50 steps",
            ours("integrated_gradients", n_steps=N_STEPS, integration="gausslegendre"),
            ig("gausslegendre"),
        ),
        (
            "IG riemann_trapezoid, 50 steps",
            ours("integrated_gradients", n_steps=N_STEPS, integration="riemann_trapezoid"),
            ig("riemann_trapezoid"),
        ),
        ("Saliency", ours("saliency"), lambda m, x, t, b: ca.Saliency(m).attribute(x, target=t, abs=True)),
        (
            "InputXGradient",
            ours("input_x_gradient"),
            lambda m, x, t, b: ca.InputXGradient(m).attribute(x, target=t),
        ),
        (
            "DeepLift (Rescale)",
            ours("deeplift_rescale"),
            lambda m, x, t, b: ca.DeepLift(m).attribute(x, baselines=b, target=t),
        ),
        ("Occlusion-1 (Captum perturbations_per_eval=1, its default)", ours("occlusion"), occlusion(1)),
        (f"Occlusion-1 (Captum perturbations_per_eval={d})", ours("occlusion"), occlusion(d)),
    ]


def compare(ours, theirs, args, reps: int, warmup: int):
    medians = harness.interleaved_medians({"ours": lambda: ours(*args), "theirs": lambda: theirs(*args)}, reps, warmup)
    a, b = ours(*args), theirs(*args)
    diff = (a.double() - b.double()).abs().max().item()
    return medians["ours"], medians["theirs"], diff, b.abs().max().item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per library (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per library first (default 3)")
    default_out = Path(__file__).parent / "results" / "ig_vs_captum.md"
    parser.add_argument("--out", type=Path, default=default_out, help=f"markdown file (default {default_out})")
    opts = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="captum")  # DeepLift's note about its hooks

    rows = []
    for model_name, model, x, t, b in subjects():
        for label, ours, theirs in pairs(x):
            t_ours, t_theirs, diff, scale = compare(ours, theirs, (model, x, t, b), opts.reps, opts.warmup)
            rows.append(
                [label, model_name, 1e3 * t_ours, 1e3 * t_theirs, t_ours / t_theirs, diff, diff / scale]
            )
            print(f"  {model_name:18s} {label:60s} {t_ours / t_theirs:5.2f}", file=sys.stderr)

    headers = [
        "method", "model", "attrbench ms", "Captum ms", "ours/Captum ↓", "max |Δ|", "max |Δ| / max |Captum|"
    ]
    table = tabulate(rows, headers, tablefmt="github", floatfmt=("", "", ".2f", ".2f", ".2f", ".1e", ".1e"))
    text = (
        "# attrbench vs Captum: wall time and agreement\n\n"
        f"Machine: {harness.machine(f'captum {captum.__version__}')}.\n\n"
        f"Batch {BATCH}, float32, zero baseline, targets arange(64) % 10; medians of {opts.reps} "
        f"interleaved repetitions per library after {opts.warmup} warm-up runs each, one process. "
        "Generated by `python bench/ig_vs_captum.py`.\n\n"
        f"{table}\n\n"
        "Notes: the IG riemann_trapezoid difference is Captum's, not rounding: Captum 0.9 puts its "
        "nodes at linspace(0, 1, n) but weighs them 1/n (halved at the ends), so its attributions "
        "are (n-1)/n = 0.98 of the trapezoid rule's (tests/test_captum_agreement.py). Every other "
        "difference is float32 rounding. Occlusion is shown against Captum's default (one forward "
        "pass per feature) and against Captum batching all features in one pass, like attrbench.\n"
    )
    print(text)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(text, encoding="utf-8")
    print(f"wrote {opts.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
