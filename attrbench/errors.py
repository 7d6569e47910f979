"""Typed errors a user can cause. Each message says what is wrong and what to change."""

from __future__ import annotations


class AttrbenchError(Exception):
    """Base class of every error attrbench raises on purpose."""


class UnknownMethodError(AttrbenchError, KeyError):
    """A method name that no registry entry carries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateMethodError(AttrbenchError):
    """Two registrations under one name; the message names both sources."""


class PluginError(AttrbenchError):
    """A plugin (entry point or ``module:attr`` spec) could not be loaded."""


class MethodParameterError(AttrbenchError, TypeError):
    """``methods.get(name, **params)`` with a parameter the method does not take."""


class UnknownAxiomError(AttrbenchError, ValueError):
    """A claim names an axiom attrbench does not know."""


class UnsupportedModelError(AttrbenchError):
    """A model a method cannot attribute correctly; the message names the place."""


class InputShapeError(AttrbenchError, ValueError):
    """An input, target, baseline or model output whose shape (or dtype) does not fit the batch."""


class TargetRangeError(InputShapeError):
    """A target class index outside 0..C-1 for a model with C outputs."""


class ModelStateError(AttrbenchError, ValueError):
    """A model in train mode with dropout or batch-norm layers (call ``model.eval()``)."""


class InvalidOptionError(AttrbenchError, ValueError):
    """An option value outside its allowed range (e.g. a subset size larger than the input)."""


class UnknownSubjectError(AttrbenchError, KeyError):
    """A subject name that no registry entry carries."""

    def __str__(self) -> str:
        return str(self.args[0])


class MissingTruthError(AttrbenchError):
    """A check needs ground truth (``Subject.truth[key]``, e.g. evidence masks) that the subject lacks."""


class DuplicateSubjectError(AttrbenchError):
    """Two subject registrations under one name; the message names both sources."""


class CLIError(AttrbenchError):
    """A command-line mistake (unknown suite, missing file, ...): exit status 2."""


class StabilityError(AttrbenchError, ValueError):
    """Results that ``attrbench stability`` cannot compare: a missing file, fewer than two
    files or seeds, files of different scales (attrbench.stability)."""


class LeaderboardError(AttrbenchError):
    """Results that cannot be merged or ranked together (e.g. another scale or seed)."""


class CorruptResultsError(LeaderboardError):
    """A results.jsonl that cannot be read; the message names the file and line."""
