"""The guard around every method call the harness makes.

The method gets a clone of the input, target and baseline, runs under a fixed seed of the
global RNGs (torch, numpy, random; restored afterwards, or at the end of a
:meth:`Guard.scope`), a time limit and a memory limit.
Afterwards the guard checks that it returned a finite floating tensor shaped like the
input on the input's device, that it left its arguments, the model's parameters, train/eval
mode and ``requires_grad`` flags as they were (restoring them if not), and — on a
:class:`Guard`'s first call — that a second call under the same seed gives the same
attributions. Anything else becomes a :class:`MethodFailure` whose message names the
method, the check and what it did.

Limits. The time limit interrupts the call with SIGALRM (main thread on POSIX; pytest-xdist
runs tests in its workers' main threads), so a timed-out call stops instead of running on
in the background; a call that returns after its limit anyway (it swallowed the interrupt,
or sat in one long C++ operation) is still a failure. The memory limit caps the process's
address space (``RLIMIT_AS``, Linux, CPU runs) at what it held before the call plus the
limit, so an allocation past it fails inside the method instead of taking the machine's
memory; on CUDA the limit is not set (CUDA maps far more address space than it uses) and
``torch.OutOfMemoryError`` is caught the same way.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
import weakref
from dataclasses import dataclass, field
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import AttrbenchError

try:  # POSIX only
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

GIB = 2**30

#: Two calls on the same input under the same seed must agree to this relative tolerance
#: (``attrbench verify``'s default), else the method is not deterministic.
DETERMINISM_RTOL = 1e-6


class MethodFailure(AttrbenchError):
    """A method raised, returned junk, or changed what it was given."""


class _Timeout(BaseException):
    """Raised inside the method call by the alarm; BaseException so methods can't catch it
    with ``except Exception``."""


def default_memory_limit() -> float | None:
    """Half the machine's physical memory, in bytes (None where it cannot be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM; main thread on POSIX only — elsewhere
    the limit is checked only when the block returns)."""
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


def _address_space() -> int | None:
    """The process's virtual memory size in bytes (Linux ``/proc``), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def memory_limit(nbytes: float | None, device: torch.device) -> Iterator[None]:
    """Cap the address space at its current size plus ``nbytes`` for the block (see the
    module doc); a no-op off Linux, on CUDA, or with ``nbytes`` None."""
    current = _address_space() if nbytes and resource is not None and device.type == "cpu" else None
    if current is None or torch.cuda.is_initialized():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + int(nbytes)
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            cap = min(cap, bound)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _host_rngs() -> tuple:
    """The states of torch's CPU generator and numpy's and Python's global RNGs."""
    return torch.default_generator.get_state(), np.random.get_state(), random.getstate()


def _load_host_rngs(states: tuple) -> None:
    torch.default_generator.set_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


def _cuda_generator(device: torch.device):
    """The default generator of ``device`` when it is a CUDA device, else None."""
    return torch.cuda.default_generators[device.index or 0] if device.type == "cuda" else None


def _seed(seed: int, device: torch.device) -> None:
    # The generators themselves, not torch.manual_seed: that also queues lazy seeds of
    # every accelerator with a stack trace each (~1 ms a call).
    torch.default_generator.manual_seed(seed)
    cuda = _cuda_generator(device)
    if cuda is not None:
        cuda.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's, numpy's and Python's global RNGs for the block; restore them after."""
    host = _host_rngs()
    cuda = _cuda_generator(device)
    cuda_state = None if cuda is None else cuda.get_state()
    try:
        _seed(seed, device)
        yield
    finally:
        _load_host_rngs(host)
        if cuda is not None:
            cuda.set_state(cuda_state)


