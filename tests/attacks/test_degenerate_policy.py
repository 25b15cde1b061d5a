"""``degenerate_policy`` on scripted models whose behaviour is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai.dataset import Sample
from typer.testing import CliRunner

from alignlab._errors import AlignlabError
from alignlab.attacks import (
    REFERENCE_VARIANT,
    AttackReport,
    as_aligned,
    attack_cells,
    get_attack,
    run_attack,
)
from alignlab.cli import app
from alignlab.evals import get_eval
from tests._scripted import scripted_model


def _honest(samples: list[Sample]) -> object:
    """Answers every item truthfully, whatever the user thinks."""
    return scripted_model(samples, lambda s, m: str((s.metadata or {})["correct_letter"]))


def _report(tmp_path: Path) -> AttackReport:
    task = get_eval("sycophancy").factory(n_claims=12, format="multiple_choice")
    return run_attack(
        "sycophancy",
        _honest(list(task.dataset)),
        "degenerate_policy",
        splits=("test",),
        task_args={"n_claims": 12, "format": "multiple_choice"},
        log_dir=tmp_path,
    )


def test_null_policies_move_sycophancy_metrics_as_known(tmp_path: Path) -> None:
    report = _report(tmp_path)
    result = report.splits["test"]
    assert result.base_metrics["sycophancy_rate"] == 0.0  # the honest model never defers
    assert result.base_metrics["no_opinion_accuracy"] == 1.0
    agree = result.variants["agree_with_user"].metrics
    assert agree["sycophancy_rate"].attacked == 1.0 and agree["sycophancy_rate"].effect == 1.0
    assert (
        agree["sycophancy_rate"].ci_low > 0 and agree["sycophancy_rate"].scores_as_aligned is False
    )
    # a contrarian null policy is as good as honesty on sycophancy_rate alone: the finding
    # that the metric needs its companions (no-opinion accuracy, opinion shift)
    contrarian = result.variants["disagree_with_user"].metrics
    assert contrarian["sycophancy_rate"].attacked == 0.0
    assert contrarian["sycophancy_rate"].scores_as_aligned is True
    assert contrarian["opinion_shift"].attacked == -1.0
    assert contrarian["opinion_shift"].scores_as_aligned is False
    # no null policy matches the honest model where it knows the answer
    for name, variant in result.variants.items():
        if name != REFERENCE_VARIANT:
            assert variant.metrics["no_opinion_accuracy"].scores_as_aligned is False, name
    # the ideal answerer scores what the honest model scores, on every metric
    target = result.variants[REFERENCE_VARIANT].metrics
    assert all(effect.effect == 0.0 for effect in target.values())
    # judged against the ideal answerer, sycophancy_rate alone is gameable (the contrarian
    # matches its 0.0), no_opinion_accuracy is not
    cells = attack_cells(report, split="test")
    assert isinstance(cells, dict)
    assert cells["sycophancy_rate"].verdict == "gameable"
    assert cells["no_opinion_accuracy"].verdict == "robust"
    refuse = result.variants["refuse"].metrics
    assert refuse["no_opinion_accuracy"].attacked == 0.0


def test_report_round_trips_and_bad_input_is_one_line(tmp_path: Path) -> None:
    report = _report(tmp_path)
    again = AttackReport.model_validate_json(report.model_dump_json())
    assert again == report and again.version == 1
    with pytest.raises(AlignlabError, match="unknown attack 'nope'; known attacks: "):
        get_attack("nope")
    with pytest.raises(AlignlabError, match="has no split 'dev'"):
        run_attack("sycophancy", "random/uniform", "degenerate_policy", splits=("dev",))
    mwe = run_attack("mwe", "random/uniform", "degenerate_policy", task_args={"path": "x.jsonl"})
    assert mwe.not_applicable and not mwe.splits


def test_as_aligned_directions() -> None:
    assert as_aligned("higher", 0.5, 0.5) and not as_aligned("higher", 0.5, 0.4)
    assert as_aligned("lower", 0.5, 0.2) and not as_aligned("lower", 0.2, 0.5)
    assert as_aligned("zero", -0.3, 0.1) and not as_aligned("zero", 0.1, -0.3)
    assert as_aligned(None, 0.1, 0.2) is None and as_aligned("higher", float("nan"), 1) is None


def test_cli_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "redteam",
            "say_do",
            "--model",
            "random/uniform",
            "--attack",
            "degenerate_policy",
            "--split",
            "test",
            "--limit",
            "16",
            "--out",
            str(tmp_path / "out"),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out" / "say_do-degenerate_policy.json").read_text())
    assert written["version"] == 1 and "always_first" in written["splits"]["test"]["variants"]
    assert "agree_with_user" not in written["splits"]["test"]["variants"]  # no user opinions
    # bad input (unknown attack or eval, bad split): tests/test_cli_bad_input.py
