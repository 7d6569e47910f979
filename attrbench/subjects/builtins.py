"""Imports every built-in subject family so that their registrations run."""

from attrbench.subjects import analytic, boolean, digits, digits28, shapes, tabular, vision  # noqa: F401