class _Scope:
    """What :meth:`Guard.scope` saves once instead of per call: the global RNG states
    (CUDA generators as they are first used) and each model's state at its first call."""

    def __init__(self) -> None:
        self.host = _host_rngs()
        self.cuda: dict[int, Tensor] = {}
        self.models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def seed(self, seed: int, device: torch.device) -> None:
        cuda = _cuda_generator(device)
        if cuda is not None and (device.index or 0) not in self.cuda:
            self.cuda[device.index or 0] = cuda.get_state()
        _seed(seed, device)

    def model_state(self, model) -> tuple[dict, dict, dict]:
        try:
            if model not in self.models:
                self.models[model] = _model_state(model)
            return self.models[model]
        except TypeError:  # not weak-referenceable
            return _model_state(model)

    def close(self) -> None:
        _load_host_rngs(self.host)
        for index, state in self.cuda.items():
            torch.cuda.default_generators[index].set_state(state)


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


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "can't allocate memory" in text
        or "out of memory" in text
    )


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Guard:
    """The limits of one test's method calls (see the module doc). ``seed`` seeds the global
    RNGs for every call; ``check_determinism`` repeats the first call and compares."""

    timeout: float | None = None
    memory: float | None = None  # bytes beyond what the process holds before the call
    seed: int = 0
    check_determinism: bool = True
    check: str = ""  # the check making the calls, named in every message
    _checked: bool = field(default=False, init=False, repr=False)
    _scope: _Scope | None = field(default=None, init=False, repr=False)

    @contextlib.contextmanager
    def scope(self) -> Iterator[Guard]:
        """One test's calls, made cheaper: the global RNG states are saved when the block
        starts and restored when it ends (every call is still seeded the same way), and
        each model's parameters, modes and flags are recorded at its first call and every
        later call is compared with (and restored to) that record. Outside a scope each
        call saves and restores its own (~0.2 ms a call). The checks must not change a
        model between calls or draw from the global RNGs (attrbench's do neither)."""
        if self._scope is not None:
            yield self
            return
        self._scope = _Scope()
        try:
            yield self
        finally:
            scope, self._scope = self._scope, None
            scope.close()

    def attribute(self, method, model, x: Tensor, target, baseline, where: str = "", pairs: bool = False) -> Tensor:
        """``method.attribute(model, x, target, baseline)`` under the guard; ``where``
        says which call of the check this is. With ``pairs``, ``method.interactions`` instead:
        a finite (N, F, F) tensor, symmetric (attrbench.methods.interactions.SYMMETRY_RTOL)."""
        places = [p for p in (self.check, where) if p]
        if len(places) == 2 and places[1].startswith(places[0]):
            places = places[1:]
        label = f"method {method.name!r}" + (f" in {', '.join(places)}" if places else "")
        out = self._call(label, method, model, x, target, baseline, pairs)
        if self.check_determinism and not self._checked:
            self._checked = True
            again = self._call(label, method, model, x, target, baseline, pairs)
            diff = float((again.detach() - out.detach()).abs().max()) if out.numel() else 0.0
            scale = float(out.detach().abs().max()) if out.numel() else 0.0
            if not diff <= DETERMINISM_RTOL * max(scale, 1e-12):
                # no numbers in the message: they would differ from run to run
                raise MethodFailure(
                    f"{label} is not deterministic: two calls on the same input under the same seed gave "
                    f"attributions that differ by more than {DETERMINISM_RTOL:g} of the largest; draw random "
                    "numbers from a generator seeded by a method parameter, or from torch's global RNG, which "
                    "the harness seeds"
                )
        return out

    def _call(self, label: str, method, model, x: Tensor, target, baseline, pairs: bool = False) -> Tensor:
        x_in = x.clone()
        t_in = target.clone() if isinstance(target, Tensor) else target
        b_in = baseline.clone() if isinstance(baseline, Tensor) else baseline
        scope = self._scope
        if scope is None:
            state, rngs = _model_state(model), seeded(self.seed, x.device)
        else:  # the scope restores the RNGs when it closes
            state, rngs = scope.model_state(model), contextlib.nullcontext()
            scope.seed(self.seed, x.device)
        start = time.perf_counter()
        try:
            with rngs, memory_limit(self.memory, x.device), time_limit(self.timeout):
                out = (method.interactions if pairs else method.attribute)(model, x_in, t_in, b_in)
        except _Timeout:
            _restore(model, state)
            raise MethodFailure(f"{label} exceeded the {self.timeout:g} s time limit (--attrbench-timeout)") from None
        except (Exception, SystemExit) as exc:
            _restore(model, state)
            if _out_of_memory(exc):
                limit = (
                    f"the {self.memory / GIB:.3g} GiB memory limit (--attrbench-memory)" if self.memory else "memory"
                )
                raise MethodFailure(
                    f"{label} ran out of memory: it asked for more than {limit} allows "
                    f"({type(exc).__name__}: {_first_line(str(exc))}); lower its batch size"
                ) from None
            raise MethodFailure(f"{label} raised {type(exc).__name__}: {exc}") from exc
        elapsed = time.perf_counter() - start
        changed = _restore(model, state)
        if self.timeout and elapsed > self.timeout:
            raise MethodFailure(
                f"{label} exceeded the {self.timeout:g} s time limit (--attrbench-timeout): it returned after "
                f"{elapsed:.3g} s, having caught the interrupt or run uninterruptible code"
            )
        if changed:
            raise MethodFailure(f"{label} changed the model: {'; '.join(changed)} (restored for the next method)")
        _check_unchanged(label, "input tensor", x_in, x)
        _check_unchanged(label, "target", t_in, target)
        _check_unchanged(label, "baseline tensor", b_in, baseline)
        return _checked_pairs(label, out, x) if pairs else _checked_output(label, out, x)


