"""Classic vs CLoud reward models at the same token budget: accuracy, robustness, best-of-N.

Trains a ``classic`` and a ``cloud`` reward model (Ankner et al. 2024,
arXiv:2408.11791) on the evals' ``train`` pairs with the same shared training
settings (seed, LoRA, ``--token-budget``: both count every token the model
processes, CLoud's critiques included), then, on the same ``--split`` pairs:

- pairwise accuracy of each with a Wilson interval, and CLoud minus classic
  with a paired bootstrap interval and McNemar's exact test;
- the robustness table (:func:`alignlab.rewards.robustness`): accuracy drop
  per transform with paired bootstrap intervals, for both;
- best-of-N curves (:func:`alignlab.rewards.run_best_of_n`): ``--ns`` replies
  per free-text prompt sampled once from ``--policy`` (default: the base),
  picked by each reward model, scored by the gold reward, against the
  analytic KL ``log n - (n - 1) / n`` (Gao et al. 2022, arXiv:2210.10760);
  the same draws are scored by both reward models; plotted as a PNG.

Writes ``benchmarks/results/reward_models.json`` (``reward_models_MODEL.json``
for a model other than smollm2-135m; ``--out`` overrides) with
``classic_accuracy`` and ``cloud_accuracy`` (``[value, ci_low, ci_high]``),
``cloud_minus_classic`` (``[difference, ci_low, ci_high]``), ``robustness``
(``{rm_kind: {transform: [accuracy_drop, ci_low, ci_high]}}``) and
``best_of_n`` (``{rm_kind: [{"n", "kl", "proxy", "gold", ...}]}``), plus the
training manifests' key numbers.  Reward models are trained into ``--runs``
and reused when rerun with the same settings.  Run:
``.venv/bin/python benchmarks/bench_reward_models.py [--model M] [--token-budget T]
[--n-items 30] [--ns 1,2,4,8,16,32,64] [--bon-prompts 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignlab.files import atomic_write_text
from alignlab.models import DEFAULT_MODEL
from alignlab.rewards import (
    LoadedRewardModel,
    best_of_n_prompts,
    compare_reward_models,
    load_reward_model,
    pairwise_accuracy,
    parse_ns,
    plot_best_of_n,
    policy_sampler,
    preference_pairs,
    robustness,
    run_best_of_n,
    score_pairs,
    train_reward_model,
)

KINDS = ("classic", "cloud")
RESULTS = Path(__file__).parent / "results"


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_both(
    model: str, budget: int, runs: Path, shared: dict[str, Any], cloud: dict[str, Any]
) -> dict[str, LoadedRewardModel]:
    """Train (or reuse) both kinds at the same budget and shared settings; load them."""
    loaded = {}
    for kind in KINDS:
        params = {"token_budget": budget, **shared, **(cloud if kind == "cloud" else {})}
        out = runs / f"rm-{kind}"
        train_reward_model(kind, model, out, params)
        loaded[kind] = load_reward_model(out)
    return loaded


def evaluate(
    models: dict[str, LoadedRewardModel],
    split: str,
    n_items: int,
    limit: int | None,
    ns: Sequence[int],
    bon_prompts: int,
    policy: str,
    plot: Path,
    seed: int,
    max_new_tokens: int,
) -> dict[str, Any]:
    """Accuracy with the paired difference, robustness and best-of-N of both reward models."""
    families = models["classic"].manifest.families
    pairs = preference_pairs(split, n_items, seed, families)[:limit]
    outcomes = {kind: score_pairs(m.scorer, pairs) for kind, m in models.items()}
    comparison = compare_reward_models(outcomes["cloud"], outcomes["classic"], seed=seed)
    report: dict[str, Any] = {
        "split": split,
        "n_pairs": len(pairs),
        "classic_accuracy": pairwise_accuracy(outcomes["classic"]).as_list(),
        "cloud_accuracy": pairwise_accuracy(outcomes["cloud"]).as_list(),
        "cloud_minus_classic": comparison.difference.as_list(),
        "mcnemar": {
            "p_value": comparison.mcnemar.p_value,
            "only_cloud": comparison.mcnemar.only_a,
            "only_classic": comparison.mcnemar.only_b,
        },
        "robustness": {},
        "robustness_n_pairs": {},
        "best_of_n": {},
    }
    for kind, m in models.items():
        results = robustness(m.scorer, pairs, seed=seed, original=outcomes[kind])
        report["robustness"][kind] = {r.transform: r.drop.as_list() for r in results}
        report["robustness_n_pairs"][kind] = {r.transform: r.n_pairs for r in results}
    prompts = best_of_n_prompts(preference_pairs(split, n_items, seed, families))[:bon_prompts]
    sampler = policy_sampler(policy, max_new_tokens=max_new_tokens, seed=seed)
    draws: dict[str, list[list[str]]] = {}

    def once(batch: Sequence[Any], n: int) -> list[list[str]]:  # both RMs judge the same draws
        if "replies" not in draws:
            draws["replies"] = sampler(batch, n)
        return draws["replies"]

    curves = {}
    for kind, m in models.items():
        run = run_best_of_n(m.scorer, prompts, once, ns, seed=seed)
        curves[kind] = run.points
        report["best_of_n"][kind] = [p.row() for p in run.points]
    report["best_of_n_prompts"] = len(prompts)
    report["best_of_n_policy"] = policy
    report["best_of_n_plot"] = str(plot_best_of_n(curves, plot))
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it wrote."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--token-budget", type=int, default=24_000)
    parser.add_argument("--split", choices=("heldout", "test"), default="heldout")
    parser.add_argument("--n-items", type=int, default=30, help="eval items per source eval")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    parser.add_argument("--ns", default="1,2,4,8,16,32,64")
    parser.add_argument("--bon-prompts", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--policy", default=None, help="spec to sample from (default: --model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=None, help="where the RMs are trained")
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    parser.add_argument("-p", "--param", action="append", default=[], help="shared key=value")
    parser.add_argument("--cloud-param", action="append", default=[], help="cloud key=value")
    args = parser.parse_args(argv)
    name = Path(args.model).name
    suffix = "" if args.model == DEFAULT_MODEL else f"_{name}"
    out = args.out or RESULTS / f"reward_models{suffix}.json"
    runs = args.runs or Path("runs") / f"bench-reward-models{suffix}-{args.token_budget}"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    shared = {"seed": args.seed, **_params(args.param)}
    models = train_both(args.model, args.token_budget, runs, shared, _params(args.cloud_param))
    trained = time.perf_counter()
    report = evaluate(
        models,
        args.split,
        args.n_items,
        args.limit,
        parse_ns(args.ns),
        args.bon_prompts,
        args.policy or args.model,
        out.with_suffix(".png"),
        args.seed,
        args.max_new_tokens,
    )
    report = {
        "model": args.model,
        "token_budget": args.token_budget,
        **report,
        "training": {
            kind: {
                "directory": str(m.directory),
                "n_pairs": m.manifest.n_pairs,
                "tokens_seen": m.manifest.tokens_seen,
                "wall_time_s": m.manifest.wall_time_s,
                "params": m.manifest.params,
                "learning_check": (
                    m.manifest.learning_check.line() if m.manifest.learning_check else None
                ),
            }
            for kind, m in models.items()
        },
        "train_wall_s": round(trained - started, 1),
        "eval_wall_s": round(time.perf_counter() - trained, 1),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {k: report[k] for k in ("classic_accuracy", "cloud_accuracy", "cloud_minus_classic")}
        )
    )
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
