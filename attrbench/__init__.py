"""attrbench: a pytest-native benchmark for neural-network attribution methods."""

from attrbench.errors import AttrbenchError
from attrbench.methods.registry import AXIOMS, Claim, Method, register_method

__version__ = "0.1.0"

__all__ = ["AXIOMS", "AttrbenchError", "Claim", "Method", "register_method", "__version__"]
