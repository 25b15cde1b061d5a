"""Statistics for eval results: metrics with uncertainty and paired model comparisons.

Why this package exists: Inspect and lm-eval-harness report a metric as a bare
number (at most with a standard error), and neither compares two models on the
same samples.  Here a metric comes with a bootstrap confidence interval
(:func:`bootstrap_ci`), and two models scored on the same samples are compared
with tests that use the pairing (:func:`paired_bootstrap_diff`,
:func:`mcnemar_exact`), which are far more sensitive than comparing two
independent intervals.
"""

from alignlab.analysis._log_metrics import (
    cluster_key,
    log_metric_estimates,
    logged_metrics,
    sample_scores,
)
from alignlab.analysis._metric_ci import metric_ci
from alignlab.analysis._stats import (
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
    "cluster_key",
    "log_metric_estimates",
    "logged_metrics",
    "mcnemar_exact",
    "metric_ci",
    "paired_bootstrap_diff",
    "sample_scores",
]
