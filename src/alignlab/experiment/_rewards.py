"""Run a spec's reward-model cells: train, score on gold-labelled pairs, compare paired.

The reward models of :mod:`alignlab.rewards` as cells of an experiment, with
the executor's guarantees: an ``rm_train`` cell calls
:func:`alignlab.rewards.train_reward_model` (itself locked and atomic, with a
manifest recording every file's hash) and is cached while its directory
verifies; an ``rm_accuracy``, ``rm_robustness`` or ``rm_best_of_n`` cell
becomes ``done`` in the same store transaction that stores its records
(per-pair rewards, accuracy drops, best-of-N points), so a killed run loses
no finished cell and a rerun runs only what is missing.  The eval cells of one
reward model load it once.

After the cells, every reward model is compared with the spec's first one on
the same pairs (same base, seed and split): the accuracy difference with a
paired bootstrap interval and McNemar's exact test
(:func:`alignlab.analysis.paired_bootstrap_diff`,
:func:`alignlab.analysis.mcnemar_exact`), stored as
:class:`~alignlab.experiment.RewardComparisonRecord` rows; with
``reward_models: [classic, cloud]`` that is CLoud minus classic (Ankner et
al. 2024, arXiv:2408.11791).

Simplified: cells run one after another in this process (under the Ray
executor too); best-of-N draws its replies from the base, not from a method's
adapter; every reward model of one seed gets the same draws (the sampler is
seeded with the training seed), but each cell draws them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from alignlab._errors import AlignlabError
from alignlab.experiment._execute import (
    CellOutcome,
    EventHook,
    RunSummary,
    now,
    owner_id,
    record_outcome,
)
from alignlab.experiment._plan import RM_PAIR_SEED, Plan, RewardEvalCell, RewardTrainCell
from alignlab.experiment._records import (
    BestOfNRecord,
    MetricRecord,
    RewardComparisonRecord,
    RewardPairRecord,
    RobustnessRecord,
)
from alignlab.experiment._store import Store

ACCURACY_METRIC: Final = "accuracy"
"""Metric name of an ``rm_accuracy`` cell's pairwise accuracy (``accuracy/FAMILY`` per family)."""
UPSTREAM_RM_FAILED: Final = "upstream failed: its reward model did not train"
CONFIDENCE: Final = 0.95
"""Confidence level of the stored intervals."""


def _rm_train_done(store: Store, run_dir: Path, cell: RewardTrainCell) -> bool:
    from alignlab.files import verify_hashes
    from alignlab.rewards import read_rm_manifest

    record = store.get_cell(cell.key)
    if record is None or record.state != "done":
        return False
    directory = run_dir / cell.rm_dir
    try:
        verify_hashes(directory, read_rm_manifest(directory).files)
    except AlignlabError:
        return False
    return True


def _rm_eval_done(store: Store, cell: RewardEvalCell) -> bool:
    record = store.get_cell(cell.key)
    return record is not None and record.state == "done"


def rm_train_work(
    run_dir: Path, cell: RewardTrainCell, on_step: Callable[[int, int, float], None] | None = None
) -> CellOutcome:
    """Train one reward model into the run directory (no store access)."""
    from alignlab.experiment._records import CurvePoint
    from alignlab.rewards import train_reward_model

    started = time.perf_counter()
    try:
        manifest = train_reward_model(
            cell.entry.name, cell.base, run_dir / cell.rm_dir, cell.params, on_step=on_step
        )
    except AlignlabError as exc:
        return CellOutcome(key=cell.key, error=str(exc))
    return CellOutcome(
        key=cell.key,
        artifact=cell.rm_dir,
        duration_s=round(time.perf_counter() - started, 2),
        curve=tuple(
            CurvePoint(cell_key=cell.key, step=p.step, loss=p.loss) for p in manifest.loss_curve
        ),
    )


def _metric(key: str, name: str, estimate: Any) -> MetricRecord:
    return MetricRecord(
        cell_key=key,
        metric=name,
        value=estimate.value,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        n=estimate.n,
    )


