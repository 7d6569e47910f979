"""Hypothesis strategies and other helpers for testing attribution methods."""
