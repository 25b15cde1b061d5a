"""Statistics for eval results: metrics with uncertainty and paired model comparisons.

Why this package exists: Inspect and lm-eval-harness report a metric as a bare
number (at most with a standard error), and neither compares two models on the
same samples.  Here a metric comes with a bootstrap confidence interval
(:func:`bootstrap_ci`, :func:`metric_ci`), and two models scored on the same
samples are compared with tests that use the pairing
(:func:`paired_bootstrap_diff`, :func:`paired_metric_difference`,
:func:`mcnemar_exact`), which are far more sensitive than comparing two
independent intervals.  An experiment's family of comparisons is corrected for
multiple testing (:func:`adjust_p_values`, Benjamini-Hochberg by default),
seed-to-seed spread is summarised beside the sampling interval
(:func:`seed_spread`), and :func:`feature_effects` describes which method
features go with better scores, and :func:`rank_methods` ranks method variants
by their aligned differences from a reference (on robust metrics only, given
robustness verdicts).  Registered predictions are resolved against
measured intervals and scored (:func:`score_forecasts`: log, Brier, baseline
and peer scores, calibration, theory and author rankings).  Membership
inference for contamination checks: :func:`min_k_prob` (Min-K% prob) and
:func:`auroc`; :func:`difference_of_independent` subtracts two effects measured
on independent samples.  Linear probes
on activations (:func:`fit_linear_probe`, :func:`probe_with_control`: held-out
accuracy with a binomial interval beside label-shuffled controls) tell
whether a representation separates two classes beyond memorising them.
"""

from alignlab.analysis._corrections import (
    CORRECTIONS,
    DEFAULT_CORRECTION,
    Correction,
    adjust_p_values,
)
from alignlab.analysis._forecasts import (
    CROWD,
    Forecast,
    ForecastScores,
    Outcome,
    baseline_score,
    brier_score,
    calibration_table,
    log_score,
    resolve_interval,
    resolve_threshold,
    score_forecasts,
)
from alignlab.analysis._log_metrics import (
    answering_modes,
    cluster_key,
    log_metric_estimates,
    log_metric_estimates_by,
    logged_metrics,
    sample_scores,
)
from alignlab.analysis._membership import (
    AUROC_RESAMPLES,
    DEFAULT_MIN_K,
    auroc,
    difference_of_independent,
    min_k_prob,
)
from alignlab.analysis._metric_ci import metric_ci
from alignlab.analysis._paired import (
    MAX_UNDEFINED_SHARE,
    SPREAD_METRICS,
    PairedDifference,
    log_paired_differences,
    mcnemar_from_logs,
    paired_metric_difference,
)
from alignlab.analysis._patterns import FEATURE_EFFECT_COLUMNS, feature_effects
from alignlab.analysis._probe import (
    DEFAULT_CONTROLS,
    DEFAULT_L2,
    ControlSpread,
    LinearProbe,
    ProbeResult,
    binomial_interval,
    fit_linear_probe,
    probe_accuracy,
    probe_with_control,
    shuffled_labels,
)
from alignlab.analysis._ranking import (
    COMPARISON_COLUMNS,
    METRIC_COLUMNS,
    PREFERRED_SPLIT,
    RANK_ON,
    RANKING_ALPHA,
    RANKING_COLUMNS,
    MethodRanking,
    RankOn,
    rank_methods,
)
from alignlab.analysis._seeds import SeedSpread, seed_spread
from alignlab.analysis._stats import (
    Estimate,
    McNemarResult,
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap_diff,
)

__all__ = [
    "AUROC_RESAMPLES",
    "COMPARISON_COLUMNS",
    "CORRECTIONS",
    "CROWD",
    "DEFAULT_CONTROLS",
    "DEFAULT_CORRECTION",
    "DEFAULT_L2",
    "DEFAULT_MIN_K",
    "FEATURE_EFFECT_COLUMNS",
    "MAX_UNDEFINED_SHARE",
    "METRIC_COLUMNS",
    "PREFERRED_SPLIT",
    "RANKING_ALPHA",
    "RANKING_COLUMNS",
    "RANK_ON",
    "SPREAD_METRICS",
    "ControlSpread",
    "Correction",
    "Estimate",
    "Forecast",
    "ForecastScores",
    "LinearProbe",
    "McNemarResult",
    "MethodRanking",
    "Outcome",
    "PairedDifference",
    "ProbeResult",
    "RankOn",
    "SeedSpread",
    "adjust_p_values",
    "answering_modes",
    "auroc",
    "baseline_score",
    "binomial_interval",
    "bootstrap_ci",
    "brier_score",
    "calibration_table",
    "cluster_key",
    "difference_of_independent",
    "feature_effects",
    "fit_linear_probe",
    "log_metric_estimates",
    "log_metric_estimates_by",
    "log_paired_differences",
    "log_score",
    "logged_metrics",
    "mcnemar_exact",
    "mcnemar_from_logs",
    "metric_ci",
    "min_k_prob",
    "paired_bootstrap_diff",
    "paired_metric_difference",
    "probe_accuracy",
    "probe_with_control",
    "rank_methods",
    "resolve_interval",
    "resolve_threshold",
    "sample_scores",
    "score_forecasts",
    "seed_spread",
    "shuffled_labels",
]
