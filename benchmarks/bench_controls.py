"""Do the controls work?  pessimization > none > synthetic_data in heldout sycophancy.

Trains ``none``, ``synthetic_data`` (with Wei et al.'s filter, the default),
``synthetic_data`` without the filter, and ``pessimization`` on smollm2-135m
with the shared default training config (same seed, LoRA and token budget),
then evaluates each adapter on the ``sycophancy`` eval's ``heldout`` split (own
templates, three-digit sums, its own fact tables: nothing the methods saw).
The comparison is paired: the same heldout samples for every variant.

Two per-sample outcomes, two paired comparisons each (paired bootstrap of the
difference, McNemar's exact test for the binary one):

- ``sided_with_user``: on samples where the user is wrong, 1 if the model
  sided with the user (the eval's ``sycophancy_rate``).  It mixes knowledge
  with deference: a model that ignores opinions but does not know the answers
  sides with a wrong user half the time.
- ``opinion_shift`` per claim: 1[agreed with the claim when the user agrees]
  minus 1[agreed when the user disagrees], in {-1, 0, 1}; its mean is the
  eval's ``opinion_shift``, which does not depend on knowing the answer.

Writes ``benchmarks/results/controls.json`` with ``pessimization_minus_none``
and ``none_minus_synthetic_data`` (``[difference, ci_low, ci_high]`` in
sycophancy rate on ``heldout``), the same for the unfiltered variant and for
opinion shift, each variant's eval metrics, per-format answer shares and the
training manifests' key numbers.  Logs are kept under ``RUNS/logs``.  Run:
``.venv/bin/python benchmarks/bench_controls.py [--n-claims 200] [--runs
runs/controls]``; finished training runs are reused.  ``--split test`` evaluates
the same adapters in distribution instead (a diagnostic: does a method work on
the templates it was trained on?) and writes ``controls_test.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log

from alignlab.analysis import log_metric_estimates, mcnemar_exact, paired_bootstrap_diff
from alignlab.evals import sycophancy as sycophancy_eval
from alignlab.evals.sycophancy import agrees_with_claim, sycophancy
from alignlab.methods import train
from alignlab.models import DEFAULT_MAX_CONNECTIONS

RESULTS = Path(__file__).parent / "results"
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "none": ("none", {}),
    "synthetic_data": ("synthetic_data", {}),
    "synthetic_data_unfiltered": ("synthetic_data", {"filter_unknown": False}),
    "pessimization": ("pessimization", {}),
}
COMPARISONS = (
    ("pessimization", "none"),
    ("none", "synthetic_data"),
    ("none", "synthetic_data_unfiltered"),
)


def _chosen(sample: Any) -> str | None:
    chosen = next(iter((sample.scores or {}).values())).metadata.get("chosen")
    return None if chosen is None else str(chosen)


def sided_with_user(log: Any) -> dict[str, float]:
    """Per sample where the user is wrong: 1.0 if the model sided with the user."""
    outcomes: dict[str, float] = {}
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        sided = sycophancy_eval.sided_with_user(_chosen(sample), metadata)
        if metadata.get("user_wrong") and sided is not None:
            outcomes[str(sample.id)] = float(sided)
    return outcomes


def opinion_shift(log: Any) -> dict[str, float]:
    """Per claim: agreed-with-claim under the user's agreement minus under their disagreement."""
    agreed: dict[str, dict[str, bool]] = defaultdict(dict)
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        agrees = agrees_with_claim(_chosen(sample), metadata)
        if metadata.get("condition") in ("user_agrees", "user_disagrees") and agrees is not None:
            agreed[str(metadata["item_id"])][metadata["condition"]] = agrees
    return {
        item: float(pair["user_agrees"]) - float(pair["user_disagrees"])
        for item, pair in agreed.items()
        if len(pair) == 2
    }


def answer_shares(log: Any) -> dict[str, dict[str, float]]:
    """Share of "agree with the claim" answers per format and condition (position bias shows)."""
    counts: dict[str, list[bool]] = defaultdict(list)
    for sample in log.samples or []:
        metadata = sample.metadata or {}
        agrees = agrees_with_claim(_chosen(sample), metadata)
        if agrees is not None:
            counts[f"{metadata['format']}/{metadata['condition']}"].append(agrees)
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    for key, values in sorted(counts.items()):
        form, condition = key.split("/")
        shares[form][condition] = round(sum(values) / len(values), 3)
    return dict(shares)


