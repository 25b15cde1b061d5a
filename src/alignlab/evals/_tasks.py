"""Imports every eval module so that Inspect's registry sees their ``@task``s."""

from alignlab.evals import sycophancy  # noqa: F401
