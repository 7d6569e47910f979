"""A zoo of broken and hostile attribution methods (issue "Reliability", item 1).

Importing this module registers every ``zoo_*`` method; ``pytest suites/ -p attrbench_zoo``
(with this folder on PYTHONPATH) adds them to a real run. ``CAUSES`` maps each method to
the words the harness guard (attrbench/guard.py) must report for it (in
zoo_expectations.py, which the tests import without registering the zoo); tests/test_reliability.py
runs the zoo through all four suites and checks each error row against it.

The memory hog asks for 1 TiB at once: more than this machine (or any CI runner) has, and
far past ``--attrbench-memory``. The sleeper sleeps far past ``--attrbench-timeout``.
"""

from __future__ import annotations

import os
import time

import torch

from attrbench import register_method

from zoo_expectations import CAUSES, MARK_ENV, SLEEP_SECONDS  # noqa: F401  (what the tests expect)


def _zeros(x):
    return torch.zeros_like(x)


@register_method("zoo_raises")
def zoo_raises(model, x, target, baseline):
    raise ValueError("the zoo method failed on purpose")


@register_method("zoo_nan")
def zoo_nan(model, x, target, baseline):
    return torch.full_like(x, float("nan"))


@register_method("zoo_inf")
def zoo_inf(model, x, target, baseline):
    out = _zeros(x)
    out.view(len(x), -1)[:, 0] = float("inf")
    return out


@register_method("zoo_shape")
def zoo_shape(model, x, target, baseline):
    return x.reshape(len(x), -1).sum(1)  # one number per sample


@register_method("zoo_dtype")
def zoo_dtype(model, x, target, baseline):
    return torch.zeros_like(x, dtype=torch.int64)


@register_method("zoo_device")
def zoo_device(model, x, target, baseline):
    return torch.zeros_like(x, device="meta")


@register_method("zoo_numpy")
def zoo_numpy(model, x, target, baseline):
    return _zeros(x).numpy()


@register_method("zoo_mutates_input")
def zoo_mutates_input(model, x, target, baseline):
    x.mul_(0.5)
    return _zeros(x)


@register_method("zoo_changes_weights")
def zoo_changes_weights(model, x, target, baseline):
    with torch.no_grad():
        next(iter(model.state_dict(keep_vars=True).values())).add_(1.0)
    return _zeros(x)


@register_method("zoo_train_mode")
def zoo_train_mode(model, x, target, baseline):
    model.train()
    return _zeros(x)


@register_method("zoo_requires_grad")
def zoo_requires_grad(model, x, target, baseline):
    model.requires_grad_(True)
    return _zeros(x)


@register_method("zoo_nondeterministic")
def zoo_nondeterministic(model, x, target, baseline):
    """Seeds its own generator from the operating system: no fixed seed reaches it."""
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
    return torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)


@register_method("zoo_sleeps")
def zoo_sleeps(model, x, target, baseline):
    mark = os.environ.get(MARK_ENV)
    if mark:
        with open(mark, "w", encoding="ascii") as fh:
            fh.write("sleeping\n")
    time.sleep(SLEEP_SECONDS)
    return _zeros(x)


@register_method("zoo_memory_hog")
def zoo_memory_hog(model, x, target, baseline):
    hog = torch.ones(2**38, dtype=torch.float32, device=x.device)  # 1 TiB
    return _zeros(x) + hog[0]


@register_method("zoo_exits")
def zoo_exits(model, x, target, baseline):
    """Kills its own process: under pytest-xdist, a crashed worker. Not in ``CAUSES``: no
    guard can catch it, so the tests run it on its own."""
    os._exit(3)