def _accuracy(key: str, scorer: Any, pairs: Sequence[Any]) -> CellOutcome:
    from alignlab.rewards import accuracy_by_family, pairwise_accuracy, score_pairs

    outcomes = score_pairs(scorer, pairs)
    metrics = [_metric(key, ACCURACY_METRIC, pairwise_accuracy(outcomes))]
    metrics += [
        _metric(key, f"{ACCURACY_METRIC}/{family}", estimate)
        for family, estimate in accuracy_by_family(outcomes).items()
    ]
    rows = tuple(
        RewardPairRecord(
            cell_key=key,
            position=index,
            family=o.pair.family,
            item_id=o.pair.item_id,
            chosen_reward=o.chosen_reward,
            rejected_reward=o.rejected_reward,
        )
        for index, o in enumerate(outcomes)
    )
    return CellOutcome(key=key, metrics=tuple(metrics), results=rows)


def _robustness(
    key: str, scorer: Any, pairs: Sequence[Any], transforms: Sequence[str]
) -> CellOutcome:
    from alignlab.rewards import robustness

    results = robustness(scorer, pairs, transforms, seed=RM_PAIR_SEED)
    rows = tuple(
        RobustnessRecord(
            cell_key=key,
            position=index,
            transform=r.transform,
            n_pairs=r.n_pairs,
            original=r.original.value,
            transformed=r.transformed.value,
            accuracy_drop=r.drop.value,
            ci_low=r.drop.ci_low,
            ci_high=r.drop.ci_high,
        )
        for index, r in enumerate(results)
    )
    return CellOutcome(key=key, results=rows)


def _best_of_n(key: str, scorer: Any, pairs: Sequence[Any], cell: RewardEvalCell) -> CellOutcome:
    from alignlab.rewards import best_of_n_prompts, policy_sampler, run_best_of_n

    prompts = best_of_n_prompts(pairs)[: cell.prompts]
    sampler = policy_sampler(
        cell.train.base, max_new_tokens=cell.max_new_tokens, seed=cell.train.seed
    )
    run = run_best_of_n(scorer, prompts, sampler, cell.ns, seed=RM_PAIR_SEED)
    rows = tuple(
        BestOfNRecord(
            cell_key=key,
            n=p.n,
            kl=p.kl,
            proxy=p.proxy.value,
            proxy_ci_low=p.proxy.ci_low,
            proxy_ci_high=p.proxy.ci_high,
            gold=p.gold.value,
            gold_ci_low=p.gold.ci_low,
            gold_ci_high=p.gold.ci_high,
            n_prompts=len(prompts),
        )
        for p in run.points
    )
    return CellOutcome(key=key, results=rows)


def rm_eval_work(run_dir: Path, cells: Sequence[RewardEvalCell]) -> list[CellOutcome]:
    """Score one reward model on its eval cells, loading it once (no store access)."""
    from alignlab.rewards import load_reward_model, preference_pairs

    if not cells:
        return []
    train = cells[0].train
    try:
        loaded = load_reward_model(run_dir / train.rm_dir, train.base)
    except AlignlabError as exc:
        return [CellOutcome(key=cell.key, error=str(exc)) for cell in cells]
    families = loaded.manifest.families
    outcomes = []
    for cell in cells:
        started = time.perf_counter()
        try:
            pairs = preference_pairs(cell.split, cell.items, RM_PAIR_SEED, families)
            scored = pairs[: cell.limit] if cell.limit is not None else pairs
            if cell.kind == "rm_accuracy":
                outcome = _accuracy(cell.key, loaded.scorer, scored)
            elif cell.kind == "rm_robustness":
                outcome = _robustness(cell.key, loaded.scorer, scored, cell.transforms)
            else:  # best-of-N draws from every pair's prompts, not only the scored prefix
                outcome = _best_of_n(cell.key, loaded.scorer, pairs, cell)
        except AlignlabError as exc:
            outcomes.append(CellOutcome(key=cell.key, error=str(exc)))
            continue
        seconds = round(time.perf_counter() - started, 2)
        outcomes.append(
            CellOutcome(
                key=cell.key,
                duration_s=seconds,
                metrics=outcome.metrics,
                results=outcome.results,
            )
        )
    return outcomes


