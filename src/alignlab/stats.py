"""Shortcut: `alignlab.stats` is `alignlab.analysis`'s statistics."""

from alignlab.analysis import *  # noqa: F403
from alignlab.analysis import __all__ as __all__
