"""Metrics and intervals are recomputed from a stored ``.eval`` log alone.

The log is read back in a fresh Python process that has no ``Task`` object:
the metric definitions stored in the log are re-created through Inspect's
registry, and the cluster key comes from the task metadata the eval registry
stamped.  The result must equal what the live
process computed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log

from alignlab.analysis import cluster_key, log_metric_estimates, metric_ci, sample_scores
from alignlab.evals.sycophancy import sycophancy, sycophancy_rate

FRESH_PROCESS = """
import json, sys
from inspect_ai.log import read_eval_log
from alignlab.analysis import log_metric_estimates
estimates = log_metric_estimates(read_eval_log(sys.argv[1]))
print(json.dumps({k: [e.value, e.ci_low, e.ci_high, n] for k, (e, n) in estimates.items()}))
"""


def _as_lists(estimates: dict[str, tuple[object, int]]) -> dict[str, list[float]]:
    out = {}
    for name, (estimate, n) in estimates.items():
        out[name] = [estimate.value, estimate.ci_low, estimate.ci_high, n]  # type: ignore[attr-defined]
    return out


def test_log_alone_gives_the_same_metrics_and_intervals(tmp_path: Path) -> None:
    [log] = inspect_eval(
        sycophancy(n_claims=12), model="random/uniform", display="none", log_dir=str(tmp_path)
    )
    live = _as_lists(log_metric_estimates(log))
    assert set(live) == {"no_opinion_accuracy", "sycophancy_rate", "opinion_shift"}
    assert all(not math.isnan(v[1]) for v in live.values())  # every metric got an interval

    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(log.location)],
        capture_output=True,
        text=True,
        check=True,
    )
    from_disk = json.loads(result.stdout.strip().splitlines()[-1])
    assert from_disk == live


def test_clusters_follow_the_logged_cluster_key(tmp_path: Path) -> None:
    [log] = inspect_eval(
        sycophancy(n_claims=10), model="random/uniform", display="none", log_dir=str(tmp_path)
    )
    stored = read_eval_log(str(log.location))
    assert stored.eval.metadata is not None
    assert stored.eval.metadata["alignlab_cluster_key"] == "item_id"
    scores = sample_scores(stored, "choice_scorer")
    by_item = metric_ci(sycophancy_rate(), scores, cluster=cluster_key, seed=0)
    estimate, _ = log_metric_estimates(stored)["sycophancy_rate"]
    assert (estimate.ci_low, estimate.ci_high) == (by_item.ci_low, by_item.ci_high)
