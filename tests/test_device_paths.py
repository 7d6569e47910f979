"""The code paths that run only for a non-CPU device (``--attrbench-device cuda``), run on a
machine without a GPU.

Issue "Every check runs with ``--attrbench-device cuda`` where a GPU exists and gives the
same results within tolerance; no GPU-only code path is left untested on CPU". Two stand-ins
make those paths run here:

- a CPU ``torch.Generator`` in ``torch.cuda.default_generators`` for the guard's seeding
  of a CUDA device's generator;
- PyTorch's ``meta`` device for "another device than the CPU": a module or tensor moves
  there like to CUDA, and an operation mixing a meta tensor with a CPU tensor raises
  (``Tensor on device cpu is not on the expected device meta``), as one mixing CUDA and
  CPU tensors does. Meta tensors hold no values, so this finds tensors created on the
  wrong device in code that does not read values (``float``, ``bool``, ``.item()``).

Each test's docstring says where its expectation comes from.
"""

from __future__ import annotations

import random
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from attrbench import methods, subjects
from attrbench.guard import GIB, _Scope, memory_limit, seeded
from attrbench.subjects.registry import Subject

META = torch.device("meta")


def on_meta(*values) -> bool:
    return all(v.device.type == "meta" for v in values)


def fresh_draw(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed))


def host_rng_states() -> tuple:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def assert_host_rngs_equal(a: tuple, b: tuple) -> None:
    assert torch.equal(a[0], b[0])
    assert a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1]) and a[1][2:] == b[1][2:]
    assert a[2] == b[2]


# -- the guard (attrbench/guard.py) -----------------------------------------------------------


@pytest.mark.parametrize(("device", "index"), [(torch.device("cuda"), 0), (torch.device("cuda", 1), 1)])
def test_seeded_on_cuda_seeds_that_devices_generator_and_restores_every_rng(monkeypatch, device, index):
    """guard.py's module doc and ``seeded``: a call on a CUDA device runs with the global
    RNGs seeded — the device's default generator (``torch.cuda.default_generators[index]``,
    index 0 for a bare ``cuda``) too — and all of them are restored after. A fake CUDA
    generator (a CPU one) stands in: inside the block it draws what a generator freshly
    seeded with the seed draws; the other device's generator is not touched."""
    fakes = (torch.Generator().manual_seed(100), torch.Generator().manual_seed(101))
    for g in fakes:
        torch.rand(3, generator=g)  # somewhere in the middle of their streams
    monkeypatch.setattr(torch.cuda, "default_generators", fakes)
    states = [g.get_state() for g in fakes]
    host = host_rng_states()
    with seeded(7, device):
        assert torch.equal(torch.rand(4, generator=fakes[index]), fresh_draw(7))
        assert torch.equal(fakes[1 - index].get_state(), states[1 - index])
        assert torch.equal(torch.rand(4), fresh_draw(7))
        assert np.random.random() == np.random.RandomState(7).random_sample()
        assert random.random() == random.Random(7).random()
    assert torch.equal(fakes[index].get_state(), states[index])
    assert torch.equal(fakes[1 - index].get_state(), states[1 - index])
    assert_host_rngs_equal(host_rng_states(), host)


def test_guard_scope_saves_a_cuda_generator_at_first_use_and_restores_it_at_close(monkeypatch):
    """guard.py ``Guard.scope``/``_Scope``: within one test's scope every call seeds the
    device's generator; its state is saved the first time that device is used (not again)
    and put back when the scope closes, with the host RNGs."""
    fakes = (torch.Generator().manual_seed(200), torch.Generator().manual_seed(201))
    monkeypatch.setattr(torch.cuda, "default_generators", fakes)
    states = [g.get_state() for g in fakes]
    host = host_rng_states()
    scope = _Scope()
    for _ in range(2):  # the second call reseeds; the saved state stays the first one
        scope.seed(9, torch.device("cuda", 1))
        assert torch.equal(torch.rand(4, generator=fakes[1]), fresh_draw(9))
        assert torch.equal(torch.rand(4), fresh_draw(9))
    assert torch.equal(fakes[0].get_state(), states[0])
    scope.close()
    assert torch.equal(fakes[1].get_state(), states[1])
    assert_host_rngs_equal(host_rng_states(), host)


