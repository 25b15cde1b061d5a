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
The hardened evals rerun ``--hardened-attacks`` (default ``answer_position``,
the attack the default hardening answers); with ``--attacks``, only those of
them that ``--attacks`` names.  Attacks that need a trained adapter
(``eval_cue_organism``, ``train_on_public``) get it from ``--attack-arg
ATTACK:KEY=VALUE`` (``{eval}`` in VALUE is replaced by the eval's name; a path
that does not exist is left out, so the attack reports ``n/a``).  ``--merge``
adds this run's rows to the existing results file instead of replacing it: an
eval's metric verdict becomes the worse of its old verdict and the new
attacks' (gameable over inconclusive over robust), and an attack that already
has cells in the file is refused (rerun every attack instead: the file keeps
the verdicts, not each attack's share of them).
Run: ``.venv/bin/python benchmarks/bench_robustness.py [--model M] [--limit N]
[--evals a,b] [--attacks a,b] [--attack-arg eval_cue_organism:adapter=DIR] [--merge]
[--hardened-only]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
    read_robustness,
    registered_attacks,
    run_attack,
    verdicts_after_hardening,
    worse_verdict,
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
    attack_args = _attack_args(eval_name, attack, options)
    suffix = ""
    if attack_args:  # a different adapter is a different report
        digest = hashlib.sha256(json.dumps(attack_args, sort_keys=True).encode()).hexdigest()
        suffix = f"-{digest[:12]}"
    name = f"{eval_name}-{attack}-{hardening}-{splits}-{limit}{suffix}.json"
    path = RUNS / options.model / name
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
        attack_args=attack_args or None,
    )
    write_report(report, path)
    return report


def _attack_args(eval_name: str, attack: str, options: argparse.Namespace) -> dict[str, str]:
    """``--attack-arg`` values for ``attack`` on ``eval_name`` (missing paths left out)."""
    args: dict[str, str] = {}
    for entry in options.attack_arg:
        name, _, pair = entry.partition(":")
        key, _, value = pair.partition("=")
        if name != attack or not key:
            continue
        value = value.replace("{eval}", eval_name)
        if key == "adapter" and not Path(value).is_dir():
            continue  # no adapter for this eval: the attack reports n/a
        args[key] = value
    return args


def _merged(old: RobustnessFile, new: RobustnessFile) -> RobustnessFile:
    """``new``'s rows added to ``old`` (see the module docstring)."""
    for label, old_matrix, new_matrix in (
        ("", old.matrix, new.matrix),
        (" (hardened)", old.hardened_matrix, new.hardened_matrix),
    ):
        for eval_name, row in new_matrix.items():
            for attack, cells in row.items():
                before = old_matrix.get(eval_name, {}).get(attack)
                if (
                    before is not None
                    and not isinstance(before, str)
                    and not isinstance(cells, str)
                ):
                    raise SystemExit(
                        f"{eval_name} / {attack}{label} already has results in the file: "
                        "rerun every attack without --merge"
                    )

    def rows(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = {e: dict(r) for e, r in a.items()}
        for eval_name, row in b.items():
            for attack, cells in row.items():
                before = out.get(eval_name, {}).get(attack)
                if isinstance(cells, str) and before is not None and not isinstance(before, str):
                    continue  # an n/a here never replaces a result there (a newer n/a does)
                out.setdefault(eval_name, {})[attack] = cells
        return out

    def verdicts(a: dict[str, dict[str, str]], b: dict[str, dict[str, str]]) -> dict[str, Any]:
        out = {e: dict(v) for e, v in a.items()}
        for eval_name, by_metric in b.items():
            for metric, verdict in by_metric.items():
                previous = out.setdefault(eval_name, {}).get(metric)
                out[eval_name][metric] = (
                    verdict if previous is None else worse_verdict(previous, verdict)
                )
        return out

    timings = {e: dict(t) for e, t in old.timings.items()}
    for eval_name, by_attack in new.timings.items():
        timings.setdefault(eval_name, {}).update({a: s for a, s in by_attack.items() if s})
    return old.model_copy(
        update={
            "matrix": rows(old.matrix, new.matrix),
            "hardened_matrix": rows(old.hardened_matrix, new.hardened_matrix),
            "verdicts": verdicts(old.verdicts, new.verdicts),
            "hardened_verdicts": verdicts(old.hardened_verdicts, new.hardened_verdicts),
            "timings": timings,
            "date": f"{old.date}; merged {new.date}",
        }
    )


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
        "--attack-arg",
        action="append",
        default=[],
        help="ATTACK:KEY=VALUE, e.g. train_on_public:adapter=runs/top/{eval} ({eval}: the eval)",
    )
    parser.add_argument(
        "--hardened-only",
        action="store_true",
        help="run only the hardened evals' attacks (with --merge: add a missing hardened row)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add this run's rows to the existing results file instead of replacing it",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="write the file from the reports already run; the rest are marked not run",
    )
    options = parser.parse_args()

    for entry in options.attack_arg:
        name, colon, pair = entry.partition(":")
        if not colon or "=" not in pair or name not in registered_attacks():
            parser.error(
                f"--attack-arg '{entry}': expected ATTACK:KEY=VALUE with ATTACK one of "
                f"{', '.join(registered_attacks())}"
            )
    known = registered_evals()
    evals = [e for e in options.evals.split(",") if e in known] if options.evals else list(known)
    attacks = [
        a for a in registered_attacks() if not options.attacks or a in options.attacks.split(",")
    ]
    # with --attacks, only those attacks are rerun hardened (unless --hardened-only)
    hardened_attacks = [
        a
        for a in options.hardened_attacks.split(",")
        if options.hardened_only or not options.attacks or a in attacks
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
        for attack in [] if options.hardened_only else attacks:
            report = _cached_report(eval_name, attack, NO_HARDENING, options, base_logs)
            seconds[eval_name][attack] = report.seconds
            rows[eval_name][attack] = attack_cells(report)
            print(f"{eval_name} / {attack}: {report.seconds:.0f} s", flush=True)
        if not _applies(eval_name, options.hardening):
            continue
        hardened_rows[eval_name], hardened_logs = {}, {}
        for attack in hardened_attacks:
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
    if options.merge and path.exists():
        robustness = _merged(read_robustness(path), robustness)
    # after hardening, attacks not rerun on the hardened eval keep their verdicts
    carried = verdicts_after_hardening(
        robustness.verdicts, robustness.hardened_verdicts, robustness.hardened_matrix
    )
    robustness = robustness.model_copy(update={"hardened_verdicts": carried})
    atomic_write_text(path, robustness.to_json())
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"wrote {path} ({platform.machine()}, {os.cpu_count()} CPUs, until {finished})")


if __name__ == "__main__":
    main()
