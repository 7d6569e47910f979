"""Attribution methods: the registry and the built-in families (one module each)."""

from attrbench.methods.registry import (
    AXIOMS,
    Claim,
    Method,
    Registry,
    available,
    default_registry,
    get,
    load_spec,
    register_method,
)
from attrbench.methods.variants import register_variant

__all__ = [
    "AXIOMS",
    "Claim",
    "Method",
    "Registry",
    "available",
    "default_registry",
    "get",
    "load_spec",
    "register_method",
    "register_variant",
]