def test_memory_limit_is_not_set_for_a_cuda_device():
    """guard.py ``memory_limit``: "on CUDA the limit is not set (CUDA maps far more address
    space than it uses)" — RLIMIT_AS is unchanged inside the block and after. The same
    call for the CPU does lower it (Linux), so the assertion would see a limit."""
    resource = pytest.importorskip("resource")
    before = resource.getrlimit(resource.RLIMIT_AS)
    for device in (torch.device("cuda"), torch.device("cuda", 0)):
        with memory_limit(GIB, device):
            assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    if sys.platform.startswith("linux") and not torch.cuda.is_initialized():
        with memory_limit(GIB, torch.device("cpu")):
            assert resource.getrlimit(resource.RLIMIT_AS) != before
        assert resource.getrlimit(resource.RLIMIT_AS) == before


# -- Subject.to (attrbench/subjects/registry.py) ----------------------------------------------


def test_subject_to_another_device_moves_model_tensors_and_truth_and_leaves_the_original():
    """``Subject.to``: "A copy on ``device``: the model, the tensors, and the tensors and
    modules in ``truth``, are moved; the rest is shared." analytic/smooth has tensors
    (M, L, lipschitz_bound) and a tuple (box) in its truth. The cached subject itself keeps
    its CPU model and the very same tensors (the plugin moves the registry's copy)."""
    s = subjects.get("analytic/smooth")
    params = {name: p for name, p in s.model.named_parameters()}
    inputs, targets, baseline, truth = s.inputs, s.targets, s.baseline, dict(s.truth)

    m = s.to(META)
    assert m is not s and m.model is not s.model and m.truth is not s.truth
    assert on_meta(*m.model.parameters(), m.inputs, m.targets, m.baseline)
    assert (m.inputs.shape, m.inputs.dtype, m.targets.dtype) == (inputs.shape, inputs.dtype, targets.dtype)
    for key in ("M", "L", "lipschitz_bound"):
        assert on_meta(m.truth[key]) and m.truth[key].shape == truth[key].shape
    assert m.truth["box"] is truth["box"]
    assert (m.name, m.domain, m.tags, m.description) == (s.name, s.domain, s.tags, s.description)

    assert s.inputs is inputs and s.targets is targets and s.baseline is baseline
    assert all(s.truth[k] is v for k, v in truth.items()) and s.truth.keys() == truth.keys()
    assert {name: p for name, p in s.model.named_parameters()} == params
    assert all(p.device.type == "cpu" for p in s.model.parameters())
    assert s.model(s.inputs[:2]).shape == (2, 2)  # still computes on the CPU


def test_subject_to_moves_modules_in_truth_and_keeps_none_and_plain_values():
    """``Subject.to`` moves a module in ``truth`` (analytic/equivalent's ``equivalent``, the
    second implementation implementation_invariance attributes) as a copy; a None baseline
    stays None and plain values are shared."""
    e = subjects.get("analytic/equivalent")
    other = e.truth["equivalent"]
    moved = e.to(META).truth["equivalent"]
    assert moved is not other and on_meta(*moved.parameters())
    assert all(p.device.type == "cpu" for p in other.parameters())

    names = ["a", "b"]
    hand = Subject("test/device", nn.Linear(3, 2), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), None,
                   (-1.0, 1.0), truth={"n": 3, "names": names, "w": torch.ones(3)})  # fmt: skip
    m = hand.to("meta")
    assert m.baseline is None and m.truth["names"] is names and m.truth["n"] == 3
    assert on_meta(m.truth["w"], m.inputs, *m.model.parameters())


def test_subject_to_its_own_device_is_the_same_object():
    """``Subject.to``: "(this subject when it is already there)" — for a name or a
    torch.device, so a CPU run moves and copies nothing."""
    s = subjects.get("analytic/smooth")
    assert s.to("cpu") is s and s.to(torch.device("cpu")) is s


# -- drawn cases (attrbench/checks/generated.py) ----------------------------------------------


