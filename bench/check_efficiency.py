"""Efficiency of every check, and where its time goes (pyinstrument profile).

    python bench/check_efficiency.py [--reps 3] [--method saliency] [--suite NAME]
                                     [--out bench/results/check_efficiency.md]

Each check of the suites runs at the standard scale with one method on one subject
of its suite (listed in the table). Global module hooks log every top-level model pass
of the check (the subject's model, the surrogate or a network the check builds): its
batch, and its kind: forward only (the output carries no graph), forward + backward
(a graph), or forward + double backward (a graph that ``torch.autograd.grad`` was asked
to differentiate with ``create_graph=True``: an attack or gradient ascent differentiates
the attribution itself).

- **work at full batch** = Σ rows × c_kind, with c_f, c_fb, c_f2b the per-example costs of
  the same model on 4096 inputs in chunks of 256, 1024 or 4096, whichever is fastest
  (forward; forward then ∇ₓ of the target scores; forward, ∇ₓ with a graph, then ∇ₓ of
  Σ|∇ₓF|): the model's best batched throughput.
- **efficiency** = work at full batch / the check's CPU time (target ≥ 0.5): the share of the check's
  time the model would need at its best batched throughput.
- **bare passes**: the logged passes replayed through the bare models at the check's own
  batch sizes, nothing else (random inputs of the logged shapes); **efficiency at own
  batches** = bare passes / the check's time separates attrbench's own overhead (the method's
  arithmetic, the guard, the check) from the cost of the batch sizes a sequential
  algorithm (attack iterates, bisection, ascent steps) allows.

The check, the replay and the model-alone chunks are timed in the same rounds, interleaved
(``interleaved_efficiency``): timed one after the other, the VM's drift between the two
phases moved single efficiencies by 20–40 % from process to process.

The profile table comes from one more run of each check under pyinstrument (0.1 ms
sampling, the check repeated until 2 s are sampled) and splits its time into model
forward passes, autograd backward passes, the guard (attrbench/guard.py outside the
method), the method's own code, and the check's bookkeeping, with the largest
non-model hotspot.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tabulate import tabulate

import harness
from attrbench import methods, subjects
from attrbench.checks import axioms, boolean, faithfulness, fragility, sensitivity_n
from attrbench.checks.context import CheckContext
from attrbench.checks.lipschitz import lipschitz
from attrbench.heap import keep_freed_memory
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
    (faithfulness.deletion_insertion_auc, "digits/cnn_tanh"),
    (faithfulness.road_accuracy, "digits/cnn_tanh"),
    (faithfulness.infidelity_normalized, "digits/cnn_tanh"),
]
KINDS = ("f", "fb", "f2b")
FULL_BATCH = 4096
CHUNKS = (256, 1024, 4096)


@dataclass
class Pass:
    model: torch.nn.Module
    shape: tuple[int, ...]
    dtype: torch.dtype
    kind: str


@dataclass
class PassLog:
    """Top-level model passes, logged by global module hooks while ``active``."""

    passes: list[Pass] = field(default_factory=list)
    active: bool = False
    _depth: int = 0

    def pre(self, module, args) -> None:
        self._depth += 1

    def post(self, module, args, out) -> None:
        self._depth -= 1
        if self.active and self._depth == 0 and args and isinstance(args[0], torch.Tensor):
            kind = "fb" if isinstance(out, torch.Tensor) and out.requires_grad else "f"
            self.passes.append(Pass(module, tuple(args[0].shape), args[0].dtype, kind))

    def graph_differentiated(self) -> None:
        """``autograd.grad(create_graph=True)``: the last graph pass gets a second backward."""
        for p in reversed(self.passes):
            if p.kind == "fb":
                p.kind = "f2b"
                return

    def rows(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for p in self.passes:
            out[p.kind] += p.shape[0]
        return out


def install(log: PassLog):
    """Hooks and the ``torch.autograd.grad`` wrapper feeding ``log``; returns an undo."""
    handles = [
        torch.nn.modules.module.register_module_forward_pre_hook(log.pre),
        torch.nn.modules.module.register_module_forward_hook(log.post),
    ]
    original = torch.autograd.grad

    def grad(*args, **kwargs):
        if log.active and kwargs.get("create_graph"):
            log.graph_differentiated()
        return original(*args, **kwargs)

    torch.autograd.grad = grad

    def undo() -> None:
        torch.autograd.grad = original
        for h in handles:
            h.remove()

    return undo


def run_pass(model, x: torch.Tensor, kind: str) -> None:
    """One pass of ``kind`` on ``x`` (targets: column 0)."""
    if kind == "f":
        with torch.no_grad():
            model(x)
        return
    point = x.detach().requires_grad_(True)
    f = model(point)[:, 0].sum()
    (g,) = torch.autograd.grad(f, point, create_graph=kind == "f2b")
    if kind == "f2b":
        torch.autograd.grad(g.abs().sum(), point)


def chunked_passes(model, x: torch.Tensor, kind: str, size: int):
    """A callable running ``run_pass`` over all of ``x`` in chunks of ``size`` rows."""
    return lambda: [run_pass(model, x[i : i + size], kind) for i in range(0, len(x), size)]


def inputs_for(p: Pass, rows: int | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(((rows or p.shape[0]), *p.shape[1:]), generator=gen, dtype=p.dtype)


def per_example_costs(
    passes: list[Pass], reps: int = 5, rows: int = FULL_BATCH, sizes: tuple[int, ...] = CHUNKS,
    clock=time.perf_counter,
) -> dict[tuple[int, str], float]:
    """Seconds per example of ``rows`` rows in chunks of the fastest of ``sizes``,
    per (model, kind) logged: the model's best batched throughput."""
    costs = {}
    for p in {(id(p.model), p.kind): p for p in passes}.values():
        times = harness.interleaved_medians(model_alone(p, rows, sizes), reps, warmup=1, clock=clock)
        costs[id(p.model), p.kind] = min(times.values()) / rows
    return costs


