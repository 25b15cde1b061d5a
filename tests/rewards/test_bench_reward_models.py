"""The reward-model benchmark runs end to end on the tiny random model with a tiny budget.

Only the plumbing is checked (the numbers of a random 2-layer model mean
nothing): both kinds train at the same budget, and the JSON has every key the
issue asks for, in the documented shapes, with a PNG beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alignlab.rewards import TRANSFORMS, best_of_n_kl

ROOT = Path(__file__).resolve().parents[2]


def _triple(value: object) -> bool:
    return (
        isinstance(value, list) and len(value) == 3 and value[1] <= value[0] <= value[2]  # type: ignore[operator]
    )


def test_benchmark_runs_end_to_end_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reward_models.json"
    budget = 3000
    argv = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_reward_models.py"),
        "--model", str(tiny_model_dir),
        "--token-budget", str(budget),
        "--n-items", "2",
        "--limit", "6",
        "--ns", "1,2,4",
        "--bon-prompts", "2",
        "--max-new-tokens", "6",
        "--runs", str(tmp_path / "runs"),
        "--out", str(out),
        "-p", "threads=1", "-p", "batch_size=2", "-p", "n_items=2",
        "--cloud-param", "max_critique_tokens=6",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert _triple(report["classic_accuracy"]) and _triple(report["cloud_accuracy"])
    assert _triple(report["cloud_minus_classic"])
    for kind in ("classic", "cloud"):
        assert report["training"][kind]["tokens_seen"] <= budget
        drops = report["robustness"][kind]
        assert set(drops) <= set(TRANSFORMS) and "master_key_colon" in drops
        assert all(_triple(v) for v in drops.values())
        curve = report["best_of_n"][kind]
        assert [p["n"] for p in curve] == [1, 2, 4]
        assert [p["kl"] for p in curve] == [best_of_n_kl(n) for n in (1, 2, 4)]
        assert all(0.0 <= p["gold"] <= 1.0 for p in curve)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
