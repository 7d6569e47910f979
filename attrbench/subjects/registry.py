"""Subjects: a model plus inputs, targets, baseline, domain, tags and hidden ground truth.

A subject is built by a zero-argument factory registered with ``register_subject``;
``get(name)`` builds it once and caches it. Discovery mirrors the method registry
(attrbench.plugins): built-ins, then the entry-point group ``attrbench.subjects``, then
registrations made by user code. ``truth`` is for checks only and never reaches a method.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from attrbench.errors import DuplicateSubjectError, InputShapeError, PluginError, UnknownSubjectError
from attrbench.plugins import Catalog, registered_by_user_code

PLUGIN_GROUP = "attrbench.subjects"


def freeze(model):
    """Eval mode and frozen parameters (every subject model is in this state)."""
    model.eval()
    model.requires_grad_(False)
    return model


@dataclass
class Subject:
    """DESIGN.md's Subject. ``model(inputs)`` has shape (N, C); ``targets`` (N,) are class
    indices; ``baseline`` broadcasts to ``inputs`` (None = zeros); ``domain`` = [a, b]
    bounds every feature."""

    name: str
    model: Any  # nn.Module
    inputs: Any  # Tensor (N, ...)
    targets: Any  # LongTensor (N,)
    baseline: Any  # Tensor | None
    domain: tuple[float, float]
    tags: frozenset[str] = frozenset()
    truth: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        import torch

        freeze(self.model)
        self.tags = frozenset(self.tags)
        n = len(self.inputs)
        if self.targets.shape != (n,):
            raise InputShapeError(
                f"subject {self.name!r}: targets have shape {tuple(self.targets.shape)}, expected ({n},)."
            )
        if self.baseline is not None:
            try:
                torch.broadcast_shapes(self.baseline.shape, self.inputs.shape)
            except RuntimeError:
                raise InputShapeError(
                    f"subject {self.name!r}: baseline {tuple(self.baseline.shape)} does not "
                    f"broadcast to inputs {tuple(self.inputs.shape)}."
                ) from None
        with torch.no_grad():
            out = self.model(self.inputs[:2])
        if out.dim() != 2 or out.shape[0] != min(n, 2):
            raise InputShapeError(
                f"subject {self.name!r}: model returns shape {tuple(out.shape)} for 2 inputs; "
                "subjects return (N, C) scores."
            )
        lo, hi = self.domain
        if not bool(((self.inputs >= lo) & (self.inputs <= hi)).all()):
            raise InputShapeError(f"subject {self.name!r}: inputs leave the domain [{lo}, {hi}].")

    def to(self, device) -> Subject:
        """A copy on ``device`` (this subject when it is already there): the model, the
        tensors, and the tensors and modules in ``truth``, are moved; the rest is shared."""
        import copy

        import torch

        if str(device) == str(self.inputs.device):
            return self

        def move(value):
            if isinstance(value, torch.nn.Module):
                return copy.deepcopy(value).to(device)
            return value.to(device) if isinstance(value, torch.Tensor) else value

        moved = copy.copy(self)
        moved.model = move(self.model)
        moved.inputs, moved.targets, moved.baseline = move(self.inputs), move(self.targets), move(self.baseline)
        moved.truth = {key: move(value) for key, value in self.truth.items()}
        return moved


@dataclass
class SubjectEntry:
    """One registration: the factory, its tags and description, and where it came from."""

    name: str
    obj: Callable[[], Subject]
    tags: frozenset[str]
    description: str
    source: str
    module: str = ""
    user_code: bool = False

    def build(self) -> Subject:
        subject = self.obj()
        if not isinstance(subject, Subject):
            raise PluginError(f"subject factory {self.source} returned {type(subject).__name__}, not a Subject.")
        if subject.name != self.name:
            subject.name = self.name
        if not subject.description:
            subject.description = self.description
        if self.tags and subject.tags != self.tags:
            raise PluginError(
                f"subject {self.name!r} was registered with tags {sorted(self.tags)} but its factory "
                f"built tags {sorted(subject.tags)}; make them agree."
            )
        return subject


_LEDGER: list[SubjectEntry] = []


@dataclass
class SubjectRegistry(Catalog):
    """Subjects by name; built lazily and cached."""

    group = PLUGIN_GROUP
    builtins = "attrbench.subjects.builtins"
    ledger = _LEDGER
    noun = "subject"
    duplicate_error = DuplicateSubjectError
    unknown_error = UnknownSubjectError
    unknown_hint = "`attrbench list subjects` shows the registered ones."

    built: dict[str, Subject] = field(default_factory=dict, repr=False)

    def register(
        self,
        name: str,
        factory: Callable[[], Subject],
        *,
        tags: Iterable[str] = (),
        description: str = "",
        source: str | None = None,
    ) -> SubjectEntry:
        self.discover()
        entry = _make_entry(name, factory, tags, description, getattr(factory, "__module__", "") or "")
        if source is not None:
            entry.source = source
        return self.add(entry)

    def available(self, pattern: str | Iterable[str] | None = None) -> list[str]:
        """Sorted names, optionally only those matching a glob (or any of several)."""
        names = super().available()
        if pattern is None:
            return names
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]

    def get(self, name: str) -> Subject:
        """The built subject (built on first use, then cached)."""
        if name not in self.built:
            self.built[name] = self.entry(name).build()
        return self.built[name]


def _make_entry(name, factory, tags, description, module) -> SubjectEntry:
    if not callable(factory):
        raise PluginError(f"subject {name!r}: {factory!r} is not a zero-argument factory.")
    qualname = getattr(factory, "__qualname__", None) or repr(factory)
    return SubjectEntry(
        name=name,
        obj=factory,
        tags=frozenset([tags] if isinstance(tags, str) else tags),
        description=description or (getattr(factory, "__doc__", "") or "").strip().split("\n")[0],
        source=f"{'built-in' if module.startswith('attrbench.') else 'module'} {module}.{qualname}",
        module=module,
    )


#: The registry ``attrbench.subjects.get`` and the suites use.
default_registry = SubjectRegistry()


def register_subject(
    name: str, *, tags: Iterable[str] = (), description: str = ""
) -> Callable[[Callable[[], Subject]], Callable[[], Subject]]:
    """Register a zero-argument factory returning a :class:`Subject` under ``name``.

    ``tags`` (see ``attrbench.methods.registry.SUBJECT_TAGS``) are listed without building
    the subject; the built subject must carry the same tags. Works on functions and on
    ``functools.partial`` objects (``register_subject("boolean/or_4")(partial(f, "or", 4))``).
    """

    def decorate(factory: Callable[[], Subject]) -> Callable[[], Subject]:
        # The module that registers (not the factory's: a partial reports "functools", and a
        # user's partial of a built-in factory is still the user's registration).
        module = sys._getframe(1).f_globals.get("__name__", "")
        entry = _make_entry(name, factory, tags, description, module)
        entry.user_code = registered_by_user_code()
        _LEDGER.append(entry)
        if default_registry.discovered and entry.user_code:
            default_registry.add(entry)
        return factory

    return decorate


def get(name: str) -> Subject:
    """The built subject ``name`` from the default registry."""
    return default_registry.get(name)


def available(pattern: str | Iterable[str] | None = None) -> list[str]:
    """Subject names in the default registry, optionally filtered by glob pattern(s)."""
    return default_registry.available(pattern)