def model_alone(p: Pass, rows: int, sizes: tuple[int, ...]) -> dict[int, object]:
    """chunk size -> a callable running ``rows`` random rows of ``p``'s model and kind in
    chunks of that size: the reference passes of the model's best batched throughput."""
    x = inputs_for(p, rows)
    return {size: chunked_passes(p.model, x, p.kind, size) for size in sizes}


def full_batch_work(passes: list[Pass], costs: dict[tuple[int, str], float]) -> float:
    """Σ rows × the per-example cost of their model and kind (``costs`` as from
    :func:`per_example_costs`): the work at full batch."""
    return sum(p.shape[0] * costs[id(p.model), p.kind] for p in passes)


def replay(passes: list[Pass]):
    """A callable replaying the logged passes on the bare models, inputs made beforehand."""
    inputs = [inputs_for(p) for p in passes]
    return lambda: [run_pass(p.model, x, p.kind) for p, x in zip(passes, inputs)]


def bare_passes(passes: list[Pass], reps: int, clock=time.perf_counter) -> float:
    """Median seconds of the logged passes replayed on the bare models, inputs made beforehand."""
    return harness.interleaved_medians({"replay": replay(passes)}, reps, warmup=1, clock=clock)["replay"]


def interleaved_efficiency(
    run, passes: list[Pass], reps: int, rows: int = FULL_BATCH, sizes: tuple[int, ...] = CHUNKS,
    clock=time.perf_counter,
) -> tuple[float, float, float]:
    """(the check's median seconds, its work at full batch, its bare passes): the check,
    the replay of its passes and every model's passes in chunks of each of ``sizes``, timed
    in the same interleaved rounds, so that drift of the machine between them does not
    enter the ratios."""
    unique = {(id(p.model), p.kind): p for p in passes}
    fns = {"check": run, "bare": replay(passes)}
    for key, p in unique.items():
        fns |= {(key, size): fn for size, fn in model_alone(p, rows, sizes).items()}
    times = harness.interleaved_medians(fns, reps, warmup=1, clock=clock)
    per_example = {key: min(times[key, size] for size in sizes) / rows for key in unique}
    return times["check"], full_batch_work(passes, per_example), times["bare"]


# -- the profile -------------------------------------------------------------------------

#: This process's CPU time: with one torch thread it is the work done, without the wall
#: clock's noise from whatever else the (virtual) machine runs.
CLOCK = time.process_time
CATEGORIES = ("model forward", "autograd backward", "guard", "method, own code", "check, own code")


def _is_module_call(frame) -> bool:
    return (frame.file_path or "").endswith("torch/nn/modules/module.py") and frame.function in (
        "_wrapped_call_impl", "_call_impl")  # fmt: skip


def _is_backward(frame) -> bool:
    path = frame.file_path or ""
    return (path.endswith("torch/autograd/__init__.py") and frame.function in ("grad", "backward")) or (
        path.endswith("torch/_tensor.py") and frame.function == "backward")  # fmt: skip


