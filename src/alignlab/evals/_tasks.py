"""Imports every eval module so that Inspect's registry sees their tasks."""

from alignlab.evals._registry import registered_evals

registered_evals()
