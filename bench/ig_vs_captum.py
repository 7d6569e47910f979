"""attrbench's built-in methods against Captum: wall time and agreement, in one process.

    python bench/ig_vs_captum.py [--reps 15] [--warmup 3] [--out bench/results/ig_vs_captum.md]

The bundled digits models ``digits/mlp_relu`` (64→128→128→10) and ``digits/cnn_relu``
(two 3×3 convolutions, average pooling, two linear layers), float32, on their first 64
test images with their targets and the zero baseline. For each method the two libraries run
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

try:
    import captum
    import captum.attr as ca
except ImportError:  # pragma: no cover - message for people running the script
    sys.exit('this benchmark needs captum: pip install "attrbench[compare]"')

import harness
from attrbench import methods

BATCH = 64
N_STEPS = 50


#: The bundled digits models (trained once, then loaded from the cache), both ReLU.
SUBJECTS = ("digits/mlp_relu", "digits/cnn_relu")


def subjects():
    """(label, model, x, targets, baseline): the first BATCH test images of each subject,
    its targets, and the zero baseline."""
    from attrbench import subjects as registry

    for name in SUBJECTS:
        s = registry.get(name)
        x = s.inputs[:BATCH]
        yield f"`{name}`", s.model, x, s.targets[:BATCH], torch.zeros_like(x)


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
        f"`digits/mlp_relu` (64→128→128→10) and `digits/cnn_relu` (two 3×3 convolutions, average pooling, two "
        f"linear layers), ReLU; batch {BATCH} (the subjects' first test images), float32, zero baseline, the "
        "subjects' targets; "
        f"medians of {opts.reps} "
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