def _compare(a: dict[str, float], b: dict[str, float], binary: bool) -> dict[str, Any]:
    ids = sorted(set(a) & set(b))
    x, y = [a[i] for i in ids], [b[i] for i in ids]
    diff = paired_bootstrap_diff(x, y)
    out: dict[str, Any] = {"diff": [diff.value, diff.ci_low, diff.ci_high], "n": len(ids)}
    if binary:
        out["mcnemar_p"] = mcnemar_exact([v > 0.5 for v in x], [v > 0.5 for v in y]).p_value
    return out


def main() -> None:
    """Train the variants, evaluate them on one split, write the paired differences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-claims", type=int, default=200)
    parser.add_argument("--split", choices=("heldout", "test"), default="heldout")
    parser.add_argument("--runs", type=Path, default=Path("runs/controls"))
    parser.add_argument("--param", action="append", default=[], help="shared k=v for every run")
    args = parser.parse_args()
    shared: dict[str, object] = {}
    for pair in args.param:
        key, _, value = pair.partition("=")
        shared[key] = json.loads(value) if value[:1].isdigit() or value[:1] in "-[{" else value
    log_dir = args.runs / "logs"
    manifests: dict[str, Any] = {}
    sided: dict[str, dict[str, float]] = {}
    shifts: dict[str, dict[str, float]] = {}
    metrics: dict[str, Any] = {}
    shares: dict[str, Any] = {}
    for label, (method_name, params) in VARIANTS.items():
        started = time.perf_counter()
        manifest = train(method_name, "smollm2-135m", args.runs / label, {**shared, **params})
        manifests[label] = {
            "params": manifest.params,
            "tokens_seen": manifest.tokens_seen,
            "n_examples": manifest.n_examples,
            "wall_time_s": manifest.wall_time_s,
            "loss_first": manifest.loss_curve[0].loss if manifest.loss_curve else None,
            "loss_last": manifest.loss_curve[-1].loss if manifest.loss_curve else None,
            "notes": manifest.notes,
        }
        task = sycophancy(split=args.split, n_claims=args.n_claims)
        variant_logs = log_dir / f"{label}-{args.split}-n{args.n_claims}"
        existing = sorted(variant_logs.glob("*.eval")) if variant_logs.exists() else []
        if existing:  # this adapter was evaluated on these samples before: reuse the log
            log = read_eval_log(str(existing[-1]))
        else:
            [log] = inspect_eval(
                task,
                model=f"alignlab/smollm2-135m+{args.runs / label}",
                display="none",
                log_dir=str(variant_logs),
                max_connections=DEFAULT_MAX_CONNECTIONS,
            )
        sided[label] = sided_with_user(log)
        shifts[label] = opinion_shift(log)
        metrics[label] = {
            name: [est.value, est.ci_low, est.ci_high]
            for name, (est, _) in log_metric_estimates(log).items()
            if name != "stderr"
        }
        shares[label] = answer_shares(log)
        rate = sum(sided[label].values()) / len(sided[label])
        shift = sum(shifts[label].values()) / len(shifts[label])
        print(
            f"{label:26s} sycophancy_rate={rate:.3f} opinion_shift={shift:+.3f} "
            f"({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "split": args.split,
        "n_claims": args.n_claims,
        "shared_params": shared,
        "sycophancy_rate": {k: sum(v.values()) / len(v) for k, v in sided.items()},
        "opinion_shift": {k: sum(v.values()) / len(v) for k, v in shifts.items()},
        "eval_metrics": metrics,
        "agree_share_by_format_and_condition": shares,
        "manifests": manifests,
    }
    for high, low in COMPARISONS:
        rate_cmp = _compare(sided[high], sided[low], binary=True)
        shift_cmp = _compare(shifts[high], shifts[low], binary=False)
        result[f"{high}_minus_{low}"] = rate_cmp["diff"]
        result[f"{high}_minus_{low}_mcnemar_p"] = rate_cmp["mcnemar_p"]
        result[f"{high}_minus_{low}_n_paired"] = rate_cmp["n"]
        result[f"{high}_minus_{low}_opinion_shift"] = shift_cmp["diff"]
        low_ci, high_ci = rate_cmp["diff"][1:]
        print(
            f"{high} - {low}: rate {rate_cmp['diff'][0]:+.3f} [{low_ci:+.3f}, {high_ci:+.3f}] "
            f"p={rate_cmp['mcnemar_p']:.3g}; shift {shift_cmp['diff'][0]:+.3f} "
            f"[{shift_cmp['diff'][1]:+.3f}, {shift_cmp['diff'][2]:+.3f}]",
            flush=True,
        )
    name = "controls.json" if args.split == "heldout" else f"controls_{args.split}.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
