"""The base class of every method's own configuration.

A method's own knobs live in its own pydantic config (TRL's rule: a config
holds only its method's fields); the settings every method shares are
:class:`alignlab.training.TrainingConfig`.  Both are validated by pydantic, so
the CLI, experiment specs and the Python API share one definition of what is
allowed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MethodConfig(BaseModel):
    """Base class of every method's own configuration (extra keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