def test_generated_moves_every_drawn_case_to_the_device():
    """generated.py ``generated(..., device=...)``: "Cases are drawn on the CPU and moved to
    ``device``" — every subject the check sees is on the device, truth modules included
    (``linear_combinations`` carries F and G there), while the check's generator stays on
    the CPU (the same draws on every device). With device="cpu" the same cases stay put."""
    from attrbench.checks.context import CheckContext, check
    from attrbench.checks.generated import generated
    from attrbench.results import Outcome
    from attrbench.scales import get_scale

    seen = []

    @check(suite="axioms", check="probe", metric="probe", direction="lower", cases="linear_combinations")
    def probe(method, subject, ctx):
        seen.append((subject, ctx.generator.device))
        return Outcome(value=0.0, holds=True, details={})

    method = methods.get("gradient")
    for device in ("meta", "cpu"):
        seen.clear()
        ctx = CheckContext(scale=get_scale("quick"), generator=torch.Generator().manual_seed(0))
        outcome = generated(probe, "linear_combinations", device=device)(method, None, ctx)
        assert outcome.holds is True and len(seen) == outcome.details["cases"] > 0
        for subject, generator_device in seen:
            tensors = [subject.inputs, subject.targets, subject.baseline, *subject.model.parameters(),
                       *subject.truth["f"].parameters(), *subject.truth["g"].parameters()]  # fmt: skip
            assert {t.device.type for t in tensors} == {device}
            assert generator_device.type == "cpu"


# -- the plugin and the CLI (attrbench/pytest_plugin.py, attrbench/cli.py) ---------------------


def test_attrbench_run_device_cuda_without_cuda_is_a_usage_error(monkeypatch, capsys):
    """``attrbench run --device cuda`` passes ``--attrbench-device cuda`` to pytest, where the
    plugin's ``BenchSession`` stops a run on a machine where torch sees no CUDA with a usage
    error (exit 4) saying so, before any test (pytest_plugin.py). ``torch.cuda.is_available``
    is pinned to False so this holds on a GPU machine too. The run is in-process (the
    suites are never collected: the error comes at session start)."""
    from attrbench.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # run puts the working directory on it
    assert main(["run", "--device", "cuda", "--suite", "axioms", "--no-leaderboard"]) == 4
    err = capsys.readouterr().err
    assert "--attrbench-device cuda" in err.splitlines()[0]
    assert "ERROR: --attrbench-device cuda: torch sees no CUDA device here; use cpu." in err


PROBE_SUITE = '''
import pytest

from attrbench.checks.context import check
from attrbench.results import Outcome


@check(suite="axioms", check="probe", metric="probe", direction="lower", cases="network_cases")
def probe(method, subject, ctx):
    return Outcome(value=0.0, holds=True, details={})


@pytest.mark.axioms
@pytest.mark.attrbench_subjects("analytic/linear", "generated")
def test_probe(bench, attrbench_device):
    assert attrbench_device == "cuda"
    bench.run(probe)
'''


