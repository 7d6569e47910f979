"""Plugin discovery shared by the method and subject registries.

A :class:`Catalog` holds named entries and fills itself once, lazily, in this order:
its built-ins, then the entry points of its group (filtered by ``ATTRBENCH_PLUGINS``: a
comma allow-list of distribution names, or ``none``), then registrations made by user
code. Decorators write every registration to the catalog kind's *ledger*, so a module
imported once still registers into every catalog that discovers it. A plugin that fails
is recorded in ``Catalog.problems`` (and warned about); the others still load.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import os
import traceback
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar
from collections.abc import Callable, Iterator

from attrbench.errors import AttrbenchError, PluginError

PLUGINS_ENV = "ATTRBENCH_PLUGINS"

# Depth of discoveries/spec loads in progress: while > 0 a decorator only writes its
# ledger, and the discovering catalog decides where each entry goes.
_LOADING = [0]


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Mark a discovery or spec import in progress (see ``registered_by_user_code``)."""
    _LOADING[0] += 1
    try:
        yield
    finally:
        _LOADING[0] -= 1


def registered_by_user_code() -> bool:
    """True when a decorator runs outside any plugin discovery or spec import."""
    return not _LOADING[0]


@dataclass
class PluginProblem:
    """A plugin that failed to load: where it came from, what happened, where."""

    source: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        text = f"{self.source}: {self.message}"
        return f"{text}\n{self.traceback}" if self.traceback else text


def traceback_summary(exc: BaseException, limit: int = 4) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return "".join(traceback.format_list(frames)).rstrip()


def normalise_dist(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


@dataclass
class Catalog:
    """Entries by name, discovered once on first use. Subclasses set the class variables.

    Entries need ``name``, ``obj``, ``source``, ``module`` and ``user_code`` attributes.
    """

    group: ClassVar[str]  # entry-point group
    builtins: ClassVar[str]  # module whose import registers every built-in
    ledger: ClassVar[list]  # every decorator registration of this kind, in order
    noun: ClassVar[str]  # "method", "subject"
    duplicate_error: ClassVar[type[AttrbenchError]]
    unknown_error: ClassVar[type[AttrbenchError]]
    unknown_hint: ClassVar[str] = ""
    long_noun: ClassVar[str] = ""  # for messages, e.g. "attribution method"

    plugins: str | None = None  # None: read ATTRBENCH_PLUGINS at discovery
    entries: dict[str, Any] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    discovered: bool = False
    _discovering: bool = field(default=False, repr=False)

    def add(self, entry: Any) -> Any:
        """Add an entry; a name taken by another object raises ``duplicate_error``."""
        if not isinstance(entry.name, str) or not entry.name.strip():
            raise PluginError(f"{self.noun} name must be a non-empty string, got {entry.name!r}.")
        old = self.entries.get(entry.name)
        if old is not None and old.obj is not entry.obj:
            raise self.duplicate_error(
                f"{self.noun} name {entry.name!r} is registered twice: by {old.source} and by "
                f"{entry.source}. Rename one of them (or drop one plugin with {PLUGINS_ENV})."
            )
        self.entries.setdefault(entry.name, entry)
        return self.entries[entry.name]

    # -- discovery ----------------------------------------------------------------
    def discover(self) -> Catalog:
        if self.discovered or self._discovering:
            return self
        self._discovering = True
        try:
            with loading():
                self._discover()
        finally:
            self._discovering = False
        self.discovered = True
        return self

    def _discover(self) -> None:
        claimed: set[int] = set()
        importlib.import_module(self.builtins)
        for entry in list(self.ledger):
            if entry.module.startswith("attrbench."):
                claimed.add(id(entry))
                self.add(entry)
        for ep in self._entry_points():
            self._load_entry_point(ep, claimed)
        for entry in list(self.ledger):  # registered by user code before discovery
            if entry.user_code and id(entry) not in claimed:
                self._guarded(entry.source, lambda e=entry: self.add(e))

    def _allowed(self) -> set[str] | None:
        raw = self.plugins if self.plugins is not None else os.environ.get(PLUGINS_ENV, "")
        raw = raw.strip()
        if not raw:
            return None
        if raw.lower() == "none":
            return set()
        return {normalise_dist(d) for d in raw.split(",") if d.strip()}

    def _entry_points(self) -> list[metadata.EntryPoint]:
        allowed = self._allowed()
        if allowed == set():
            return []
        eps = sorted(metadata.entry_points(group=self.group), key=lambda e: (e.name, e.value))
        if allowed is None:
            return eps
        return [ep for ep in eps if ep.dist is not None and normalise_dist(ep.dist.name) in allowed]

    def _load_entry_point(self, ep: metadata.EntryPoint, claimed: set[int]) -> None:
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
        source = f"entry point {ep.name} = {ep.value} ({dist})"
        start = len(self.ledger)

        def load() -> None:
            obj = ep.load()
            if inspect.ismodule(obj):
                new = self.ledger[start:] or [
                    e
                    for e in self.ledger
                    if e.module == obj.__name__ or e.module.startswith(obj.__name__ + ".")
                ]
                if not new:
                    raise PluginError(
                        f"module {obj.__name__} registered no {self.noun}; decorate a function "
                        f"with attrbench's register_{self.noun} or point the entry point at a "
                        "register(registry) callable."
                    )
            elif callable(obj):
                obj(self)
                new = self.ledger[start:]
            else:
                raise PluginError(f"{ep.value} is neither a module nor a register(registry) callable.")
            for entry in new:
                claimed.add(id(entry))
                entry.source = f"{source}: {entry.module}"
                self.add(entry)

        self._guarded(source, load)

    def _guarded(self, source: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:  # a broken plugin must not stop the others
            problem = PluginProblem(source, f"{type(exc).__name__}: {exc}", traceback_summary(exc))
            self.problems.append(problem)
            warnings.warn(f"attrbench: {self.noun} plugin failed to load: {problem}", stacklevel=2)

    # -- lookup -------------------------------------------------------------------
    def available(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self.discover().entries)

    def entry(self, name: str) -> Any:
        self.discover()
        if name not in self.entries:
            near = difflib.get_close_matches(name, self.entries, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            message = f"no {self.long_noun or self.noun} named {name!r}.{hint} {self.unknown_hint}"
            raise self.unknown_error(message.rstrip())
        return self.entries[name]
