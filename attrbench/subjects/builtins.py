"""Imports every built-in subject family so that their registrations run."""

from attrbench.subjects import analytic, boolean, digits, tabular, vision  # noqa: F401
