"""Shortcut: `alignlab.stats` is `alignlab.analysis`'s statistics."""

from alignlab.analysis import (
    Estimate,
    McNemarResult,
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap_diff,
)

__all__ = [
    "Estimate",
    "McNemarResult",
    "bootstrap_ci",
    "mcnemar_exact",
    "paired_bootstrap_diff",
]
