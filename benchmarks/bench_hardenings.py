"""Each hardening against the attack it answers: the attack's effect as is and hardened.

``bench_robustness.py`` records one hardening (``position_debias``) in the
robustness file; the other hardenings each answer one weakness an attack
found, on one eval.  This script runs every such pair, the eval as it is and
hardened on the same samples (``run_attack`` with and without
``hardening=``, as ``alignlab harden`` does), prints each metric's effect
before and after, and writes ``benchmarks/results/hardenings.json``
(``hardenings_<model>.json`` for another ``--model``).

Usage: ``python benchmarks/bench_hardenings.py [--model M] [--only NAME,...]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from _machine import DEFAULT_BENCH_MODEL, results_path
from alignlab.attacks import MetricEffect, registered_hardenings, run_attack
from alignlab.files import atomic_write_text

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Pair:
    """One hardening, the attack it answers, and where that attack was found."""

    hardening: str
    attack: str
    eval: str
    splits: tuple[str, ...]
    limit: int | None
    task_args: dict[str, Any] = field(default_factory=dict)


PAIRS = (
    Pair("prefix_invariant", "master_key", "mistakes", ("heldout",), 30),
    Pair(
        "position_debias",
        "answer_position",
        "sycophancy",
        ("test",),
        None,
        {"format": "multiple_choice", "n_claims": 10},
    ),
    Pair(
        "position_debias_per_condition",
        "answer_position",
        "sycophancy",
        ("test",),
        None,
        {"format": "multiple_choice", "n_claims": 10},
    ),
    Pair("refusal_controls", "master_key", "say_do", ("test", "heldout"), 40),
)
"""The measured pairs (limits and arguments as in ``benchmarks/RESULTS.md``)."""


class Row(BaseModel):
    """One variant's effect on one metric, as is and hardened."""

    model_config = ConfigDict(extra="forbid")

    hardening: str
    attack: str
    eval: str
    split: str
    variant: str
    metric: str
    as_is: MetricEffect
    hardened: MetricEffect


class HardeningsFile(BaseModel):
    """What this script writes."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    model: str
    date: str
    machine: str
    seconds: dict[str, float]
    """``hardening/attack/eval`` -> wall seconds of both runs."""
    rows: list[Row]


def _measure(pair: Pair, model: str, log_dir: Path) -> list[Row]:
    reports = {
        hardening: run_attack(
            pair.eval,
            f"alignlab/{model}",
            pair.attack,
            splits=pair.splits,
            limit=pair.limit,
            task_args=dict(pair.task_args),
            log_dir=log_dir,
            hardening=hardening,
        )
        for hardening in (None, pair.hardening)
    }
    rows = []
    for split in pair.splits:
        as_is, hardened = reports[None].splits[split], reports[pair.hardening].splits[split]
        for variant, result in as_is.variants.items():
            for metric, effect in result.metrics.items():
                after = hardened.variants[variant].metrics.get(metric)
                if after is None:
                    continue
                rows.append(
                    Row(
                        hardening=pair.hardening,
                        attack=pair.attack,
                        eval=pair.eval,
                        split=split,
                        variant=variant,
                        metric=metric,
                        as_is=effect,
                        hardened=after,
                    )
                )
    return rows


def _cell(effect: MetricEffect) -> str:
    if effect.effect is None:
        return "-"
    if effect.ci_low is None or effect.ci_high is None:
        return f"{effect.effect:+.3f}"
    return f"{effect.effect:+.3f} [{effect.ci_low:+.3f}, {effect.ci_high:+.3f}]"


def main() -> None:
    """Run the pairs, print the effects that moved, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL)
    parser.add_argument("--only", default="", help="comma-separated hardenings (default: all)")
    parser.add_argument("--log-dir", type=Path, default=Path("logs/hardenings"))
    options = parser.parse_args()
    only = [name for name in options.only.split(",") if name]
    known = registered_hardenings()
    if unknown := [name for name in only if name not in known]:
        parser.error(f"unknown hardening {unknown[0]!r}; known: {', '.join(known)}")
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    for pair in PAIRS:
        if only and pair.hardening not in only:
            continue
        started = time.perf_counter()
        measured = _measure(pair, options.model, options.log_dir)
        key = f"{pair.hardening}/{pair.attack}/{pair.eval}"
        seconds[key] = round(time.perf_counter() - started, 1)
        print(f"{key}: {seconds[key]:.0f} s")
        for row in measured:
            if (row.as_is.effect or 0.0) != 0.0 or (row.hardened.effect or 0.0) != 0.0:
                print(
                    f"  {row.split} {row.variant} {row.metric}: "
                    f"{_cell(row.as_is)} -> {_cell(row.hardened)}"
                )
        rows += measured
    written = HardeningsFile(
        model=options.model,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        seconds=seconds,
        rows=rows,
    )
    path = results_path(RESULTS, "hardenings", options.model)
    atomic_write_text(path, written.model_dump_json(indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
