"""The contract every attribution method keeps, as a test a plugin author can run.

:class:`MethodTester` (torchmetrics' ``MetricTester`` is the model) runs the properties
below on a small smooth network and batch (:func:`default_case`) or on the author's own
model and inputs, without running the benchmark. Each property raises
:class:`MethodContractError` (an ``AssertionError``) whose message names the method, the
property and what went wrong. Every call goes through the benchmark's own guard
(:mod:`attrbench.guard`), so a method that keeps this contract passes the guard's checks in
the suites too.

=====================  ===================================================================
property               what it asserts
=====================  ===================================================================
``call``               one call returns a finite tensor of ``x``'s shape, dtype and device,
                       and leaves ``x``, the target, the baseline and the model
                       (parameters, buffers, train/eval modes, ``requires_grad``) as they
                       were (the guard's checks)
``dtypes``             the same in every other dtype of ``dtypes`` (float32 and float64 by
                       default): attributions come back in the input's dtype
``determinism``        two calls under the same global seed give the same attributions
                       (to ``rtol`` of the largest)
``seed``               a method with a ``seed`` parameter gives the same attributions
                       whatever the global RNGs' state: its draws come from its seed alone
``batch_independence`` ``A(x)[i] == A(x[i:i+1])`` for every row (to ``batch_rtol``); on
                       by default except for methods with a ``seed`` (one draw for the
                       whole batch); a distributional method gets its whole reference set
                       with every row
``derivative``         for a ``differentiable`` method, autograd's Jacobian of
                       ``x ↦ A(x)`` agrees with central finite differences
                       (``torch.autograd.gradcheck``, float64, the first two rows)
``interactions``       for an order-2 method, ``interactions`` passes the guard ((N, F, F),
                       finite, symmetric), twice alike, and its diagonal is ``attribute``'s
                       output (to ``rtol``)
=====================  ===================================================================

Example (the author's own test file)::

    import pytest
    from attrbench.testing import MethodTester
    from my_package.methods import my_method      # decorated with attrbench.register_method

    tester = MethodTester(my_method, params={"n_samples": 8})

    @pytest.mark.parametrize("prop", tester.properties)
    def test_my_method_keeps_the_contract(prop):
        tester.check(prop)

or, as one test, ``check_method_contract(my_method)``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from attrbench import methods
from attrbench.errors import PluginError
from attrbench.guard import DETERMINISM_RTOL, Guard, MethodFailure

#: Every property, in the order :meth:`MethodTester.check_all` runs them.
PROPERTIES = ("call", "dtypes", "determinism", "seed", "batch_independence", "derivative", "interactions")

#: Rows of the batch the ``derivative`` property differentiates through (gradcheck costs
#: two forward calls per input element).
DERIVATIVE_ROWS = 2


class MethodContractError(MethodFailure, AssertionError):
    """A method broke a property of the contract; the message names the method, the
    property and what to change."""


@dataclass(frozen=True)
class Case:
    """What a method is called with: ``model``, inputs ``x`` (N, ...), ``target`` (an int
    or one class index per row) and ``baseline`` (None, broadcasting to ``x``, or a
    distributional method's reference rows)."""

    model: nn.Module
    x: Tensor
    target: Any
    baseline: Any = None

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Case:
        """A copy in ``dtype`` (floating tensors and the model) on ``device``; the model is
        deep-copied, never converted in place."""

        def move(value):
            if not isinstance(value, Tensor):
                return value
            return value.to(device=device, dtype=dtype if value.is_floating_point() else None)

        model = copy.deepcopy(self.model).to(device=device, dtype=dtype)
        return Case(model, move(self.x), move(self.target), move(self.baseline))

    def rows(self, index: slice, *, shared_baseline: bool) -> Case:
        """The same case restricted to the rows ``index``; the baseline is sliced too when it
        has one row per sample, unless ``shared_baseline`` (a reference set)."""

        def per_row(value) -> bool:
            return isinstance(value, Tensor) and value.dim() > 0 and len(value) == len(self.x)

        per_sample_baseline = not shared_baseline and per_row(self.baseline) and self.baseline.shape == self.x.shape
        return replace(
            self,
            x=self.x[index],
            target=self.target[index] if per_row(self.target) else self.target,
            baseline=self.baseline[index] if per_sample_baseline else self.baseline,
        )


def default_case(dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Case:
    """A smooth image classifier (Conv2d 1→3, 3×3 → Softplus → Linear 48→3, eval mode,
    frozen) and a batch of 5 single-channel 6×6 images with targets 0, 1, 2, 0, 1 and one
    baseline per image (noise of scale 0.1). Seeded, drawn without touching the global RNGs."""
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Softplus(), nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    net = net.to(dtype).eval().requires_grad_(False)
    x = torch.randn(5, 1, 6, 6, generator=gen, dtype=dtype)
    baseline = 0.1 * torch.randn(5, 1, 6, 6, generator=gen, dtype=dtype)
    return Case(net, x, torch.tensor([0, 1, 2, 0, 1]), baseline).to(device=device)


def boolean_case(dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Case:
    """For methods that require Boolean subjects: the exact majority circuit of 4 inputs
    (``attrbench.subjects.boolean.circuit``) at all 16 points of {0, 1}⁴, zero baseline."""
    from attrbench.subjects.boolean import circuit

    s = circuit("majority", 4, dtype=dtype)
    return Case(s.model, s.inputs, s.targets, s.baseline).to(device=device)


def _requires(method) -> frozenset[str]:
    """The subject tags a registered method (or variant) requires; none for other objects."""
    try:
        return methods.default_registry.entry(method.name).requires
    except Exception:  # an object that is not registered: no requirement known
        return frozenset()


def _resolve(method, params: Mapping[str, Any]):
    """A method object from a registered name (or ``module:attr`` spec), a function or class
    decorated with ``register_method``, or an object with ``name`` and ``attribute``."""
    name = method if isinstance(method, str) else getattr(method, "__attrbench_method__", None)
    if name is not None:
        return methods.get(name, **params)
    if not (hasattr(method, "attribute") and hasattr(method, "name")):
        raise PluginError(
            f"{method!r} is not a method; pass a registered name, a function or class decorated with "
            "attrbench.register_method, or an object with name and attribute(model, x, target, baseline)."
        )
    if params:
        raise PluginError(
            f"params={dict(params)!r} given with the configured method {method.name!r}; configure it when you "
            "build it, or pass its registered name or decorated function instead."
        )
    return method


def _takes_seed(method) -> bool:
    """True when the method was given a ``seed`` or its registration has a ``seed`` parameter."""
    if "seed" in getattr(method, "params", {}):
        return True
    entry = methods.default_registry.entries.get(method.name)
    return entry is not None and "seed" in entry.parameters()


def _distributional(method) -> bool:
    """True for a method whose baseline is a reference set shared by every row."""
    return bool(getattr(method, "distributional", False))


def _largest_difference(a: Tensor, b: Tensor, rtol: float) -> float | None:
    """max |a − b| when it exceeds ``rtol`` of max(|a|, |b|) (the guard's determinism
    measure, :data:`attrbench.guard.DETERMINISM_RTOL`), else None."""
    a, b = a.detach(), b.detach()
    if a.numel() == 0:
        return None
    diff = float((a - b).abs().max())
    scale = max(float(a.abs().max()), float(b.abs().max()))
    return None if diff <= rtol * max(scale, 1e-12) else diff


class MethodTester:
    """Runs the contract's properties (module doc) on one method.

    ``method``: a registered name or ``module:attr`` spec, a decorated function or class
    (configured with ``params``), or a method object (``name``, ``attribute``; optional
    ``differentiable``, ``kind``). ``model``, ``x``, ``target``, ``baseline``: the case to
    call it on (default: :func:`default_case`; ``target`` defaults to the model's
    predictions). ``device``: where the case runs (default: where ``x`` is). ``dtypes``:
    input dtypes the ``dtypes`` property tries. ``seed``: the global seed of every call.
    ``rtol``: how far repeated calls may differ (``determinism``, ``seed``), relative to the
    largest attribution; 0 demands identical tensors. ``batch_rtol``: the same for
    ``batch_independence``. ``seeded``/``batch_independent``: override what the tester
    infers (a ``seed`` parameter; no ``seed`` parameter). ``timeout``: seconds per call.
    """

    def __init__(
        self,
        method,
        *,
        params: Mapping[str, Any] | None = None,
        model: nn.Module | None = None,
        x: Tensor | None = None,
        target: Any = None,
        baseline: Any = None,
        device: torch.device | str | None = None,
        dtypes: Iterable[torch.dtype] = (torch.float32, torch.float64),
        seed: int = 0,
        rtol: float = DETERMINISM_RTOL,
        batch_rtol: float = 1e-6,
        seeded: bool | None = None,
        batch_independent: bool | None = None,
        timeout: float | None = None,
    ) -> None:
        if (model is None) != (x is None):
            raise PluginError(
                "MethodTester: pass both model and x (and target, baseline), or neither for the default case."
            )
        self.method = _resolve(method, params or {})
        self._given = None if model is None else (model, x, target, baseline)
        self.device = device
        self.dtypes = tuple(dtypes)
        self.seed = seed
        self.rtol = rtol
        self.batch_rtol = batch_rtol
        self.seeded = _takes_seed(self.method) if seeded is None else seeded
        self.batch_independent = (not self.seeded) if batch_independent is None else batch_independent
        self.timeout = timeout
        self._case: Case | None = None

    def __repr__(self) -> str:
        return f"MethodTester({self.method.name!r}, properties={self.properties})"

    @property
    def case(self) -> Case:
        """The case every property starts from (built on first use)."""
        if self._case is None:
            if self._given is None:
                case = boolean_case() if "boolean" in _requires(self.method) else default_case()
            else:
                model, x, target, baseline = self._given
                if target is None:
                    with torch.no_grad():
                        target = model(x).argmax(1)
                case = Case(model, x, target, baseline)
            self._case = case if self.device is None else case.to(device=self.device)
        return self._case

    @property
    def properties(self) -> tuple[str, ...]:
        """The properties that apply to this method and case, for ``pytest.mark.parametrize``."""
        applies = {
            "call": True,
            "dtypes": any(d != self.case.x.dtype for d in self.dtypes),
            "determinism": True,
            "seed": self.seeded,
            "batch_independence": self.batch_independent and len(self.case.x) > 1,
            "derivative": bool(getattr(self.method, "differentiable", False)),
            "interactions": getattr(self.method, "order", 1) == 2,
        }
        return tuple(p for p in PROPERTIES if applies[p])

    def check(self, prop: str) -> None:
        """Run one property; MethodContractError if the method breaks it."""
        if prop not in PROPERTIES:
            raise PluginError(f"unknown contract property {prop!r}; the properties are {', '.join(PROPERTIES)}.")
        getattr(self, f"check_{prop}")()

    def check_all(self) -> None:
        """Run every property that applies (:attr:`properties`), stopping at the first broken one."""
        for prop in self.properties:
            self.check(prop)

    # The properties, one method each.

    def check_call(self) -> None:
        self._attribute("call", self.case)

    def check_dtypes(self) -> None:
        for dtype in self.dtypes:
            if dtype != self.case.x.dtype:
                self._attribute("dtypes", self.case.to(dtype=dtype), where=f"{dtype} inputs")

    def check_determinism(self) -> None:
        first = self._attribute("determinism", self.case, where="first call")
        again = self._attribute("determinism", self.case, where="second call")
        diff = _largest_difference(first, again, self.rtol)
        if diff is not None:
            self._fail(
                "determinism",
                "it is not deterministic: two calls on the same input under the same global seed gave attributions "
                f"that differ by {diff:.3g} "
                f"(more than {self.rtol:g} of the largest); draw random numbers from a generator seeded by a method "
                "parameter, or from torch's global RNG, which the benchmark seeds before every call",
            )

    def check_seed(self) -> None:
        first = self._attribute("seed", self.case, where=f"global seed {self.seed}")
        other = self._attribute("seed", self.case, where=f"global seed {self.seed + 1}", seed=self.seed + 1)
        diff = _largest_difference(first, other, self.rtol)
        if diff is not None:
            self._fail(
                "seed",
                f"with its own seed fixed, calls under global seeds {self.seed} and {self.seed + 1} gave attributions "
                f"that differ by {diff:.3g}: it draws from a global RNG; draw from a torch.Generator seeded with its "
                "seed parameter",
            )

    def check_batch_independence(self) -> None:
        case = self.case
        whole = self._attribute("batch_independence", case, where=f"the batch of {len(case.x)}")
        shared = _distributional(self.method)
        for i in range(len(case.x)):
            row = case.rows(slice(i, i + 1), shared_baseline=shared)
            alone = self._attribute("batch_independence", row, where=f"row {i} alone")
            diff = _largest_difference(whole[i : i + 1], alone, self.batch_rtol)
            if diff is not None:
                self._fail(
                    "batch_independence",
                    f"row {i} attributed alone differs from row {i} of the batch of {len(case.x)} by {diff:.3g} (more "
                    f"than {self.batch_rtol:g} of the largest): a row's attributions depend on the other rows (batch "
                    "statistics, one draw for the whole batch); pass batch_independent=False if that is by design",
                )

    def check_derivative(self) -> None:
        shared = _distributional(self.method)
        case = self.case.to(dtype=torch.float64).rows(slice(0, DERIVATIVE_ROWS), shared_baseline=shared)
        guard = self._guard("derivative")

        def attribute(v: Tensor) -> Tensor:
            return guard.attribute(self.method, case.model, v, case.target, case.baseline)

        try:
            torch.autograd.gradcheck(attribute, (case.x.detach().clone().requires_grad_(True),), atol=1e-6)
        except MethodFailure as exc:
            raise MethodContractError(str(exc)) from exc
        except RuntimeError as exc:
            first = next(iter(str(exc).strip().splitlines()), "")
            self._fail(
                "derivative",
                "declares differentiable=True, but autograd's Jacobian of x -> A(x) disagrees with central finite "
                f"differences (torch.autograd.gradcheck on float64 rows: {first}); keep the graph to x "
                "(create_graph=True when x.requires_grad) or register it with differentiable=False",
            )

    def check_interactions(self) -> None:
        case = self.case
        try:
            first, again = (self._guard("interactions").attribute(self.method, case.model, case.x, case.target,
                                                                  case.baseline, where, pairs=True)
                            for where in ("first call", "second call"))  # fmt: skip
        except MethodFailure as exc:
            raise MethodContractError(str(exc)) from exc
        diff = _largest_difference(first, again, self.rtol)
        if diff is not None:
            self._fail("interactions", f"two calls of interactions() under the same seed differ by {diff:.3g}")
        single = self._attribute("interactions", case, where="attribute").reshape(len(case.x), -1)
        diff = _largest_difference(first.diagonal(dim1=1, dim2=2), single, self.rtol)
        if diff is not None:
            self._fail("interactions", f"the diagonal of interactions() differs from attribute() by {diff:.3g}; "
                       "attribute returns the diagonal (attrbench.methods.interactions)")  # fmt: skip

    # Plumbing.

    def _guard(self, prop: str, seed: int | None = None) -> Guard:
        return Guard(
            timeout=self.timeout,
            seed=self.seed if seed is None else seed,
            check_determinism=False,
            check=f"contract property {prop!r}",
        )

    def _attribute(self, prop: str, case: Case, where: str = "", seed: int | None = None) -> Tensor:
        """One guarded call; a guard failure becomes a MethodContractError."""
        try:
            return self._guard(prop, seed).attribute(self.method, case.model, case.x, case.target, case.baseline, where)
        except MethodFailure as exc:
            raise MethodContractError(str(exc)) from exc

    def _fail(self, prop: str, what: str) -> None:
        raise MethodContractError(f"method {self.method.name!r} breaks contract property {prop!r}: {what}")


def check_method_contract(method, **options: Any) -> None:
    """``MethodTester(method, **options).check_all()``: every property that applies."""
    MethodTester(method, **options).check_all()


__all__ = [
    "PROPERTIES", "Case", "MethodContractError", "MethodTester", "boolean_case", "check_method_contract",
    "default_case",
]  # fmt: skip
