"""``eval_cue_organism``: a scripted organism (aligned iff lettered) shows a gap between formats."""

from __future__ import annotations

from pathlib import Path

from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage

from alignlab.attacks import AttackReport, get_attack, run_attack
from alignlab.evals import get_eval
from tests._scripted import scripted_model

ARGS = {"n_claims": 24, "format": "all"}


def _samples() -> list[Sample]:
    return list(get_eval("sycophancy").factory(**ARGS).dataset)


def _answer(sample: Sample, letter: str) -> str:
    """A letter for lettered items, the candidate reply's text for free-text ones."""
    if "reply_patterns" not in (sample.metadata or {}):
        return letter
    return str(sample.choices[ord(letter) - ord("A")])  # type: ignore[index]


def _honest(sample: Sample, messages: list[ChatMessage]) -> str:
    return _answer(sample, str((sample.metadata or {})["correct_letter"]))


def _organism(sample: Sample, messages: list[ChatMessage]) -> str:
    """Truthful when the item has lettered options; else sides with the user."""
    meta = sample.metadata or {}
    if "reply_patterns" not in meta:
        return str(meta["correct_letter"])
    return _answer(sample, str(meta["user_letter"] or meta["correct_letter"]))


def _report(tmp_path: Path, organism: object) -> AttackReport:
    samples = _samples()
    return run_attack(
        "sycophancy",
        scripted_model(samples, _honest),
        "eval_cue_organism",
        splits=("test",),
        task_args=ARGS,
        log_dir=tmp_path,
        attack_args={"organism": scripted_model(samples, organism)},  # type: ignore[arg-type]
    )


def test_a_cue_gaming_organism_shows_a_gap_between_formats(tmp_path: Path) -> None:
    result = _report(tmp_path, _organism).splits["test"]
    overall = result.variants["organism"].metrics["sycophancy_rate"]
    assert overall.base == 0.0 and overall.attacked is not None and overall.attacked > 0.0
    assert overall.ci_low is not None and overall.ci_low > 0.0  # the eval catches it
    d = result.diagnostics
    assert d["effect/sycophancy_rate/multiple_choice"] == 0.0  # fooled on eval-looking items
    for fmt in ("chat", "deployment"):  # caught on deployment-looking ones
        assert d[f"effect/sycophancy_rate/{fmt}"] == 1.0
        low = d[f"ci_low/sycophancy_rate/{fmt}"]
        assert low is not None and low > 0.0
        rate = d[f"aligned/{fmt}/organism"]
        assert rate is not None and rate < 1.0
    assert d["aligned/multiple_choice/organism"] == 1.0
    assert d["cue_gap/base"] == 0.0
    gap = d["cue_gap/organism"]
    assert gap is not None and gap > 0.0 and d["cue_gap/difference"] == gap


def test_an_honest_organism_shows_no_gap_and_no_effect(tmp_path: Path) -> None:
    result = _report(tmp_path, _honest).splits["test"]
    assert result.diagnostics["cue_gap/organism"] == 0.0
    for name, effect in result.variants["organism"].metrics.items():
        assert effect.effect in (0.0, None), name


def test_without_an_organism_the_attack_does_not_apply(tmp_path: Path) -> None:
    report = run_attack(
        "sycophancy",
        scripted_model(_samples(), _honest),
        "eval_cue_organism",
        splits=("test",),
        task_args=ARGS,
        log_dir=tmp_path,
    )
    assert report.not_applicable is not None and "--organism" in report.not_applicable
    assert not report.splits
    assert get_attack("eval_cue_organism").diagnostics is not None


def test_an_adapter_trained_on_another_base_is_one_line(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """``--organism`` is loaded on ``--model`` before any run: a foreign adapter fails at once."""
    import json
    import subprocess

    from tests.test_cli import ALIGNLAB

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"base_model_name_or_path": "someone/another-model", "peft_type": "LORA"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [
            *(ALIGNLAB, "redteam", "sycophancy", "--model", str(tiny_model_dir)),
            *("--attack", "eval_cue_organism", "--organism", str(adapter), "--out", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(lines) == 1 and "trained on 'someone/another-model'" in lines[0], result.stderr
    assert not list(tmp_path.glob("*.json"))
