"""Does a method learn what it is taught? Its learning check under several settings and seeds.

Trains ``--method`` on ``--model`` once per ``--setting`` and seed (each
setting a name and ``key=value`` parameters, as ``alignlab train -p`` takes
them; ``defaults`` with no parameters is the method's defaults) and prints the
learning check every manifest records (:mod:`alignlab.training`: SFT, the
loss on a held-back slice; DPO, preference accuracy on train pairs; GRPO, the
reward of replies sampled for the same train prompts before and after), with
the training time and tokens.  This is how the GRPO table in
``benchmarks/RESULTS.md`` ("Do DPO and GRPO learn") was made; its first rows
ran on a lent GPU (``ALIGNLAB_DEVICE=cuda``), the rest on the CPU.

Writes ``benchmarks/results/learning_METHOD.json`` (``learning_METHOD_MODEL.json``
for another model; ``--out`` overrides), one row per run, after every run, so an
interrupted sweep keeps what it finished; runs already in ``--runs`` are reused.
Run: ``.venv/bin/python benchmarks/bench_learning.py --method grpo
[--model M] [--setting 'lr1e-3:learning_rate=0.001,num_generations=8'] [--seeds 0,1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _machine import DEFAULT_BENCH_MODEL, results_path
from alignlab._errors import AlignlabError
from alignlab.files import atomic_write_text
from alignlab.methods import train, validate_request

RESULTS = Path(__file__).parent / "results"
DEFAULT_SETTING = "defaults:"


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:key=value,key=value`` -> the name and its parameters (values parsed as JSON)."""
    name, _, pairs = text.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name or "defaults", params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL)
    parser.add_argument("--setting", action="append", default=[], help="NAME:key=value,...")
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-learning"))
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()

    settings = [parse_setting(s) for s in options.setting or [DEFAULT_SETTING]]
    try:
        seeds = [int(s) for s in options.seeds.split(",")]
        for _, params in settings:  # every setting checked before hours of training
            validate_request(options.method, options.model, params)
    except (AlignlabError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    out = options.out or results_path(RESULTS, f"learning_{options.method}", options.model)
    rows: list[dict[str, Any]] = []
    model_dir = re.sub(r"[^A-Za-z0-9._-]+", "_", options.model).strip("_")  # a spec may be a path
    for name, params in settings:
        for seed in seeds:
            started = time.perf_counter()
            directory = options.runs / model_dir / options.method / f"{name}-seed{seed}"
            manifest = train(options.method, options.model, directory, {**params, "seed": seed})
            check = manifest.learning_check
            rows.append(
                {
                    "setting": name,
                    "params": params,
                    "seed": seed,
                    "device": manifest.device,
                    "wall_s": round(time.perf_counter() - started, 1),
                    "train_wall_s": manifest.wall_time_s,
                    "tokens_seen": manifest.tokens_seen,
                    "learning_check": None if check is None else check.model_dump(mode="json"),
                    "notes": manifest.notes,
                }
            )
            verdict = "-" if check is None else ("passed" if check.passed else "FAILED")
            detail = "" if check is None else f"{check.before:.3f} -> {check.after:.3f}"
            print(f"{name} seed {seed}: {verdict} {detail} ({rows[-1]['wall_s']} s)", flush=True)
            document = {
                "method": options.method,
                "model": options.model,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "runs": rows,
            }
            atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
