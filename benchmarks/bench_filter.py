"""What Wei et al.'s filter keeps on smollm2-135m: kept claims and their truth balance per format.

Builds the ``synthetic_data`` method's data exactly as ``alignlab train
synthetic_data`` does at its defaults (seed 0, the default token budget), and
records the builder's notes: how many claims the filter kept and, per format,
how many of the kept claims are true and false.  ``RESULTS.md`` cites these
numbers to explain why the filter degenerates on a model that does not know
the answers.  Writes ``benchmarks/results/filter.json``.
Run: ``.venv/bin/python benchmarks/bench_filter.py`` (about a minute).
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignlab.methods import BuildContext, TrainingConfig, registered_methods

RESULTS = Path(__file__).parent / "results" / "filter.json"


def main() -> None:
    """Run the filter at the method's defaults and write its notes."""
    info = registered_methods()["synthetic_data"]
    training = TrainingConfig()
    context = BuildContext(
        seed=training.seed, token_budget=training.token_budget, base_spec="smollm2-135m"
    )
    examples = info.builder(info.config(), context)
    for note in context.notes:
        print(note)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "base": "smollm2-135m",
        "seed": training.seed,
        "token_budget": training.token_budget,
        "n_examples": len(examples),
        "notes": context.notes,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
