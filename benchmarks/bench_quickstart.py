"""The main job's speed: `alignlab run examples/quickstart.yaml` from scratch, then again.

Targets (the experiment issue): the first run finishes in <= 15 minutes on a
2-core machine from a warm model cache, and a second run of the same spec, with
every cell cached, in <= 10 s.  Both runs are the real CLI in a subprocess
(`alignlab run SPEC --out DIR`), timed side by side in one invocation; the run
directory is fresh for the first run.  Writes
``benchmarks/results/quickstart.json`` with ``first_run_s``, ``cached_rerun_s``,
``cells``, the cell states of each run and the machine.  Run:
``.venv/bin/python benchmarks/bench_quickstart.py [--spec examples/quickstart.yaml]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "quickstart.json"
SUMMARY = re.compile(r"(\d+) cells run, (\d+) cached, (\d+) failed")


def timed_run(spec: Path, out: Path) -> tuple[float, dict[str, int]]:
    """Run the CLI once; return wall seconds and the summary's cell counts."""
    alignlab = Path(sys.executable).with_name("alignlab")
    started = time.perf_counter()
    result = subprocess.run(
        [str(alignlab), "run", str(spec), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"alignlab run failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    match = SUMMARY.search(result.stdout)
    if match is None:
        sys.exit(f"no summary line in the output: {result.stdout[-500:]}")
    run, cached, failed = (int(g) for g in match.groups())
    return seconds, {"run": run, "cached": cached, "failed": failed}


def main() -> None:
    """Time a fresh run and a cached rerun; write quickstart.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("examples/quickstart.yaml"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-quickstart"))
    parser.add_argument(
        "--rerun-only",
        action="store_true",
        help="time only a rerun of the finished run in --out (keeps the first run's figures)",
    )
    args = parser.parse_args()
    previous = json.loads(RESULTS.read_text()) if args.rerun_only and RESULTS.is_file() else {}
    if args.rerun_only:
        first_s, first = previous.get("first_run_s", float("nan")), previous["first_run_cells"]
    else:
        shutil.rmtree(args.out, ignore_errors=True)
        first_s, first = timed_run(args.spec, args.out)
        print(f"first run: {first_s:.1f} s, {first}")
    second_s, second = timed_run(args.spec, args.out)
    print(f"cached rerun: {second_s:.1f} s, {second}")
    result = {
        "spec": str(args.spec),
        "first_run_s": round(first_s, 1),
        "cached_rerun_s": round(second_s, 1),
        "cells": first["run"] + first["cached"],
        "first_run_cells": first,
        "cached_rerun_cells": second,
        "rerun_only": args.rerun_only,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load_average_at_end": os.getloadavg(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
