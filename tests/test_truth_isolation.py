"""A subject's ground truth is not reachable from what a method receives (issue
"Reliability", item 6).

The harness calls ``method.attribute(model, x, target, baseline)`` with the subject's
model and clones of its tensors (attrbench/guard.py). ``reachable`` walks every object a
method can get at from those arguments without importing anything: attributes and
``__slots__``, containers, submodules, parameters, buffers and hooks, closures and
defaults of functions and bound methods, and tensors' autograd graphs. Module globals and
classes are not followed (through them any Python code can reach any object in the
process; what the harness promises is that the arguments do not carry the truth).
"""

from __future__ import annotations

import types

import pytest
import torch

from attrbench import methods, subjects
from attrbench.guard import Guard

ATOMS = (str, bytes, int, float, complex, bool, type(None))


def reachable(*roots) -> dict[int, object]:
    """id → object for every object reachable from ``roots`` (see the module doc)."""
    seen: dict[int, object] = {}
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if isinstance(obj, (*ATOMS, types.ModuleType, type)) or id(obj) in seen:
            continue
        seen[id(obj)] = obj
        if isinstance(obj, torch.Tensor):
            stack += [obj.grad_fn, obj.grad, *getattr(obj, "__dict__", {}).values()]
            continue
        if hasattr(obj, "next_functions"):  # an autograd node
            stack += [f for f, _ in obj.next_functions] + [getattr(obj, "variable", None)]
        if isinstance(obj, dict):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
        if isinstance(obj, types.FunctionType):
            stack += [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not None]
            stack += [obj.__defaults__, obj.__kwdefaults__]
        elif isinstance(obj, types.MethodType):
            stack += [obj.__func__, obj.__self__]
        elif hasattr(obj, "__dict__"):
            stack += list(vars(obj).values())
        for slot in getattr(type(obj), "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                stack.append(getattr(obj, slot))
    return seen


def truth_found(subject, seen: dict[int, object]) -> list[str]:
    """The truth mapping itself, or the keys of its (non-atomic) values, found in ``seen``."""
    found = ["truth"] if id(subject.truth) in seen else []
    return found + [k for k, v in subject.truth.items() if not isinstance(v, ATOMS) and id(v) in seen]


class Spy:
    """A method that records every object reachable from the arguments it receives."""

    name = "spy"

    def __init__(self):
        self.seen: dict[int, object] = {}

    def attribute(self, model, x, target, baseline):
        self.seen = reachable(model, x, target, baseline)
        return torch.zeros_like(x)


@pytest.mark.parametrize("name", subjects.available())
def test_a_method_cannot_reach_the_truth_through_its_arguments(name):
    """For every built-in subject, a spy called through the harness guard (as every check
    calls a method) finds neither ``subject.truth`` nor any of its values among the
    objects reachable from the model and tensors it is given."""
    subject = subjects.get(name)
    spy = Spy()
    Guard(check_determinism=False).attribute(spy, subject.model, subject.inputs, subject.targets, subject.baseline)
    assert len(spy.seen) > 5  # it did walk the model
    assert truth_found(subject, spy.seen) == []


def test_the_walk_would_find_truth_hung_on_the_model():
    """The negative control: the same walk finds the truth when a model carries it as an
    attribute or in a forward hook's closure, so the test above can fail."""
    subject = subjects.get("analytic/dummy")
    leaky = subjects.get("analytic/linear").model
    try:
        leaky.secret = subject.truth
        assert truth_found(subject, reachable(leaky)) == ["truth", "dummy"]
    finally:
        del leaky.secret
    values = subject.truth["dummy"]
    handle = leaky.register_forward_hook(lambda module, args, out: out + 0 * len(values))
    try:
        assert "dummy" in truth_found(subject, reachable(leaky))
    finally:
        handle.remove()
    assert truth_found(subject, reachable(leaky)) == []


def test_methods_get_clones_not_the_subjects_tensors():
    """The guard hands a method clones of the input, target and baseline, so a method
    cannot reach (or change) the subject's own tensors through them."""
    subject = subjects.get("analytic/linear")
    spy = Spy()
    Guard(check_determinism=False).attribute(spy, subject.model, subject.inputs, subject.targets, subject.baseline)
    for tensor in (subject.inputs, subject.targets, subject.baseline):
        if tensor is not None:
            assert id(tensor) not in spy.seen
    assert methods.get("saliency") is not None
