"""``bench_hardenings.py``: every pair names a hardening that applies to its eval, and bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from alignlab.attacks import harden_eval, registered_attacks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_hardenings

        return bench_hardenings
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_every_pair_applies(bench: ModuleType) -> None:
    for pair in bench.PAIRS:
        assert pair.attack in registered_attacks()
        harden_eval(pair.eval, pair.hardening, dict(pair.task_args))  # raises if it cannot apply


def test_an_unknown_hardening_is_a_one_line_error(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_hardenings.py", "--only", "nope"])
    with pytest.raises(SystemExit):
        bench.main()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(
        "unknown hardening 'nope'; known: paraphrase_ensemble, position_debias, "
        "position_debias_per_condition, prefix_invariant, refusal_controls"
    )
