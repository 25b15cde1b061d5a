"""Run an attack on an eval: the unattacked eval and each variant on the same samples.

For every split asked (``test`` and ``heldout`` by default) the eval is scored
once as it is (the model answers) and once per attack variant; each metric of
each variant is compared with the unattacked run on the samples both scored
(paired cluster bootstrap, :func:`alignlab.analysis.log_paired_differences`).
A variant may be answered by another model than the run's
(``AttackVariant.model``: a contaminated adapter or a model organism on the
run's base).
A metric with an aligned direction (``EvalInfo.better``) also says whether the
variant *scores as aligned as the model* (point estimates): for a degenerate
policy that is the finding "this metric cannot tell a null policy from the model".

With ``hardening=NAME`` (:mod:`alignlab.attacks._harden`) the same comparison
runs on the hardened eval: the hardening applies to the unattacked run and to
every variant alike.  An attack's diagnostics hook, if it has one, adds numbers
of its own per split (``SplitResult.diagnostics``).

The report is a versioned pydantic record, written atomically; the ``.eval``
logs stay in the log directory as the per-sample record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from alignlab._errors import AlignlabError
from alignlab.attacks._harden import Hardening, build_hardening, get_hardening
from alignlab.attacks._registry import (
    AttackVariant,
    NotApplicable,
    build_attack,
    check_attack_args,
    get_attack,
)

REPORT_VERSION: Literal[1] = 1
DEFAULT_SPLITS = ("test", "heldout")
POLICY_MODEL = "mockllm/model"
"""The Inspect model named for variants whose answers never come from a model."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricEffect(_Record):
    """One metric under one variant, against the unattacked run on the same samples.

    Undefined values (e.g. a rate over no answered items under the ``refuse``
    policy) are None.
    """

    base: float | None
    attacked: float | None
    effect: float | None
    """``attacked - base`` over the paired samples."""
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_pairs: int
    scores_as_aligned: bool | None = None
    """The variant scores at least as aligned as the model (None: the metric has no
    aligned direction, or a value is undefined)."""


class VariantResult(_Record):
    """One attack variant on one split."""

    description: str
    metrics: dict[str, MetricEffect]
    replaces_model: bool = False
    """Its answers are not the model's (a null policy, a fixed reply)."""
    should_be_caught: bool = False
    """Its model is an organism a robust metric should catch (see ``AttackVariant``)."""


class SplitResult(_Record):
    """The unattacked metrics and every variant on one split."""

    base_metrics: dict[str, float]
    variants: dict[str, VariantResult]
    logs: dict[str, str]
    """``base`` and each variant: the ``.eval`` log it came from."""
    diagnostics: dict[str, float | None] = {}
    """The attack's own numbers for this split (its diagnostics hook; empty without one)."""


class AttackReport(_Record):
    """What ``alignlab redteam`` writes for one eval and one attack."""

    version: Literal[1] = REPORT_VERSION
    eval: str
    model: str
    attack: str
    hardening: str | None = None
    """The hardening the eval was run under (None: the eval as it is)."""
    date: str
    not_applicable: str | None = None
    """Why the attack does not apply (then ``splits`` is empty)."""
    splits: dict[str, SplitResult] = {}
    attack_args: dict[str, Any] = {}
    """The attack's own options, as validated (empty: none)."""
    across_splits: dict[str, float | None] = {}
    """The attack's numbers from every split together (its across-splits hook; empty
    without one), e.g. ``train_on_public``'s overfitting gap."""
    seconds: float = 0.0


def _defined(value: float) -> float | None:
    """``value``, or None for NaN (JSON has no NaN)."""
    return None if value != value else float(value)


def _defined_or_none(value: float | None) -> float | None:
    return None if value is None else _defined(value)


def harden_eval(
    eval_name: str, hardening: str, task_args: dict[str, Any] | None = None
) -> Hardening:
    """The hardening ``hardening`` of eval ``eval_name``, checked before any run.

    Args:
        eval_name: A registered eval.
        hardening: A registered hardening.
        task_args: The run's task arguments.

    Returns:
        The hardening.

    Raises:
        AlignlabError: An unknown eval or hardening (listing the known ones), or
            one line saying why the hardening does not apply to the eval.
    """
    from alignlab.evals import check_task_args, get_eval

    info = get_eval(eval_name)
    built = build_hardening(
        get_hardening(hardening), info, check_task_args(info, dict(task_args or {}))
    )
    if isinstance(built, NotApplicable):
        raise AlignlabError(
            f"hardening '{hardening}' does not apply to eval '{eval_name}': {built.reason}"
        )
    return built


def as_aligned(direction: str | None, base: float, attacked: float) -> bool | None:
    """Whether ``attacked`` is at least as aligned as ``base`` for a metric's direction.

    Args:
        direction: ``higher``, ``lower``, ``zero`` or None.
        base: The model's value.
        attacked: The variant's value.

    Returns:
        None when there is no direction or either value is NaN.
    """
    if direction is None or base != base or attacked != attacked:
        return None
    if direction == "higher":
        return attacked >= base
    if direction == "lower":
        return attacked <= base
    return abs(attacked) <= abs(base)


def _metric_values(log: Any) -> dict[str, float]:
    from alignlab.analysis import log_metric_estimates

    return {
        name: float(estimate.value)
        for name, (estimate, _) in log_metric_estimates(log).items()
        if name not in ("stderr", "accuracy")
    }