def test_plugin_hands_the_cuda_device_to_subjects_and_drawn_cases(pytester, monkeypatch):
    """With CUDA present (``torch.cuda.is_available`` pinned to True), ``--attrbench-device
    cuda`` is accepted, the ``attrbench_device`` fixture says "cuda", the ``bench`` fixture
    asks for the subject on "cuda" (``Subject.to``) and hands the same device to the drawn
    cases (``generated(..., device=...)``, whose cases also go through ``Subject.to``), and
    the run's results.jsonl records device "cuda" (what ``attrbench verify`` re-runs on),
    and TF32 is switched off for convolutions and matrix products (pytest_plugin.py: full
    float32, as on the CPU; both flags start True here, as cuDNN's does by default).
    ``Subject.to`` is replaced by a recorder that keeps the subject on the CPU."""
    import json

    calls = []

    def to(self, device):
        calls.append((self.name, str(device)))
        return self

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(Subject, "to", to)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # cuDNN's default; restored after
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    pytester.makepyfile(test_probe=PROBE_SUITE)
    result = pytester.runpytest_inprocess(
        "--attrbench-device", "cuda", "--method", "gradient", "--attrbench-scale", "quick",
        "--leaderboard-dir", str(pytester.path / "lb"), "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert ("analytic/linear", "cuda") in calls
    drawn = [device for name, device in calls if name.startswith("hypothesis/")]
    assert drawn and set(drawn) == {"cuda"}
    assert {device for _, device in calls} == {"cuda"}
    metadata = json.loads((pytester.path / "lb" / "results.jsonl").read_text().splitlines()[0])["metadata"]
    assert metadata["device"] == "cuda"
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


def test_verify_reruns_on_the_device_its_results_file_names(tmp_path, monkeypatch, capsys):
    """``attrbench verify`` (verify.py): the re-run uses ``--device`` or else the device in
    the file's metadata; a re-run that pytest refuses (no CUDA: exit 4) is reported with pytest's
    message and exit 2. The re-run's subprocess is replaced by one answering as the plugin
    does without CUDA (the plugin's answer itself is the test above)."""
    from attrbench import cli
    from attrbench import verify as verify_module
    from attrbench.leaderboard import write_leaderboard
    from attrbench.results import Record

    record = Record("boolean", "dummy_recovery", "dummy_f1", "higher", "saliency", "boolean/or_4", 1.0,
                    None, False, "", "{}", "quick", 0)  # fmt: skip
    write_leaderboard(tmp_path, [record], {"device": "cuda"})
    argvs = []

    def fake_run(argv, **kwargs):
        argvs.append(argv)
        refusal = "ERROR: --attrbench-device cuda: torch sees no CUDA device here; use cpu.\n"
        return subprocess.CompletedProcess(argv, 4, stdout=refusal)

    monkeypatch.setattr(verify_module.subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for extra, device in (([], "cuda"), (["--device", "cpu"], "cpu")):
        argvs.clear()
        assert cli.main(["verify", str(tmp_path / "results.jsonl"), *extra]) == 2
        [argv] = argvs
        assert argv[argv.index("--attrbench-device") + 1] == device
        err = capsys.readouterr().err
        assert "pytest exit code 4" in err and "torch sees no CUDA device here" in err


# -- everything computes where its inputs are (meta stands in for CUDA) ----------------------

#: Each built-in method with options under which it reads no value (so it runs on meta),
#: or why it cannot run there (those paths were checked by reading, see the report).
ON_META = {
    "expected_gradients": {"integration": "gausslegendre"},
    "gradient": {},
    "gradient_shap": {"stdev": 0.1},
    "influence_decomposition": {"attack": "pgd"},  # PGD's start: a seeded CPU draw, moved
    "input_x_gradient": {},
    "integrated_gradients": {"integration": "riemann_trapezoid"},
    "nonmonotone_path": {"integration": "riemann_middle"},
    "occlusion": {},
    "occlusion_window": {},
    "random": {},
    "saliency": {},
    "shapley_sampling": {"n_samples": 3},
    "smoothgrad": {"n_samples": 3},
    "shapley_interaction_index": {"n_samples": 3},
    "banzhaf_interaction_index": {"n_samples": 3},
    "shapley_taylor_index": {"n_samples": 3},
    "integrated_hessians": {"n_steps": 2},
}
NEEDS_VALUES = {
    "deeplift_rescale": "branches on bool(far.all()) (modified_gradient.py)",
    "epsilon_lrp": "branches on bool(far.all()) (modified_gradient.py)",
    "influence_decomposition[attack=bitflip]": "checks x in {0, 1} and looks classes up in a numpy table "
    "(attacks/prediction.py bitflip_changes_class; the result is moved back to x's device)",
}


def _builtin_methods() -> set[str]:
    entries = methods.default_registry.entries
    return {name for name in methods.available() if entries[name].module.startswith("attrbench.")}


def test_every_builtin_method_is_run_on_meta_or_says_why_not():
    """The list below covers every built-in method, so a new one is either checked on
    meta or states why it cannot be."""
    assert set(ON_META) | set(NEEDS_VALUES) == _builtin_methods()


@pytest.fixture
def no_target_range_check(monkeypatch):
    """``target_output`` checks the targets' range with ``bool(...)``, which needs values;
    the meta tests skip that check (tests/test_errors.py covers it)."""
    from attrbench import functional

    monkeypatch.setattr(functional, "check_target_range", lambda target, n_classes: None)


def _image_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)).eval()


