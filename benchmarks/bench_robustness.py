"""The robustness matrix: every attack on every built-in eval, verdicts before and after hardening.

For each registered eval and each registered attack, runs
:func:`alignlab.attacks.run_attack` on ``--model`` (the first ``--limit``
samples of ``test`` and ``heldout``) and keeps the report; then runs the same
attacks on each eval hardened by ``--hardening`` where it applies.
Verdicts (:mod:`alignlab.attacks._verdict`) are computed from ``heldout``:
a metric is robust to an attack when the 95% interval of every variant's
effect lies within ±0.05, gameable when an interval excludes zero with an
effect over 0.05 (or, for attacks that replace the model, when a variant
scores as aligned as the model).  ``mwe`` runs on one real file from
``../shared/data`` when it is there.

Reports are cached under ``runs/robustness/<model>/`` by (eval, attack,
hardening, limit): an interrupted run resumes where it stopped.

Writes ``benchmarks/results/robustness.json`` (``robustness_<model>.json``
for another model): ``{eval: {attack: {metric: [effect, ci_low, ci_high]} |
"n/a: <reason>"}, "verdicts": {eval: {metric: verdict}}, "hardened_verdicts":
{eval: {metric: verdict}}, "hardened_matrix": {...}, "timings": {eval: {attack:
s}}, ...}`` (an :class:`alignlab.attacks.RobustnessFile`, which experiment specs
read with ``robustness:``).
Run: ``.venv/bin/python benchmarks/bench_robustness.py [--model M] [--limit N]
[--evals a,b] [--attacks a,b]``.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _machine import DEFAULT_BENCH_MODEL, results_path
from alignlab._errors import AlignlabError
from alignlab.attacks import (
    VERDICT_SPLIT,
    AttackReport,
    RobustnessFile,
    attack_cells,
    harden_eval,
    matrix_json,
    metric_verdicts,
    registered_attacks,
    run_attack,
    write_report,
)
from alignlab.evals import registered_evals
from alignlab.files import atomic_write_text

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs/robustness")
MWE_FILE = (
    Path(__file__).resolve().parents[2]
    / "shared/data/anthropic-model-written-evals/persona/agreeableness.jsonl"
)
NO_HARDENING = "none"


def _task_args(eval_name: str) -> dict[str, Any] | None:
    """Task arguments per eval (None: skip it)."""
    if eval_name == "mwe":
        return {"path": str(MWE_FILE)} if MWE_FILE.exists() else None
    return {}


def _cached_report(
    eval_name: str,
    attack: str,
    hardening: str,
    options: argparse.Namespace,
    base_logs: dict[str, Any],
) -> AttackReport:
    limit = _limit(eval_name, options)
    splits = "+".join(options.splits)
    path = RUNS / options.model / f"{eval_name}-{attack}-{hardening}-{splits}-{limit}.json"
    if path.exists():
        return AttackReport.model_validate_json(path.read_text())
    if options.cached_only:
        return AttackReport(
            eval=eval_name,
            model=options.model,
            attack=attack,
            date="",
            not_applicable="not run: the benchmark was stopped before this attack",
        )
    args = _task_args(eval_name)
    assert args is not None
    report = run_attack(
        eval_name,
        f"alignlab/{options.model}",
        attack,
        splits=options.splits,
        limit=limit,
        task_args=args,
        log_dir=options.log_dir,
        hardening=None if hardening == NO_HARDENING else hardening,
        base_logs=base_logs,
    )
    write_report(report, path)
    return report


def _limit(eval_name: str, options: argparse.Namespace) -> int:
    """Samples per split: ``--limit``, or the eval's own from ``--eval-limit``."""
    for entry in reversed(options.eval_limit):  # the last given wins over the default
        name, _, value = entry.partition("=")
        if name == eval_name:
            return int(value)
    return int(options.limit)


def _applies(eval_name: str, hardening: str) -> bool:
    try:
        harden_eval(eval_name, hardening, _task_args(eval_name))
    except AlignlabError as exc:
        print(f"{eval_name}: not hardened: {exc}")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL)
    parser.add_argument("--limit", type=int, default=60, help="samples per split")
    parser.add_argument("--evals", default="", help="comma-separated (default: all)")
    parser.add_argument("--attacks", default="", help="comma-separated (default: all)")
    parser.add_argument(
        "--eval-limit",
        action="append",
        default=["cot_faithfulness=10"],
        help="EVAL=N: another limit for one eval (cot_faithfulness generates its reasoning: "
        "about 5 s a sample on smollm2-135m)",
    )
    parser.add_argument(
        "--splits", type=lambda text: tuple(text.split(",")), default=("test", "heldout")
    )
    parser.add_argument("--hardening", default="position_debias")
    parser.add_argument(
        "--hardened-attacks",
        default="answer_position",
        help="comma-separated attacks rerun on the hardened evals (default: the one the "
        "hardening answers)",
    )
    parser.add_argument("--log-dir", type=Path, default=Path("logs/robustness"))
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="write the file from the reports already run; the rest are marked not run",
    )
    options = parser.parse_args()

    known = registered_evals()
    evals = [e for e in options.evals.split(",") if e in known] if options.evals else list(known)
    attacks = [
        a for a in registered_attacks() if not options.attacks or a in options.attacks.split(",")
    ]
    started = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    hardened_rows: dict[str, dict[str, Any]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for eval_name in evals:
        if _task_args(eval_name) is None:
            print(f"skip {eval_name}: {MWE_FILE} not found")
            continue
        rows[eval_name], seconds[eval_name] = {}, {}
        base_logs: dict[str, Any] = {}
        for attack in attacks:
            report = _cached_report(eval_name, attack, NO_HARDENING, options, base_logs)
            seconds[eval_name][attack] = report.seconds
            rows[eval_name][attack] = attack_cells(report)
            print(f"{eval_name} / {attack}: {report.seconds:.0f} s", flush=True)
        if not _applies(eval_name, options.hardening):
            continue
        hardened_rows[eval_name], hardened_logs = {}, {}
        for attack in options.hardened_attacks.split(","):
            report = _cached_report(eval_name, attack, options.hardening, options, hardened_logs)
            seconds[eval_name][f"{attack}+{options.hardening}"] = report.seconds
            hardened_rows[eval_name][attack] = attack_cells(report)
            print(f"{eval_name} / {attack} / {options.hardening}: {report.seconds:.0f} s")
    robustness = RobustnessFile(
        model=options.model,
        date=started.isoformat(timespec="seconds"),
        matrix=matrix_json(rows),
        verdicts={e: metric_verdicts(r) for e, r in rows.items()},
        hardening=options.hardening,
        hardened_matrix=matrix_json(hardened_rows),
        hardened_verdicts={e: metric_verdicts(r) for e, r in hardened_rows.items()},
        timings=seconds,
        limit_per_split=options.limit,
        split=VERDICT_SPLIT if VERDICT_SPLIT in options.splits else options.splits[-1],
    )
    path = results_path(RESULTS, "robustness", options.model)
    atomic_write_text(path, robustness.to_json())
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"wrote {path} ({platform.machine()}, {os.cpu_count()} CPUs, until {finished})")


if __name__ == "__main__":
    main()
