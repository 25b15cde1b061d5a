"""``benchmarks/bench_learning.py`` runs end to end on the tiny model and keeps every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_and_seed_gets_a_row_with_its_learning_check(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "learning.json"
    argv = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_learning.py"),
        "--method", "sft_control",
        "--model", str(tiny_model_dir),
        "--setting", "small:token_budget=700,batch_size=4",
        "--setting", "smaller:token_budget=600,batch_size=4,learning_rate=0.001",
        "--seeds", "3",
        "--runs", str(tmp_path / "runs"),
        "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["runs"]
    assert [(r["setting"], r["seed"]) for r in rows] == [("small", 3), ("smaller", 3)]
    assert rows[1]["params"] == {"token_budget": 600, "batch_size": 4, "learning_rate": 0.001}
    for row in rows:
        assert row["learning_check"]["kind"] == "sft"
        assert 0 < row["tokens_seen"] <= row["params"]["token_budget"] + 4 * 64
    assert "small seed 3: " in result.stdout
    (manifest,) = (tmp_path / "runs").glob("*/sft_control/small-seed3/manifest.json")
    assert json.loads(manifest.read_text())["training"]["seed"] == 3


def test_a_bad_setting_is_one_line_before_any_training(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_learning.py"),
        "--method", "grpo",
        "--setting", "fine:learning_rate=0.001",
        "--setting", "typo:learning_rat=0.001",
        "--runs", str(tmp_path / "runs"),
        "--out", str(tmp_path / "learning.json"),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and "unknown parameter 'learning_rat'" in lines[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "learning.json").exists()
