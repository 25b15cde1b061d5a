"""``bench_robustness.py --merge`` adds new attacks' rows without losing the old verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from alignlab.attacks import RobustnessFile

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_robustness

        return bench_robustness
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


NA = "n/a: needs a trained adapter"


def _file(**fields: object) -> RobustnessFile:
    return RobustnessFile.model_validate(fields)


def test_merge_replaces_not_applicable_rows_and_keeps_the_rest(bench: ModuleType) -> None:
    old = _file(
        date="d1",
        matrix={"sy": {"answer_position": {"m": [0.0, -0.01, 0.01]}, "organism": NA}},
        verdicts={"sy": {"m": "robust", "n": "inconclusive:answer_position"}},
        timings={"sy": {"answer_position": 5.0, "organism": 0.0}},
        hardened_matrix={"sy": {"answer_position": {"m": [0.0, 0.0, 0.0]}}},
        hardened_verdicts={"sy": {"m": "robust"}},
    )
    new = _file(
        date="d2",
        matrix={"sy": {"organism": {"m": [0.3, 0.1, 0.5]}}, "rh": {"organism": NA}},
        verdicts={"sy": {"m": "gameable:organism"}},
        timings={"sy": {"organism": 7.0}},
        hardened_matrix={"rh": {"answer_position": {"m": [0.1, 0.0, 0.2]}}},
        hardened_verdicts={"rh": {"m": "inconclusive:answer_position"}},
    )
    merged = bench._merged(old, new)
    assert merged.matrix["sy"] == {
        "answer_position": {"m": (0.0, -0.01, 0.01)},
        "organism": {"m": (0.3, 0.1, 0.5)},
    }
    assert merged.matrix["rh"] == {"organism": NA}
    assert merged.verdicts == {
        "sy": {"m": "gameable:organism", "n": "inconclusive:answer_position"}
    }
    assert merged.timings["sy"] == {"answer_position": 5.0, "organism": 7.0}
    assert set(merged.hardened_matrix) == {"sy", "rh"}
    assert merged.hardened_verdicts == {
        "sy": {"m": "robust"},
        "rh": {"m": "inconclusive:answer_position"},
    }
    # an n/a never overwrites a result, but a newer n/a gives its reason
    again = bench._merged(
        merged, _file(matrix={"sy": {"organism": NA}, "rh": {"organism": "n/a: new"}})
    )
    assert again.matrix["sy"]["organism"] == {"m": (0.3, 0.1, 0.5)}
    assert again.matrix["rh"]["organism"] == "n/a: new"


def test_merging_an_attack_that_already_has_results_is_refused(bench: ModuleType) -> None:
    old = _file(matrix={"sy": {"paraphrase": {"m": [0.0, 0.0, 0.0]}}})
    new = _file(matrix={"sy": {"paraphrase": {"m": [0.2, 0.1, 0.3]}}})
    with pytest.raises(SystemExit, match="already has results"):
        bench._merged(old, new)
    hardened = {"sy": {"answer_position": {"m": [0.0, 0.0, 0.0]}}}
    with pytest.raises(SystemExit, match=r"answer_position \(hardened\) already has results"):
        bench._merged(_file(hardened_matrix=hardened), _file(hardened_matrix=hardened))


def test_attack_args_name_each_evals_adapter_and_skip_missing_ones(
    bench: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "sycophancy").mkdir()
    options = SimpleNamespace(
        attack_arg=[f"train_on_public:adapter={tmp_path}/{{eval}}", "other:adapter=/x"]
    )
    assert bench._attack_args("sycophancy", "train_on_public", options) == {
        "adapter": f"{tmp_path}/sycophancy"
    }
    assert bench._attack_args("mistakes", "train_on_public", options) == {}
    assert bench._attack_args("sycophancy", "paraphrase", options) == {}


def test_a_malformed_attack_arg_is_one_line_before_any_work() -> None:
    import subprocess

    for bad in ("organism=x", "train_on_public:adapter", "nope:adapter=x"):
        result = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "bench_robustness.py"), "--attack-arg", bad],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 2
        assert f"--attack-arg '{bad}': expected ATTACK:KEY=VALUE" in result.stderr.splitlines()[-1]
