"""The guard around every method call the harness makes.

The method gets a clone of the input and baseline; afterwards the guard checks that it
returned a finite floating tensor shaped like the input on the input's device, that it
left its input, the model's parameters, train/eval mode and ``requires_grad`` flags as
they were (restoring them if not), and that it finished within the time limit. Anything
else becomes a :class:`MethodFailure` whose message names the method and what it did.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import torch
from torch import Tensor

from attrbench.errors import AttrbenchError


class MethodFailure(AttrbenchError):
    """A method raised, returned junk, or changed what it was given."""


class _Timeout(BaseException):
    """Raised inside the method call by the alarm; BaseException so methods can't catch it."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM; main thread on POSIX only — elsewhere
    the limit is not enforced)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _model_state(model) -> tuple[dict, dict, dict]:
    params = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    modes = {name: m.training for name, m in model.named_modules()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    return params, modes, flags


def _restore(model, state) -> list[str]:
    """Put the model back as ``state`` recorded it; return what had changed."""
    params, modes, flags = state
    changed = []
    current = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, saved in params.items():
            if name in current and not torch.equal(current[name].detach(), saved):
                current[name].detach().copy_(saved)
                changed.append(f"changed parameter/buffer {name!r}")
    for name, module in model.named_modules():
        if name in modes and module.training != modes[name]:
            module.train(modes[name])
            changed.append(f"switched {name or 'the model'} to {'train' if modes[name] is False else 'eval'} mode")
    for name, p in model.named_parameters():
        if name in flags and p.requires_grad != flags[name]:
            p.requires_grad_(flags[name])
            changed.append(f"changed requires_grad of {name!r}")
    return changed


def attribute(method, model, x: Tensor, target, baseline, *, timeout: float | None = None, where: str = "") -> Tensor:
    """``method.attribute(model, x, target, baseline)`` under the guard (see module doc)."""
    label = f"method {method.name!r}" + (f" in {where}" if where else "")
    x_in = x.clone()
    b_in = baseline.clone() if isinstance(baseline, Tensor) else baseline
    state = _model_state(model)
    try:
        with time_limit(timeout):
            out = method.attribute(model, x_in, target, b_in)
    except _Timeout:
        _restore(model, state)
        raise MethodFailure(f"{label} exceeded the {timeout:g} s time limit") from None
    except Exception as exc:
        _restore(model, state)
        raise MethodFailure(f"{label} raised {type(exc).__name__}: {exc}") from exc
    changed = _restore(model, state)
    if changed:
        raise MethodFailure(f"{label} changed the model: {'; '.join(changed)} (restored for the next method)")
    if not torch.equal(x_in, x):
        raise MethodFailure(f"{label} mutated its input tensor in place")
    if isinstance(baseline, Tensor) and not torch.equal(b_in, baseline):
        raise MethodFailure(f"{label} mutated its baseline tensor in place")
    if not isinstance(out, Tensor):
        raise MethodFailure(f"{label} returned {type(out).__name__}, not a torch.Tensor")
    if out.shape != x.shape:
        raise MethodFailure(f"{label} returned shape {tuple(out.shape)} for input {tuple(x.shape)}")
    if not out.is_floating_point():
        raise MethodFailure(f"{label} returned dtype {out.dtype}; attributions must be floating point")
    if out.device != x.device:
        raise MethodFailure(f"{label} returned a tensor on {out.device} for input on {x.device}")
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        raise MethodFailure(f"{label} returned {int(bad.sum())} non-finite values (NaN or Inf) of {out.numel()}")
    return out.detach() if not x.requires_grad else out