def _check_unchanged(label: str, what: str, given, original) -> None:
    if isinstance(original, Tensor) and not torch.equal(given, original):
        raise MethodFailure(f"{label} mutated its {what} in place; work on a copy (x.clone()) instead")


def _checked_pairs(label: str, out, x: Tensor) -> Tensor:
    """An order-2 method's ``interactions``: checked as attributions of shape (N, F, F),
    then for symmetry."""
    from attrbench.methods.interactions import SYMMETRY_RTOL, symmetry_gap

    features = x[0].numel()
    out = _checked_output(label, out, x, (len(x), features, features), "interactions")
    if symmetry_gap(out.detach()) > SYMMETRY_RTOL:
        raise MethodFailure(f"{label} returned interactions that are not symmetric (|I − Iᵀ| above "
                            f"{SYMMETRY_RTOL:g} of the largest); return I[n, i, j] == I[n, j, i]")  # fmt: skip
    return out


def _checked_output(label: str, out, x: Tensor, shape=None, what: str = "attributions") -> Tensor:
    """``out`` if it is a finite floating tensor shaped like ``x`` (or ``shape``) on ``x``'s device."""
    shape = x.shape if shape is None else torch.Size(shape)
    if not isinstance(out, Tensor):
        kind = f"{type(out).__module__}.{type(out).__name__}".removeprefix("builtins.")
        raise MethodFailure(f"{label} returned a {kind}, not a torch.Tensor; return a tensor shaped like its input")
    if out.shape != shape:
        if what == "interactions":
            raise MethodFailure(f"{label} returned interactions of shape {tuple(out.shape)} for input "
                                f"{tuple(x.shape)}; return (N, F, F) = {tuple(shape)}")  # fmt: skip
        raise MethodFailure(f"{label} returned shape {tuple(out.shape)} for input {tuple(x.shape)}")
    if out.dtype != x.dtype:
        raise MethodFailure(
            f"{label} returned dtype {out.dtype} for input of dtype {x.dtype}; return the input's dtype"
        )
    if out.device != x.device:
        raise MethodFailure(f"{label} returned a tensor on {out.device} for input on {x.device}")
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        nan, inf = int(torch.isnan(out).sum()), int(torch.isinf(out).sum())
        raise MethodFailure(f"{label} returned non-finite values: {nan} NaN and {inf} Inf of {out.numel()}")
    return out.detach() if not x.requires_grad else out

