"""The guard around every method call (attrbench/guard.py), unit by unit.

Expectations come from the guard's documented contract (its module docstring) and the
issue "Reliability", item 1: each fault is caught, named, and undone for the next call.
tests/test_reliability.py runs the same faults through the real suites.
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np
import pytest
import torch

from attrbench import subjects
from attrbench.guard import GIB, Guard, MethodFailure, default_memory_limit


class Fn:
    """A method object around a plain function."""

    def __init__(self, fn, name: str = "m"):
        self.fn, self.name = fn, name

    def attribute(self, model, x, target, baseline):
        return self.fn(model, x, target, baseline)


@pytest.fixture
def linear():
    return subjects.get("analytic/linear")


def call(fn, subject, guard: Guard | None = None, where: str = "the check"):
    guard = guard or Guard(check_determinism=False)
    return guard.attribute(Fn(fn), subject.model, subject.inputs[:4], subject.targets[:4], subject.baseline, where)


def test_message_names_method_check_and_shape(linear):
    """The issue's example wording: "returned shape (4,) for input (4, ...)"."""
    with pytest.raises(MethodFailure, match=r"^method 'm' in the check returned shape \(4,\) for input \(4, 8\)$"):
        call(lambda m, x, t, b: x.sum(1), linear)


def test_a_late_return_is_a_timeout_even_when_the_alarm_is_swallowed(linear):
    """A method that catches the alarm's exception (BaseException) and returns after its
    limit is still reported as over the limit, with the time it took."""

    def swallow(model, x, target, baseline):
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
        return torch.zeros_like(x)

    with pytest.raises(MethodFailure, match=r"exceeded the 0\.2 s time limit .*returned after 0\.4"):
        call(swallow, linear, Guard(timeout=0.2, check_determinism=False))


