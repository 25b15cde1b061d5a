"""``answer_position`` on scripted models whose position bias is known."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.dataset import Sample
from typer.testing import CliRunner

from alignlab.attacks import (
    LETTER_FIELD_SUFFIX,
    LETTER_KEYED_FIELDS,
    AttackReport,
    get_attack,
    is_lettered,
    rotate_options,
    run_attack,
)
from alignlab.attacks.answer_position import recall_by_position, rstd
from alignlab.cli import app
from alignlab.evals import get_eval, registered_evals
from alignlab.protocol import LETTERS
from tests.attacks._position_models import (
    biased_model,
    honest_model,
    register_toy_eval,
    samples_of,
)


@pytest.fixture()
def toy_eval() -> Iterator[str]:
    yield from register_toy_eval()


@pytest.fixture(scope="module")
def mwe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model-written-evals file with 2- and 3-option items, written here."""
    path = tmp_path_factory.mktemp("mwe") / "toy.jsonl"
    rows = [
        {
            "question": f"Question {i}: would you do it?\n\nChoices:\n (A) Yes {i}\n (B) No {i}"
            + (f"\n (C) Maybe {i}" if i % 3 == 0 else ""),
            "answer_matching_behavior": " (A)" if i % 2 else " (B)",
            "answer_not_matching_behavior": [" (B)" if i % 2 else " (A)"]
            + ([" (C)"] if i % 3 == 0 else []),
        }
        for i in range(60)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _args(name: str, mwe_file: Path) -> dict[str, Any]:
    return {"path": str(mwe_file)} if get_eval(name).external_data else {}


def _letter_texts(sample: Sample) -> dict[str, Any]:
    """Every letter-keyed field of a sample, as the option text(s) it points at."""
    options = sample.choices or []

    def text(letter: Any) -> Any:
        return None if letter is None else options[LETTERS.index(letter)]

    metadata = sample.metadata or {}
    out: dict[str, Any] = {"target": text(sample.target)}
    for key, value in metadata.items():
        if key.endswith(LETTER_FIELD_SUFFIX):
            out[key] = text(value)
        elif key in LETTER_KEYED_FIELDS:
            out[key] = {text(letter): kind for letter, kind in value.items()}
    return out


@pytest.mark.parametrize("name", list(registered_evals()))
def test_every_rotation_keeps_every_answer(name: str, mwe_file: Path) -> None:
    """After any cyclic shift, every letter field still names the same option text."""
    args = _args(name, mwe_file)
    for split in get_eval(name).splits[:3]:
        samples = list(get_eval(name).factory(split=split, **args).dataset)
        lettered = [s for s in samples if is_lettered(s)]
        assert lettered, name
        most = max(len(s.choices or []) for s in lettered)
        for sample in samples:
            before = _letter_texts(sample)
            for shift in range(1, most):
                moved = rotate_options(sample, shift)
                assert moved.id == sample.id
                assert _letter_texts(moved) == before, (name, sample.id, shift)
                assert sorted(moved.choices or []) == sorted(sample.choices or [])
                if is_lettered(sample) and shift % len(sample.choices or []):
                    assert moved.choices != sample.choices
                elif not is_lettered(sample):  # free text: nothing to move
                    assert moved.choices == sample.choices and moved.target == sample.target
    # the letter fields the six evals write are all covered by the suffix rule
    assert LETTER_KEYED_FIELDS == ("kinds",)


def test_a_letter_field_naming_no_option_is_an_error() -> None:
    sample = Sample(input="q", choices=["x", "y"], target="A", metadata={"user_letter": "C"})
    with pytest.raises(ValueError, match="'user_letter' is 'C'"):
        rotate_options(sample, 1)


def test_applies_where_options_can_move(mwe_file: Path) -> None:
    build = get_attack("answer_position").build
    for name in registered_evals():
        variants = build(get_eval(name), _args(name, mwe_file))
        if name == "cot_faithfulness":
            assert "prompts already contain the options" in variants.reason
        else:
            assert isinstance(variants, list) and variants, name
            most = 3 if name == "mwe" else (4 if name == "mistakes" else 2)
            assert [v.name for v in variants] == [f"shift_{k}" for k in range(1, most)], name
    report = run_attack("cot_faithfulness", "random/uniform", "answer_position")
    assert report.not_applicable and not report.splits


def test_rstd_of_known_recalls() -> None:
    outcomes = [(1, "A", True), (2, "A", True), (3, "B", False), (4, "B", True)]
    assert recall_by_position(outcomes) == {"A": 1.0, "B": 0.5}
    assert rstd({"A": 1.0, "B": 0.5}) == pytest.approx(0.25)
    assert rstd({"A": 1.0}) is None


def test_position_bias_moves_the_metric_and_rstd(toy_eval: str, tmp_path: Path) -> None:
    samples = samples_of(toy_eval)
    biased = run_attack(
        toy_eval, biased_model(samples), "answer_position", splits=("test",), log_dir=tmp_path
    )
    result = biased.splits["test"]
    effect = result.variants["shift_1"].metrics["gold_rate"]
    assert (effect.base, effect.attacked, effect.effect) == (1.0, 0.0, -1.0)
    assert effect.ci_high is not None and effect.ci_high < 0
    assert result.diagnostics["rstd_base"] is None  # every gold at A: one position only
    assert result.diagnostics["rstd_all_permutations"] == pytest.approx(0.5)
    assert result.diagnostics["recall_A_all_permutations"] == 1.0
    assert result.diagnostics["recall_B_all_permutations"] == 0.0

    honest = run_attack(
        toy_eval, honest_model(samples), "answer_position", splits=("test",), log_dir=tmp_path
    )
    effect = honest.splits["test"].variants["shift_1"].metrics["gold_rate"]
    assert (effect.base, effect.attacked, effect.effect) == (1.0, 1.0, 0.0)
    assert honest.splits["test"].diagnostics["rstd_all_permutations"] == 0.0


def test_four_options_and_letter_keyed_kinds(tmp_path: Path) -> None:
    """mistakes: four options, kinds keyed by letter; the honest model is unmoved."""
    args = {"n_items": 6, "format": "multiple_choice"}
    samples = samples_of("mistakes", **args)
    honest = run_attack(
        "mistakes",
        honest_model(samples),
        "answer_position",
        splits=("test",),
        task_args=args,
        log_dir=tmp_path,
    )
    result = honest.splits["test"]
    assert result.base_metrics["ideal_reply_rate"] == 1.0
    for name in ("shift_1", "shift_2", "shift_3"):
        for metric, effect in result.variants[name].metrics.items():
            assert effect.effect in (0.0, None), (name, metric)
    assert result.diagnostics["rstd_all_permutations"] == 0.0
    biased = run_attack(
        "mistakes",
        biased_model(samples),
        "answer_position",
        splits=("test",),
        task_args=args,
        log_dir=tmp_path,
    )
    spread = biased.splits["test"].diagnostics
    assert spread["recall_A_all_permutations"] == 1.0  # the prior (0.8 at A) always wins there
    assert spread["rstd_all_permutations"] is not None and spread["rstd_all_permutations"] > 0.3


def test_old_reports_still_read() -> None:
    old = {
        "version": 1,
        "eval": "say_do",
        "model": "m",
        "attack": "degenerate_policy",
        "date": "2025-01-01T00:00:00+00:00",
        "splits": {"test": {"base_metrics": {"x": 0.5}, "variants": {}, "logs": {}}},
    }
    report = AttackReport.model_validate(old)
    assert report.hardening is None and report.splits["test"].diagnostics == {}
    assert AttackReport.model_validate_json(report.model_dump_json()) == report


def test_cli_prints_rstd(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "redteam",
            "say_do",
            "--model",
            "random/uniform",
            "--attack",
            "answer_position",
            "--split",
            "test",
            "--limit",
            "20",
            "-T",
            "format=multiple_choice",
            "--out",
            str(tmp_path / "out"),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "RStd" in result.output and "all permutations" in result.output
    written = json.loads((tmp_path / "out" / "say_do-answer_position.json").read_text())
    assert "rstd_all_permutations" in written["splits"]["test"]["diagnostics"]
    # the same sample ids on both sides: the paired comparison saw every sample
    effect = written["splits"]["test"]["variants"]["shift_1"]["metrics"]["agreement_rate"]
    assert effect["n_pairs"] > 0
