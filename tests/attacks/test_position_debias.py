"""``position_debias`` (PriDe) on scripted models whose position bias is known."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log
from typer.testing import CliRunner

from alignlab._errors import AlignlabError
from alignlab.attacks import (
    LETTER_FIELD_SUFFIX,
    gold_position,
    harden_eval,
    is_lettered,
    registered_hardenings,
    run_attack,
)
from alignlab.attacks.position_debias import (
    PRIOR_KEY,
    RAW_PROBS_KEY,
    balance_positions,
    debias,
    estimate_prior,
    permutation_debiased,
)
from alignlab.cli import app
from alignlab.evals import get_eval, registered_evals
from alignlab.protocol import LETTERS
from tests.attacks._position_models import (
    POSITION_PRIOR,
    PREFERENCE,
    biased_model,
    honest_model,
    register_toy_eval,
    samples_of,
)


@pytest.fixture()
def toy_eval() -> Iterator[str]:
    yield from register_toy_eval()


def test_prior_and_content_recovered_from_a_factorised_model() -> None:
    prior, content = [0.5, 0.3, 0.2], [0.2, 0.7, 0.1]  # content in the original option order
    n = len(prior)
    by_shift = []
    for k in range(n):  # option j sits at position (j + k) % n
        weights = [prior[i] * content[(i - k) % n] for i in range(n)]
        by_shift.append([w / sum(weights) for w in weights])
    assert estimate_prior(by_shift) == pytest.approx(prior)
    assert permutation_debiased(by_shift) == pytest.approx(content)
    assert debias(by_shift[0], prior) == pytest.approx(content)


@pytest.mark.parametrize(
    "name", [n for n in registered_evals() if n not in ("mwe", "cot_faithfulness")]
)
def test_balancing_keeps_every_answer_and_balances_gold(name: str) -> None:
    samples = list(get_eval(name).factory().dataset)
    balanced = balance_positions(samples)
    assert [s.id for s in balanced] == [s.id for s in samples]
    positions: Counter[int] = Counter()
    for before, after in zip(samples, balanced, strict=True):
        options, moved = before.choices or [], after.choices or []
        assert sorted(moved) == sorted(options)
        if not is_lettered(before):
            assert after.choices == before.choices and after.target == before.target
            continue
        assert isinstance(before.target, str) and isinstance(after.target, str)
        assert moved[LETTERS.index(after.target)] == options[LETTERS.index(before.target)]
        for key, value in (before.metadata or {}).items():
            if key.endswith(LETTER_FIELD_SUFFIX) and value is not None:
                new = (after.metadata or {})[key]
                assert moved[LETTERS.index(new)] == options[LETTERS.index(value)], (name, key)
        if "kinds" in (before.metadata or {}):
            kinds = {options[LETTERS.index(k)]: v for k, v in before.metadata["kinds"].items()}
            assert {moved[LETTERS.index(k)]: v for k, v in after.metadata["kinds"].items()} == kinds
        gold = gold_position(after)
        assert gold is not None
        positions[gold] += 1
    counts = sorted(positions.values())
    assert len(counts) >= 2 and counts[-1] <= 1.5 * counts[0], (name, positions)


def test_hardening_removes_the_attack_on_the_biased_model(toy_eval: str, tmp_path: Path) -> None:
    samples = samples_of(toy_eval)
    effects: dict[tuple[str, str], Any] = {}
    for model_name, model in (("biased", biased_model(samples)), ("honest", honest_model(samples))):
        for hardening in (None, "position_debias"):
            report = run_attack(
                toy_eval,
                model,
                "answer_position",
                splits=("test",),
                log_dir=tmp_path,
                hardening=hardening,
            )
            assert report.hardening == hardening
            result = report.splits["test"]
            label = hardening or "raw"
            effects[model_name, label] = result.variants["shift_1"].metrics["gold_rate"]
            effects[model_name, label + " rstd"] = result.diagnostics["rstd_all_permutations"]
    raw, hardened = effects["biased", "raw"], effects["biased", "position_debias"]
    assert raw.effect == -1.0 and raw.ci_high < 0  # the position prior games the raw eval
    assert hardened.base == 1.0 and hardened.attacked == 1.0 and hardened.effect == 0.0
    assert effects["biased", "raw rstd"] == pytest.approx(0.5)
    assert effects["biased", "position_debias rstd"] == 0.0
    for label in ("raw", "position_debias"):  # the position-blind model: nothing moves
        honest = effects["honest", label]
        assert (honest.base, honest.attacked, honest.effect) == (1.0, 1.0, 0.0)
        assert effects["honest", label + " rstd"] == 0.0


def test_debiased_answer_keeps_the_raw_probabilities_and_the_prior(
    toy_eval: str, tmp_path: Path
) -> None:
    samples = samples_of(toy_eval)
    report = run_attack(
        toy_eval,
        biased_model(samples),
        "answer_position",
        splits=("test",),
        log_dir=tmp_path,
        hardening="position_debias",
    )
    log = read_eval_log(report.splits["test"].logs["shift_1"])
    assert log.samples
    prior = list(POSITION_PRIOR[:2])
    expected_prior = [p / sum(prior) for p in prior]
    for sample in log.samples:
        metadata = sample.output.metadata or {}
        assert metadata[PRIOR_KEY] == pytest.approx(expected_prior)
        gold = LETTERS.index(str(sample.target))
        assert metadata["choice_probs"][gold] == pytest.approx(PREFERENCE)
        assert len(metadata[RAW_PROBS_KEY]) == 2


def test_mistakes_four_options_hardened(tmp_path: Path) -> None:
    """Four options and letter-keyed kinds: PriDe recovers the biased model's content choice."""
    args = {"n_items": 6, "format": "multiple_choice"}
    samples = samples_of("mistakes", **args)
    raw, hardened = (
        run_attack(
            "mistakes",
            biased_model(samples),
            "answer_position",
            splits=("test",),
            task_args=args,
            log_dir=tmp_path,
            hardening=hardening,
        ).splits["test"]
        for hardening in (None, "position_debias")
    )
    assert raw.diagnostics["rstd_all_permutations"] > 0.3
    assert hardened.diagnostics["rstd_all_permutations"] == 0.0
    assert hardened.base_metrics["ideal_reply_rate"] == 1.0
    for variant in hardened.variants.values():
        assert variant.metrics["ideal_reply_rate"].effect == 0.0