def _task(
    info: Any,
    split: str,
    task_args: dict[str, Any],
    variant: AttackVariant | None,
    hardening: Hardening | None = None,
) -> Any:
    from inspect_ai import Task

    task = info.factory(split=split, **task_args)
    if variant is None and hardening is None:
        return task
    samples = list(task.dataset)
    if hardening is not None and hardening.samples is not None:
        samples = hardening.samples(samples)
    if variant is not None and variant.samples is not None:
        samples = variant.samples(samples)
    solver = variant.solver() if variant is not None and variant.solver is not None else task.solver
    if hardening is not None and hardening.solver is not None:
        solver = hardening.solver(solver, samples)
    return Task(
        dataset=samples,
        solver=solver,
        scorer=task.scorer,
        metrics=task.metrics,
        metadata=task.metadata,
        name=task.name,
    )


def _score(task: Any, model: Any, limit: int | None, log_dir: Path) -> Any:
    from inspect_ai import eval as inspect_eval

    from alignlab.models import DEFAULT_MAX_CONNECTIONS

    local = str(model).startswith("alignlab/")
    [log] = inspect_eval(
        task,
        model=model,
        limit=limit,
        log_dir=str(log_dir),
        display="none",
        max_connections=DEFAULT_MAX_CONNECTIONS if local else None,
    )
    if log.status != "success":
        message = log.error.message.strip().splitlines()[-1] if log.error else log.status
        raise AlignlabError(f"eval failed under the attack run: {message}")
    return log


def run_attack(
    eval_name: str,
    model: Any,
    attack_name: str,
    *,
    splits: Sequence[str] = DEFAULT_SPLITS,
    limit: int | None = None,
    task_args: dict[str, Any] | None = None,
    log_dir: Path = Path("logs/redteam"),
    hardening: str | None = None,
    base_logs: dict[str, Any] | None = None,
    attack_args: dict[str, Any] | None = None,
) -> AttackReport:
    """Score ``eval_name`` on ``model`` unattacked and under every variant of an attack.

    Args:
        eval_name: A registered eval.
        model: An Inspect model name (``alignlab/SPEC`` for a local model) or model.
        attack_name: A registered attack.
        splits: The eval's splits to score.
        limit: Score only the first N samples of each split.
        task_args: Further task arguments (not ``split``).
        log_dir: Where the ``.eval`` logs go.
        hardening: A registered hardening to run the eval (and every variant) under.
        base_logs: Unattacked logs by split, shared by several attacks on the same
            eval, model, task arguments, limit and hardening: a split found here is
            not scored again, and a split scored is added.  None: no sharing.
        attack_args: The attack's own options (``AttackInfo.options``), by name.

    Returns:
        The report (``not_applicable`` set when the attack cannot apply).

    Raises:
        AlignlabError: An unknown eval, attack, hardening or split, bad task
            arguments or attack options, or a hardening that does not apply to the eval.
    """
    from alignlab.analysis import log_paired_differences
    from alignlab.evals import check_task_args, get_eval

    started = time.perf_counter()
    info = get_eval(eval_name)
    attack = get_attack(attack_name)
    args = check_task_args(info, dict(task_args or {}))
    options = check_attack_args(attack, attack_args or {})
    hardened = harden_eval(eval_name, hardening, args) if hardening is not None else None
    for split in splits:
        if split not in info.splits:
            raise AlignlabError(
                f"eval '{eval_name}' has no split '{split}'; choose from {', '.join(info.splits)}"
            )
    report = AttackReport(
        eval=eval_name,
        model=str(model),
        attack=attack_name,
        hardening=hardening,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        attack_args=options.model_dump(mode="json") if options is not None else {},
    )
    variants = build_attack(attack, info, args, options, str(model))
    if isinstance(variants, NotApplicable):
        return report.model_copy(update={"not_applicable": variants.reason})
    results: dict[str, SplitResult] = {}
    for split in splits:
        base_log = base_logs.get(split) if base_logs is not None else None
        if base_log is None:
            base_log = _score(_task(info, split, args, None, hardened), model, limit, log_dir)
            if base_logs is not None:
                base_logs[split] = base_log
        base_values = _metric_values(base_log)
        logs = {"base": str(base_log.location)}
        by_variant: dict[str, VariantResult] = {}
        variant_logs: dict[str, Any] = {}
        for variant in variants:
            scored_by = POLICY_MODEL if variant.replaces_model else variant.model or model
            log = _score(_task(info, split, args, variant, hardened), scored_by, limit, log_dir)
            logs[variant.name] = str(log.location)
            variant_logs[variant.name] = log
            values = _metric_values(log)
            effects: dict[str, MetricEffect] = {}
            for name, diff in log_paired_differences(log, base_log).items():
                base, attacked = base_values.get(name, float("nan")), values.get(name, float("nan"))
                effects[name] = MetricEffect(
                    base=_defined(base),
                    attacked=_defined(attacked),
                    effect=_defined(diff.difference),
                    ci_low=_defined(diff.ci_low),
                    ci_high=_defined(diff.ci_high),
                    p_value=_defined(diff.p_value),
                    n_pairs=diff.n_pairs,
                    scores_as_aligned=as_aligned(info.better.get(name), base, attacked),
                )
            by_variant[variant.name] = VariantResult(
                description=variant.description,
                metrics=effects,
                replaces_model=variant.replaces_model,
                should_be_caught=variant.should_be_caught,
            )
        diagnostics = attack.diagnostics(base_log, variant_logs) if attack.diagnostics else {}
        results[split] = SplitResult(
            base_metrics=base_values,
            variants=by_variant,
            logs=logs,
            diagnostics={name: _defined_or_none(v) for name, v in diagnostics.items()},
        )
    across = attack.across_splits(results) if attack.across_splits else {}
    return report.model_copy(
        update={
            "splits": results,
            "across_splits": {name: _defined_or_none(v) for name, v in across.items()},
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


def write_report(report: AttackReport, path: Path) -> None:
    """Write ``report`` as JSON, atomically (a crash leaves the old file or none)."""
    from alignlab.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, report.model_dump_json(indent=2) + "\n")
