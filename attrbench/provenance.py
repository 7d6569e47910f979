"""What produced a leaderboard row: a hash of the method's source and its plugin's version.

Every row records both (``Record.source_hash``, ``Record.plugin``); ``attrbench verify``
re-runs the rows and names a row whose method has changed since it was recorded. The hash
covers the source file of the module that defines the method (so an edit anywhere in that
module counts as a change), not the modules it imports; verify's re-run catches what such
an edit does to the numbers.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from importlib import metadata

#: Hex digits of the sha256 kept in a row.
HASH_CHARS = 16


def _source_text(obj) -> str:
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    for target in (module, obj):
        try:
            path = inspect.getsourcefile(target)
            if path:
                with open(path, encoding="utf-8") as fh:
                    return fh.read()
        except (OSError, TypeError, UnicodeDecodeError):
            pass
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""  # defined in the REPL or in C: only its name is hashed


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def plugin_version(module_name: str) -> str:
    """``"dist version"`` of the installed distribution that ships ``module_name``; "" for
    attrbench itself and for modules no distribution ships (a local ``module:attr`` spec)."""
    top = module_name.split(".")[0]
    if not top or top == "attrbench":
        return ""
    dists = sorted(set(_distributions().get(top, [])))
    if not dists:
        return ""
    try:
        return f"{dists[0]} {metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return ""


def method_provenance(obj) -> tuple[str, str]:
    """(source hash, plugin version) of a registered method's function or class."""
    module_name = getattr(obj, "__module__", "") or ""
    text = f"{module_name}:{getattr(obj, '__qualname__', repr(obj))}\n{_source_text(obj)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS], plugin_version(module_name)