def test_a_timed_out_call_stops_running(linear):
    """The alarm unwinds the method: after the failure nothing of it runs on (a counter it
    increments in a loop stays put), so it cannot skew the timings of later calls."""
    ticks = [0]

    def spin(model, x, target, baseline):
        while True:
            ticks[0] += 1
            time.sleep(0.001)

    start = time.perf_counter()
    with pytest.raises(MethodFailure, match=r"exceeded the 0\.2 s time limit"):
        call(spin, linear, Guard(timeout=0.2, check_determinism=False))
    assert time.perf_counter() - start < 1.0
    frozen = ticks[0]
    time.sleep(0.1)
    assert ticks[0] == frozen


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux only")
def test_memory_limit_stops_an_allocation_past_it_and_is_lifted_after(linear):
    """With a 1 GiB limit, a method allocating 2 GiB fails inside the call with a message
    naming the limit; the same allocation outside the guard succeeds (the limit is lifted),
    and a method allocating 64 MiB under the limit is fine."""
    guard = Guard(memory=1 * GIB, check_determinism=False)

    def hog(model, x, target, baseline):
        return torch.zeros_like(x) + torch.ones(2 * GIB // 4)[0]

    with pytest.raises(MethodFailure, match=r"ran out of memory: it asked for more than the 1 GiB memory limit"):
        call(hog, linear, guard)
    assert torch.ones(2 * GIB // 4).sum() > 0  # outside: no limit
    call(lambda m, x, t, b: torch.zeros_like(x) + torch.ones(2**24)[0] - 1, linear, guard)


def test_default_memory_limit_is_half_the_machine():
    """``--attrbench-memory``'s default (pytest_plugin.BenchSession): half of physical memory."""
    import os

    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert default_memory_limit() == total / 2


def noisy(model, x, target, baseline):
    """A method drawing from torch's, numpy's and Python's global RNGs."""
    shift = float(np.random.rand()) + random.random()
    return torch.randn(x.shape, dtype=x.dtype) + shift


def seed_global_rngs(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def test_global_rngs_are_seeded_per_call_and_restored(linear):
    """A method drawing from torch's, numpy's and Python's global RNGs gets the same draws
    on every call (so it passes the determinism check), and the caller's RNG streams are
    as they were."""
    seed_global_rngs(5)
    expected = (torch.rand(3), np.random.rand(), random.random())
    seed_global_rngs(5)
    first = call(noisy, linear, Guard(seed=11))  # determinism checked: called twice
    second = call(noisy, linear, Guard(seed=11))
    other = call(noisy, linear, Guard(seed=12))
    assert torch.equal(first, second) and not torch.equal(first, other)
    after = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]


def test_nondeterminism_is_caught_on_the_first_call_only(linear):
    """The determinism check repeats the first call of a Guard (one per test) and compares;
    later calls are not repeated (it costs one extra call per test)."""
    calls = [0]

    def counting(model, x, target, baseline):
        calls[0] += 1
        return torch.full_like(x, float(calls[0]))

    guard = Guard()
    with pytest.raises(MethodFailure, match="is not deterministic: two calls on the same input"):
        call(counting, linear, guard)
    assert calls[0] == 2
    call(counting, linear, guard)
    assert calls[0] == 3


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda m, x, t, b: torch.zeros_like(x).numpy(), "returned a numpy.ndarray, not a torch.Tensor"),
        (lambda m, x, t, b: torch.zeros_like(x, device="meta"), "returned a tensor on meta for input on cpu"),
        (lambda m, x, t, b: torch.zeros_like(x, dtype=torch.float64),
         "returned dtype torch.float64 for input of dtype torch.float32"),
        (lambda m, x, t, b: (t.fill_(0), torch.zeros_like(x))[1], "mutated its target in place"),
        (lambda m, x, t, b: (b.add_(1), torch.zeros_like(x))[1], "mutated its baseline tensor in place"),
        (lambda m, x, t, b: torch.full_like(x, float("nan")), "non-finite values: 32 NaN and 0 Inf of 32"),
        (lambda m, x, t, b: exit(3), "raised SystemExit: 3"),
    ],
    ids=["numpy", "device", "dtype", "target", "baseline", "nan", "exit"],
)
def test_each_fault_is_named(linear, fault, message):
    """Each fault of the zoo, and sys.exit, becomes a MethodFailure saying what it was."""
    with pytest.raises(MethodFailure, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call(fault, linear)


def test_model_and_subject_tensors_are_restored(linear):
    """Parameters, train/eval mode and requires_grad flags changed by a method are put back
    before the failure is raised; the subject's tensors were never handed out."""
    inputs, params = linear.inputs.clone(), [p.detach().clone() for p in linear.model.parameters()]

    def vandal(model, x, target, baseline):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(-3)
        model.train()
        model.requires_grad_(True)
        x.zero_()
        return torch.zeros_like(x)

    with pytest.raises(MethodFailure) as info:
        call(vandal, linear)
    text = str(info.value)
    assert "changed parameter/buffer" in text and "train mode" in text and "requires_grad" in text
    assert all(torch.equal(p, q) for p, q in zip(linear.model.parameters(), params))
    assert not linear.model.training
    assert not any(p.requires_grad for p in linear.model.parameters())
    assert torch.equal(linear.inputs, inputs)


def test_a_scope_seeds_every_call_and_restores_the_rngs_once_at_its_end(linear):
    """Guard.scope (one test's calls, as the pytest plugin runs a check): every call sees
    the same seeded draws as outside a scope, and the caller's streams are as they were
    once the scope ends (expected values: the same draws made with no guard at all)."""
    unscoped = call(noisy, linear, Guard(seed=11))
    seed_global_rngs(5)
    expected = (torch.rand(3), np.random.rand(), random.random())
    seed_global_rngs(5)
    guard = Guard(seed=11)
    with guard.scope():
        scoped = [call(noisy, linear, guard) for _ in range(3)]
        with guard.scope():  # nested: the outer scope stays in charge
            scoped.append(call(noisy, linear, guard))
    assert all(torch.equal(a, unscoped) for a in scoped)
    after = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]


def test_in_a_scope_each_call_is_compared_with_the_models_first_record(linear):
    """Inside a scope the model is recorded at its first call only; a later call that
    changes it is still caught and the model restored to that record (same contract as
    test_model_and_subject_tensors_are_restored, for the second call of a scope)."""
    params = [p.detach().clone() for p in linear.model.parameters()]

    def vandal(model, x, target, baseline):
        with torch.no_grad():
            next(model.parameters()).data.add_(1.0)  # .data: bypasses the version counter
        return torch.zeros_like(x)

    guard = Guard(check_determinism=False)
    with guard.scope():
        call(lambda m, x, t, b: torch.zeros_like(x), linear, guard)
        with pytest.raises(MethodFailure, match="changed parameter/buffer"):
            call(vandal, linear, guard)
        call(lambda m, x, t, b: torch.zeros_like(x), linear, guard)  # restored: passes
    assert all(torch.equal(p, q) for p, q in zip(linear.model.parameters(), params))