def run_reward_cells(
    plan: Plan,
    store: Store,
    run_dir: Path,
    summary: RunSummary,
    event: EventHook,
    on_step: Callable[[str, int, int, float], None] | None = None,
) -> None:
    """Run the plan's reward-model cells the store does not have (the executor's last step).

    Cached cells count in ``summary.cached``; a failed ``rm_train`` cell fails its
    eval cells with "upstream failed".
    """

    def finish(outcome: CellOutcome, name: str) -> None:
        record_outcome(store, outcome)
        if outcome.error is not None:
            summary.failed.append(f"{name}: {outcome.error}")
            event(outcome.key, "failed", outcome.error)
        else:
            summary.done += 1
            event(outcome.key, "done")

    for train in plan.rm_train_cells:
        train_failed = False
        if _rm_train_done(store, run_dir, train):
            summary.cached += 1
            event(train.key, "cached")
        else:
            store.mark_running(train.key, owner_id(), now())
            event(train.key, "running")

            def step(step: int, total: int, loss: float, key: str = train.key) -> None:
                if on_step is not None:
                    on_step(key, step, total, loss)

            outcome = rm_train_work(run_dir, train, step)
            finish(outcome, f"reward model {train.label}")
            train_failed = outcome.error is not None
        todo = []
        for cell in (c for c in plan.rm_eval_cells if c.train.key == train.key):
            if _rm_eval_done(store, cell):
                summary.cached += 1
                event(cell.key, "cached")
            elif train_failed:
                store.fail_cell(cell.key, UPSTREAM_RM_FAILED, now())
                summary.failed.append(
                    f"{train.label} {cell.what}/{cell.split}: {UPSTREAM_RM_FAILED}"
                )
                event(cell.key, "failed", UPSTREAM_RM_FAILED)
            else:
                store.mark_running(cell.key, owner_id(), now())
                event(cell.key, "running")
                todo.append(cell)
        for cell, outcome in zip(todo, rm_eval_work(run_dir, todo), strict=True):
            finish(outcome, f"{train.label} {cell.what}/{cell.split}")


def compare_reward_models(store: Store, plan: Plan) -> list[RewardComparisonRecord]:
    """Every reward model minus the spec's first one, paired on the same pairs; stored.

    Pairs are ``rm_accuracy`` cells of the same base, seed and split whose stored
    per-pair rows name the same items in the same order.  Nothing is stored (and
    nothing replaced) for a spec without reward models.
    """
    from alignlab.analysis import mcnemar_exact, paired_bootstrap_diff

    if not plan.rm_train_cells:
        return []
    reference = plan.loaded.spec.reward_models[0].shown
    done = {
        cell.key: cell
        for cell in plan.rm_eval_cells
        if cell.kind == "rm_accuracy" and _rm_eval_done(store, cell)
    }
    pairs: dict[str, list[RewardPairRecord]] = {}
    for row in store.reward_pairs(plan.run_id):
        if row.cell_key in done:
            pairs.setdefault(row.cell_key, []).append(row)
    groups: dict[tuple[str, int, str], dict[str, RewardEvalCell]] = {}
    for cell in done.values():
        groups.setdefault((cell.train.base, cell.train.seed, cell.split), {})[cell.train.label] = (
            cell
        )
    rows = []
    for (base, seed, split), cells in groups.items():
        if reference not in cells:
            continue
        ref_rows = pairs.get(cells[reference].key, [])
        for label, cell in cells.items():
            own = pairs.get(cell.key, [])
            if label == reference or not own or len(own) != len(ref_rows):
                continue
            if [(r.item_id, r.family) for r in own] != [(r.item_id, r.family) for r in ref_rows]:
                continue
            hits = [r.chosen_reward > r.rejected_reward for r in own]
            ref_hits = [r.chosen_reward > r.rejected_reward for r in ref_rows]
            difference = paired_bootstrap_diff(
                [float(h) for h in hits],
                [float(h) for h in ref_hits],
                confidence=CONFIDENCE,
                seed=seed,
            )
            rows.append(
                RewardComparisonRecord(
                    run_id=plan.run_id,
                    label=label,
                    reference=reference,
                    base=base,
                    seed=seed,
                    split=split,
                    difference=difference.value,
                    ci_low=difference.ci_low,
                    ci_high=difference.ci_high,
                    mcnemar_p=mcnemar_exact(hits, ref_hits).p_value,
                    n_pairs=len(hits),
                )
            )
    store.replace_reward_comparisons(plan.run_id, rows)
    return rows