@pytest.mark.parametrize("name", sorted(ON_META))
def test_builtin_method_computes_on_the_inputs_device(name, no_target_range_check):
    """DESIGN.md: the harness checks a method returns its result "on the same device" as
    x; every tensor a method makes (noise, masks, orders, quadrature nodes, windows) must
    be there too. On meta a CPU tensor mixed in raises. SmoothGrad drew its noise from a
    generator on x's device — not CPU-identical on CUDA (another stream), and no
    generator exists for meta — it now draws on the CPU and moves the noise like every
    other seeded draw."""
    method = methods.get(name, **ON_META[name])
    if name == "occlusion_window":
        model, x = _image_model().to(META), torch.zeros(2, 1, 4, 4, device=META)
        target, baseline = torch.zeros(2, dtype=torch.long, device=META), None
    else:
        s = subjects.get("analytic/smooth").to(META)
        model, x, target, baseline = s.model, s.inputs[:4], s.targets[:4], s.baseline
    out = method.attribute(model, x, target, baseline)
    assert on_meta(out) and out.shape == x.shape and out.dtype == x.dtype


def _helper_calls():
    """(id, call) pairs: the device-sensitive helpers of the checks and attacks, each given
    its model and inputs on meta and anything the caller may pass on the CPU (a mask, a
    generator, feature indices) on the CPU."""
    from attrbench.attacks import importance, prediction
    from attrbench.checks import axioms, sensitivity_n
    from attrbench.experiments import influence as influence_experiments

    s = subjects.get("analytic/smooth").to(META)
    model, x, t = s.model, s.inputs[:4], s.targets[:4]
    gen = torch.Generator().manual_seed(0)
    pointwise = types.SimpleNamespace(distributional=False)
    return [
        ("prediction_attack-cpu-mask", lambda: prediction.prediction_attack(
            model, x, attack="pgd", norm="linf", epsilon=0.1, mask=torch.ones(4, dtype=torch.bool), generator=gen)),
        ("changes_class-cpu-masks", lambda: prediction.changes_class(
            model, x, torch.ones(3, 4, dtype=torch.bool), attack="bim", norm="l2", epsilon=0.1)),
        ("subset_sums_and_drops", lambda: sensitivity_n.subset_sums_and_drops(
            model, x, t, x, [1, 2], n_subsets=3, baseline=0.0, generator=gen)),
        ("segment_variation", lambda: axioms.segment_variation(model, torch.zeros_like(x), x, t, points=5)),
        ("single_feature_pairs", lambda: axioms.single_feature_pairs(
            pointwise, x, s.baseline, torch.tensor([0, 1, 2, 3]).to(META))),
        ("ordered_references", lambda: axioms.ordered_references(x[:1], x, torch.ones(4))),
        ("dummy_mask-index-tensor", lambda: axioms.dummy_mask({"dummy": torch.tensor([1, 3]).to(META)}, 4)),
        ("second_function", lambda: tuple(axioms.second_function(x, 2, gen).parameters())),
        ("random_subset_masks", lambda: influence_experiments.random_subset_masks(
            torch.ones(2, 5, dtype=torch.bool, device=META), 0.5, 3, gen)),
        ("feature_positions", lambda: importance.feature_positions(x, (2, 2))),
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(10), ids=[i for i, _ in _helper_calls()])
def test_check_helpers_keep_everything_on_the_inputs_device(index, no_target_range_check):
    """The checks' and attacks' tensor plumbing works where the model and inputs are: drawn
    keys, masks and index tensors are moved to that device (DESIGN.md: every check takes a
    CPU ``torch.Generator``; the draws are moved). Two were fixed: ``prediction_attack``
    multiplied the gradient by a mask left where the caller made it, and ``dummy_mask`` set
    indices held on the subject's device in a CPU mask (an error on CUDA; on meta it
    silently set nothing)."""
    _, call = _helper_calls()[index]
    result = call()
    tensors = result if isinstance(result, tuple) else (result,)
    assert tensors and on_meta(*tensors)


def test_decomposition_from_network_feeds_the_model_on_its_device():
    """checks/boolean.py ``decomposition_from_network`` evaluates the network on all 2ⁿ
    inputs; they are built on the CPU and must be moved to the model's device (a CUDA
    circuit got CPU inputs before). A model whose parameter is on meta records where its
    inputs are; it returns one class everywhere, so no subset has influence."""

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = nn.Parameter(torch.zeros(1, device=META))
            self.seen = []

        def forward(self, x):
            self.seen.append(x.device)
            return torch.zeros(len(x), 2)

    from attrbench.checks.boolean import decomposition_from_network

    spy = Spy()
    found = decomposition_from_network(spy, 3)
    assert spy.seen and {d.type for d in spy.seen} == {"meta"}
    assert found["decomposition"].tolist() == [0.0, 0.0, 0.0]
