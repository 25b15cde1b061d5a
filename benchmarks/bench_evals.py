"""Baselines of every eval: smollm2-135m and the random-choice baseline, each split, with CIs.

For each registered eval and each of its splits, runs the first ``--limit``
samples (default 60) on ``alignlab/smollm2-135m`` and on ``random/uniform``
(uniformly random options, see :mod:`alignlab.models._random`), and records
every metric with its 95% cluster-bootstrap interval (the same computation
``alignlab eval`` prints) and the wall time of the smollm2 run.  ``mwe`` is
run on one real file from ``../shared/data`` when it is there.

Writes ``benchmarks/results/evals_baseline.json`` (smollm2-135m) and
``evals_random_baseline.json``, both shaped ``{eval: {split: {metric: [value,
ci_low, ci_high]}}}``, and ``evals_timing.json`` (seconds per eval and split).
Run: ``.venv/bin/python benchmarks/bench_evals.py [--limit N] [--evals a,b]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from _machine import DEFAULT_BENCH_MODEL, results_path
from alignlab.analysis import log_metric_estimates
from alignlab.evals import registered_evals
from alignlab.models import DEFAULT_MAX_CONNECTIONS

RESULTS = Path(__file__).parent / "results"
MWE_FILE = (
    Path(__file__).resolve().parents[2]
    / "shared/data/anthropic-model-written-evals/persona/agreeableness.jsonl"
)


def _triple(value: float, low: float, high: float) -> list[float | None]:
    return [None if math.isnan(x) else round(x, 4) for x in (value, low, high)]


def run_one(task: Any, model: Any, limit: int, log_dir: str) -> tuple[dict[str, Any], float]:
    """Run ``task`` on ``model``; metrics as [value, lo, hi] and the wall time."""
    started = time.perf_counter()
    [log] = inspect_eval(
        task,
        model=model,
        limit=limit,
        display="none",
        log_dir=log_dir,
        max_connections=DEFAULT_MAX_CONNECTIONS,
    )
    seconds = time.perf_counter() - started
    if log.status != "success":
        raise RuntimeError(f"{task.name} failed: {log.error}")
    metrics = {
        name: _triple(est.value, est.ci_low, est.ci_high)
        for name, (est, _) in log_metric_estimates(log).items()
        if name != "stderr"
    }
    return metrics, seconds


def main() -> None:
    """Run every eval and split on both models and write the JSON files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--evals", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL, help="a named model")
    args = parser.parse_args()
    wanted = [e for e in args.evals.split(",") if e]
    local = get_model(f"alignlab/{args.model}")
    baseline = get_model("random/uniform")
    results: dict[str, dict[str, Any]] = {}
    random_results: dict[str, dict[str, Any]] = {}
    timing: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as log_dir:
        for name, info in registered_evals().items():
            if wanted and name not in wanted:
                continue
            extra: dict[str, Any] = {}
            if name == "mwe":
                if not MWE_FILE.is_file():
                    print(f"skip mwe: {MWE_FILE} not found")
                    continue
                extra = {"path": str(MWE_FILE)}
            for split in info.splits:
                task = info.factory(split=split, **extra)
                metrics, seconds = run_one(task, local, args.limit, log_dir)
                random_metrics, _ = run_one(task, baseline, args.limit, log_dir)
                results.setdefault(name, {})[split] = metrics
                random_results.setdefault(name, {})[split] = random_metrics
                timing.setdefault(name, {})[split] = round(seconds, 1)
                print(f"{name:18s} {split:8s} {seconds:6.1f}s  {args.model} {metrics}")
                print(f"{'':18s} {'':8s} {'':7s}  random  {random_metrics}")
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}",
        "limit": args.limit,
        "model": args.model,
    }
    results_path(RESULTS, "evals_baseline", args.model).write_text(
        json.dumps(results, indent=2) + "\n"
    )
    (RESULTS / "evals_random_baseline.json").write_text(json.dumps(random_results, indent=2) + "\n")
    results_path(RESULTS, "evals_timing", args.model).write_text(
        json.dumps({"meta": meta, "seconds": timing}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