def profile_shares(frame) -> tuple[dict[str, float], str]:
    """Seconds per category of a pyinstrument frame tree, and the largest self-time
    function outside model passes (``file:function``)."""
    totals: dict[str, float] = defaultdict(float)
    hot: dict[str, float] = defaultdict(float)

    def walk(f, mode: str) -> None:
        if f.is_synthetic:  # a [self] leaf: its time is already in the parent's total_self_time
            return
        if _is_module_call(f):
            totals["model forward"] += f.time
            return
        if _is_backward(f):
            totals["autograd backward"] += f.time
            return
        path = f.file_path or ""
        if path.endswith("attrbench/guard.py"):
            mode = "guard"
        elif path.endswith("attrbench/methods/registry.py") and f.function == "attribute":
            mode = "method, own code"
        totals[mode] += f.total_self_time
        if f.total_self_time:
            hot[f"{Path(path).name}:{f.function}"] += f.total_self_time
        for child in f.children:
            walk(child, mode)

    walk(frame, "check, own code")
    top = max(hot, key=hot.get) if hot else ""
    return totals, f"`{top}` {hot[top] / max(frame.time, 1e-12):.0%}" if top else ""


def profile(run, seconds: float = 2.0):
    from pyinstrument import Profiler

    profiler = Profiler(interval=1e-4)
    profiler.start()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
    profiler.stop()
    return profile_shares(profiler.last_session.root_frame())


# -- the tables -----------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each check (median; default 3)")
    parser.add_argument("--method", default="saliency")
    parser.add_argument("--profile-seconds", type=float, default=2.0, help="sampled seconds per check (default 2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "check_efficiency.md")
    parser.add_argument("--suite", action="append", help="only the checks of this suite (repeatable; default: all)")
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the suites run (attrbench.pytest_plugin.pin_threads) ...
    keep_freed_memory()  # ... and attrbench.pytest_plugin's heap set-up
    scale = get_scale("standard")
    method = methods.get(opts.method)
    rows, shares = [], []
    for check_fn, name in CHECKS:
        if opts.suite and check_fn.info.suite not in opts.suite:
            continue
        subject = subjects.get(name)

        def run(check_fn=check_fn, subject=subject) -> None:
            ctx = CheckContext(scale=scale, generator=torch.Generator().manual_seed(0), guard=Guard(seed=0))
            with ctx.guard.scope():  # as the pytest plugin runs a check
                check_fn(method, subject, ctx)

        log = PassLog()
        undo = install(log)
        try:
            log.active = True
            run()  # warms up and logs the passes
        finally:
            log.active = False
            undo()
        wall, work, bare = interleaved_efficiency(run, log.passes, opts.reps, clock=CLOCK)
        counts = log.rows()
        info = check_fn.info
        rows.append([info.suite, info.check, f"`{name}`", len(log.passes),
                     " / ".join(str(counts[k]) for k in KINDS), f"{wall * 1e3:.1f}", f"{work * 1e3:.2f}",
                     f"{work / wall:.2f}", f"{bare * 1e3:.1f}", f"{bare / wall:.2f}"])  # fmt: skip
        totals, hot = profile(run, opts.profile_seconds) if opts.profile_seconds > 0 else ({}, "")
        whole = sum(totals.values()) or 1.0
        shares.append([info.check, f"`{name}`", *(f"{totals.get(c, 0.0) / whole:.0%}" for c in CATEGORIES), hot])
    table = tabulate(rows, headers=["suite", "check", "subject", "passes", "rows f / fb / f2b", "CPU ms",
                                    "work at full batch ms", "efficiency ↑", "bare passes ms",
                                    "efficiency at own batches ↑"],
                     tablefmt="github", disable_numparse=True)  # fmt: skip
    profile_table = tabulate(shares, headers=["check", "subject", *CATEGORIES, "largest non-model hotspot"],
                             tablefmt="github", disable_numparse=True)  # fmt: skip
    harness.publish(opts.out, [
        "# Efficiency of every check",
        f"Machine: {harness.machine()}.",
        f"Method `{opts.method}`, standard scale, seed 0; medians of {opts.reps} runs after one warm-up run, "
        "interleaved round by round with the model-alone passes it is compared with. "
        "Generated by `python bench/check_efficiency.py`. Rows per pass kind: f forward only, fb forward + "
        "backward, f2b forward + double backward. Efficiency = Σ rows × the best per-example cost of "
        f"{FULL_BATCH} rows of that kind in chunks of {', '.join(map(str, CHUNKS))} / the check's time; efficiency "
        "at own batches = the same passes replayed on the bare model / the check's time (see the script's "
        "docstring). Times are this process's CPU time (`time.process_time`) with one torch thread and freed "
        "memory kept, as the suites run: the VM's wall clock varies by ±20 % from run to run.",
        table,
        "## Where the time goes",
        f"pyinstrument, 0.1 ms sampling, each check repeated for {opts.profile_seconds:g} s; shares of the "
        "sampled time (the guard's determinism re-run of a test's first call counts as model and method time).",
        profile_table,
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