def test_bad_input_is_one_line() -> None:
    assert "position_debias" in registered_hardenings()
    with pytest.raises(AlignlabError, match="unknown hardening 'nope'; known hardenings: "):
        harden_eval("say_do", "nope")
    with pytest.raises(
        AlignlabError,
        match="hardening 'position_debias' does not apply to eval 'cot_faithfulness': its prompts",
    ):
        harden_eval("cot_faithfulness", "position_debias")
    with pytest.raises(AlignlabError, match="does not apply"):
        run_attack(
            "cot_faithfulness", "random/uniform", "answer_position", hardening="position_debias"
        )


def test_cli_harden_prints_before_and_after(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "harden",
            "reward_hacking",
            "--model",
            "random/uniform",
            "--hardening",
            "position_debias",
            "--attack",
            "answer_position",
            "--split",
            "test",
            "--limit",
            "12",
            "-T",
            "format=multiple_choice",
            "--out",
            str(tmp_path / "out"),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "effect as is" in result.output and "effect hardened" in result.output
    assert "exploit_rate" in result.output and "RStd" in result.output
    hardened = json.loads(
        (tmp_path / "out" / "reward_hacking-answer_position-position_debias.json").read_text()
    )
    assert hardened["hardening"] == "position_debias"
    raw = json.loads((tmp_path / "out" / "reward_hacking-answer_position.json").read_text())
    assert raw["hardening"] is None and "shift_1" in raw["splits"]["test"]["variants"]
