"""Subjects: models with inputs, baselines, tags and ground truth for the checks."""

from attrbench.subjects.registry import (
    Subject,
    SubjectRegistry,
    available,
    default_registry,
    freeze,
    get,
    register_subject,
)

__all__ = ["Subject", "SubjectRegistry", "available", "default_registry", "freeze", "get", "register_subject"]
