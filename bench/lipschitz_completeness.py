"""The Lipschitz estimate vs Quantus, and the completeness residual vs Captum's convergence delta.

    python bench/lipschitz_completeness.py [--reps 5] [--warmup 1] [--out bench/results/lipschitz_completeness.md]

Lipschitz (002 §4.1): attrbench's ``lipschitz`` check (random pairs, gradient ascent,
bisection; attrbench/checks/lipschitz.py) against Quantus' LocalLipschitzEstimate and
MaxSensitivity, all three on Saliency (our implementation, handed to Quantus as its
``explain_func``) on the digits MLP, at the same number of attributions per sample: the
check's count (pairs + 1 + 2 × ascent steps + 3 × 13 bisection points) is Quantus'
``nr_samples``. The estimators differ (Quantus perturbs with noise and reports a ratio per
sample), so the table compares time per attribution, not values.

Completeness (002 axiom 3): the ``completeness`` check with Integrated Gradients
(Gauss–Legendre, 50 steps) against Captum's IntegratedGradients with
``return_convergence_delta=True`` on the same inputs; both residuals are Σᵢ Aᵢ − (F(x) −
F(x′)), so their values are compared too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import torch
from tabulate import tabulate

import harness
from attrbench import methods, subjects
from attrbench.checks import axioms, lipschitz
from attrbench.checks.context import CheckContext
from attrbench.guard import Guard
from attrbench.scales import get_scale

SAMPLES = 16
SUBJECT = "digits/mlp_relu"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lipschitz_completeness.md")
    opts = parser.parse_args(argv)
    try:
        import captum
        import quantus
        from captum.attr import IntegratedGradients
    except ImportError:
        sys.exit('this benchmark needs captum and quantus: pip install "attrbench[compare]"')
    warnings.filterwarnings("ignore")

    scale = get_scale("standard")
    subject = subjects.get(SUBJECT)
    model = subject.model
    x, t = subject.inputs[:SAMPLES], subject.targets[:SAMPLES]
    saliency = methods.get("saliency")
    ctx = lambda: CheckContext(scale=scale, generator=torch.Generator().manual_seed(0),  # noqa: E731
                               guard=Guard(check_determinism=False))  # fmt: skip
    small = dataclasses.replace(subject, inputs=x, targets=t)
    per_sample = scale.lipschitz_pairs + 1 + 2 * scale.lipschitz_ascent_steps + 3 * (lipschitz.HALVINGS + 1)

    def explain(model, inputs, targets, **kwargs):
        inputs = torch.as_tensor(inputs, dtype=torch.float32)
        return saliency.attribute(model, inputs, torch.as_tensor(targets).long(), None).numpy()

    xq, tq = x.numpy(), t.numpy()
    lle = quantus.LocalLipschitzEstimate(nr_samples=per_sample, normalise=False, disable_warnings=True)
    maxs = quantus.MaxSensitivity(nr_samples=per_sample, normalise=False, disable_warnings=True)
    quantus_kw = dict(model=model, x_batch=xq, y_batch=tq, a_batch=explain(model, xq, tq), explain_func=explain,
                      device="cpu", softmax=False, channel_first=True, batch_size=SAMPLES)  # fmt: skip
    contenders = {
        "attrbench lipschitz check": lambda: lipschitz.lipschitz(saliency, small, ctx()),
        "Quantus LocalLipschitzEstimate": lambda: lle(**quantus_kw),
        "Quantus MaxSensitivity": lambda: maxs(**quantus_kw),
    }
    medians = harness.interleaved_medians(contenders, opts.reps, opts.warmup)
    ours = medians["attrbench lipschitz check"]
    attributions = per_sample * SAMPLES
    lip_rows = [[name, attributions, f"{m * 1e3:.1f}", f"{m / attributions * 1e6:.1f}", f"{m / ours:.2f}"]
                for name, m in medians.items()]  # fmt: skip
    lip_table = tabulate(lip_rows, headers=["contender", "attributions", "median ms", "µs / attribution",
                                            "time / attrbench"], tablefmt="github", disable_numparse=True)  # fmt: skip

    ig = methods.get("integrated_gradients", n_steps=50, integration="gausslegendre")
    captum_ig = IntegratedGradients(model)
    baseline = torch.zeros_like(x)

    def ours_completeness():
        return axioms.completeness(ig, small, ctx())

    def captum_delta():
        return captum_ig.attribute(x, baselines=baseline, target=t, n_steps=50, method="gausslegendre",
                                   return_convergence_delta=True)  # fmt: skip

    contenders = {"attrbench completeness check": ours_completeness, "Captum IG + convergence delta": captum_delta}
    times = harness.interleaved_medians(contenders, opts.reps, opts.warmup)
    outcome = ours_completeness()
    _, delta = captum_delta()
    attr = ig.attribute(model, x, t, baseline)
    fx = model(x).gather(1, t.view(-1, 1)).squeeze(1)
    f0 = model(baseline).gather(1, t.view(-1, 1)).squeeze(1)
    ours_residual = (attr.sum(1) - (fx - f0)).detach()
    agreement = float((ours_residual - delta.detach()).abs().max())
    ours_time = times["attrbench completeness check"]
    comp_rows = [[name, f"{m * 1e3:.1f}", f"{m / ours_time:.2f}"] for name, m in times.items()]
    comp_table = tabulate(comp_rows, headers=["contender", "median ms", "time / attrbench"], tablefmt="github",
                          disable_numparse=True)  # fmt: skip
    harness.publish(opts.out, [
        "# Lipschitz estimate vs Quantus; completeness residual vs Captum's convergence delta",
        f"Machine: {harness.machine(f'captum {captum.__version__}', f'quantus {quantus.__version__}')}.",
        f"`{SUBJECT}`, {SAMPLES} samples, Saliency (attrbench's, also as Quantus' explain_func); medians of "
        f"{opts.reps} interleaved repetitions after {opts.warmup} warm-up run(s). Generated by "
        "`python bench/lipschitz_completeness.py`.",
        "## Lipschitz, at equal attributions per sample",
        lip_table,
        f"The check's estimate: {outcome_value(lipschitz.lipschitz(saliency, small, ctx()))}; Quantus' "
        "LocalLipschitzEstimate and MaxSensitivity measure other ratios (noise perturbations, ‖ΔA‖/‖Δx‖ resp. "
        "‖ΔA‖/‖A‖), so only time per attribution is comparable.",
        "## Completeness residual",
        comp_table,
        f"Both compute Σᵢ Aᵢ − (F(x) − F(x′)) for IG (Gauss–Legendre, 50 steps, zero baseline); max |ours − "
        f"Captum's delta| = {agreement:.1e} over {SAMPLES} samples (float32). The check also integrates the "
        f"variation of F along x′ → x for its tolerance (extra forward passes); its worst normalised residual "
        f"here is {outcome.value:.2e}.",
    ])  # fmt: skip
    return 0


def outcome_value(outcome) -> str:
    return f"{outcome.value:.3g} (holds: {outcome.holds})"


if __name__ == "__main__":
    raise SystemExit(main())
