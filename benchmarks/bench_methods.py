"""Every method trains on smollm2-135m at its defaults and its adapter evaluates: wall times.

For each registered method (or ``--methods a,b``): ``alignlab.methods.train`` on
``smollm2-135m`` with no parameters (the shared default budget, seed and LoRA),
then the adapter ``smollm2-135m+DIR`` is evaluated on one eval through the same
path ``alignlab eval`` takes (``inspect_ai.eval`` with the alignlab provider,
metrics from :func:`alignlab.analysis.log_metric_estimates`).  The eval is the
``test`` split of ``--eval`` (default ``sycophancy``), first ``--limit`` samples:
a check that the adapter loads and answers, not a comparison of methods (that
is what the paired ``bench_controls.py`` and experiments are for).

Writes ``benchmarks/results/methods.json``: per method, training wall seconds,
tokens seen, examples, first and last loss, the manifest's notes, eval wall
seconds and the eval's metrics ``[value, ci_low, ci_high]``.  Finished runs under
``--runs`` are reused (``train`` is a no-op on a finished identical run), so
their training time is the manifest's.  Run:
``.venv/bin/python benchmarks/bench_methods.py [--methods a,b] [--limit 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignlab.evals import registered_evals
from alignlab.methods import registered_methods, train
from bench_evals import run_one

RESULTS = Path(__file__).parent / "results" / "methods.json"


def main() -> None:
    """Train each method at its defaults, evaluate its adapter, write methods.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--eval", default="sycophancy")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--runs", type=Path, default=Path("runs/methods"))
    args = parser.parse_args()
    names = [m for m in args.methods.split(",") if m] or sorted(registered_methods())
    task_factory = registered_evals()[args.eval].factory
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("methods", {})
    with tempfile.TemporaryDirectory() as log_dir:
        for name in names:
            started = time.perf_counter()
            manifest = train(name, "smollm2-135m", args.runs / name)
            train_s = time.perf_counter() - started
            task = task_factory(split="test")
            # the same run-and-summarise as the eval baselines (metrics as [value, lo, hi])
            metrics, eval_s = run_one(
                task, f"alignlab/smollm2-135m+{args.runs / name}", args.limit, log_dir
            )
            results["methods"][name] = {
                "train_wall_s": round(manifest.wall_time_s, 1),
                "train_wall_s_this_run": round(train_s, 1),
                "tokens_seen": manifest.tokens_seen,
                "n_examples": manifest.n_examples,
                "loss_first": manifest.loss_curve[0].loss if manifest.loss_curve else None,
                "loss_last": manifest.loss_curve[-1].loss if manifest.loss_curve else None,
                "notes": manifest.notes,
                "eval": f"{args.eval}/test limit {args.limit}",
                "eval_wall_s": round(eval_s, 1),
                "metrics": metrics,
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
            print(
                f"{name:26s} train {manifest.wall_time_s:6.0f}s  tokens {manifest.tokens_seen:6d}  "
                f"eval {eval_s:5.0f}s  {metrics}",
                flush=True,
            )
            results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
            results["machine"] = f"{platform.machine()}, {os.cpu_count()} cpus"
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
