"""Every kind records whether training moved its own objective, and says so when it did not."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from alignlab.cli import app
from alignlab.methods import read_manifest, train
from alignlab.training import (
    GRPO_CHECK_PROMPTS,
    SFT_CHECK_MIN,
    LearningCheck,
    PreferenceExample,
    RLData,
    TrainingConfig,
    check_indices,
    check_prompts,
    held_back,
    lora_model,
    loss_check,
    preference_check,
    reply_logps,
    reward_check,
    run_dpo,
    run_grpo,
    tokenize_pair,
)

SFT = {"token_budget": 600, "batch_size": 4, "threads": 1}
"""sft_control chores are ~50 tokens: about 11 kept, 4 of them held back."""


@pytest.fixture()
def keep_threads() -> Iterator[None]:
    """``train`` sets torch's thread count from ``threads``; put it back for other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_held_back_slice_is_a_seeded_tenth_with_a_floor() -> None:
    assert held_back(2 * SFT_CHECK_MIN - 1, seed=0) == []  # too few kept: no check
    assert len(held_back(2 * SFT_CHECK_MIN, seed=0)) == SFT_CHECK_MIN
    assert len(held_back(455, seed=0)) == 46
    assert held_back(455, seed=0) == held_back(455, seed=0) != held_back(455, seed=1)
    assert all(0 <= i < 455 for i in held_back(455, seed=3))


def test_checks_pass_only_when_the_objective_moves() -> None:
    assert loss_check(1.5, 0.4, 4, 40).passed
    assert not loss_check(1.5, 1.5, 4, 40).passed  # unchanged
    assert not loss_check(1.5, 1.4999999, 4, 40).passed  # rounding is not learning
    assert "did not fall" in loss_check(1.5, 1.6, 4, 40).detail
    reference = [(-3.0, -3.0), (-2.0, -4.0), (-1.0, -1.0)]
    learned = preference_check(reference, [(-2.0, -4.0), (-1.0, -5.0), (-1.0, -1.5)])
    assert learned.passed and learned.before == 0.5 and learned.after == 1.0
    same = preference_check(reference, reference)  # the untrained adapter: every margin 0
    assert not same.passed and same.after == 0.5
    worse = preference_check(reference, [(-4.0, -2.0), (-2.0, -4.0), (-1.0, -1.0)])
    # pair 1 moved the wrong way (0), pairs 2 and 3 unchanged (ties count half each)
    assert not worse.passed and math.isclose(worse.after, (0 + 0.5 + 0.5) / 3)
    assert reward_check([0.0] * 32, [1.0] * 16 + [0.0] * 16).passed
    flat = reward_check([0.0] * 32, [0.0] * 32)
    assert not flat.passed and "did not rise" in flat.detail
    # a rise as small as sampling noise is not learning: 3 of 32 vs 1 of 32 is p > 0.05
    assert not reward_check([1.0] + [0.0] * 31, [1.0] * 3 + [0.0] * 29).passed
    assert not reward_check([1.0] * 16 + [0.0] * 16, [0.0] * 32).passed  # fell
    assert not reward_check([], []).passed
    prompts = check_prompts(60, seed=0)
    assert prompts == sorted(set(prompts)) and len(prompts) == GRPO_CHECK_PROMPTS
    assert prompts != check_prompts(60, seed=1) and check_prompts(3, seed=0) == [0, 1, 2]
    drawn = check_indices(115, seed=0)
    assert drawn == sorted(set(drawn)) and len(drawn) == 32 and drawn != check_indices(115, seed=1)
    assert check_indices(5, seed=0) == [0, 1, 2, 3, 4]


def test_line_reads_passed_or_failed() -> None:
    check = LearningCheck(
        kind="sft", metric="heldout_completion_loss", before=1.5, after=0.4, passed=True
    )
    assert check.line() == "passed (heldout_completion_loss 1.500 -> 0.400)"
    failed = check.model_copy(update={"passed": False, "detail": "why"})
    assert failed.line() == "FAILED (heldout_completion_loss 1.500 -> 0.400; why)"


def test_reply_logps_reuse_the_prompt_exactly(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = lora_model(tiny_model_dir, TrainingConfig())
    pair = PreferenceExample(
        prompt=({"role": "user", "content": "Is 2 + 2 = 4?"},),
        chosen="Yes.",
        rejected="No, it is 5.",
    )
    ids = tokenize_pair(tokenizer, pair, 384)
    ((chosen, rejected),) = reply_logps(model, [ids])
    prompt, chosen_ids, _ = ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + chosen_ids])).logits[0]
    logps = torch.log_softmax(logits[len(prompt) - 1 : -1].float(), dim=-1)
    expected = float(logps.gather(1, torch.tensor(chosen_ids)[:, None]).sum())
    assert math.isclose(chosen, expected, rel_tol=1e-4) and rejected < 0
    # the fresh adapter is the identity: policy = reference, so DPO's check starts at 0.5
    with model.disable_adapter():
        assert reply_logps(model, [ids]) == [(chosen, rejected)]
    assert model.training  # mode restored


@pytest.mark.usefixtures("keep_threads")
def test_sft_records_the_held_back_loss_and_the_cli_prints_it(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sft"
    params = [f"{k}={v}" for k, v in {**SFT, "learning_rate": 0.01}.items()]
    result = CliRunner().invoke(
        app,
        ["train", "sft_control", "--base", str(tiny_model_dir), "--out", str(out)]
        + [arg for p in params for arg in ("-p", p)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest is not None
    check = manifest.learning_check
    assert check is not None and check.kind == "sft"
    assert check.metric == "heldout_completion_loss" and check.passed
    assert check.after < check.before and f"{SFT_CHECK_MIN} held-back" in check.detail
    assert f"learning check: {check.line()}" in result.output
    # the held-back examples are not trained on: the manifest counts only the rest
    assert f"{manifest.n_examples} trained" in check.detail


@pytest.mark.usefixtures("keep_threads")
def test_sft_that_cannot_learn_fails_its_check_but_not_the_run(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        ["train", "sft_control", "--base", str(tiny_model_dir), "--out", str(tmp_path / "x")]
        + [
            a
            for p in (*(f"{k}={v}" for k, v in SFT.items()), "learning_rate=1e-9")
            for a in ("-p", p)
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "learning check: FAILED (heldout_completion_loss" in result.output
    manifest = read_manifest(tmp_path / "x")
    assert manifest is not None and manifest.learning_check is not None
    assert not manifest.learning_check.passed


def test_dpo_on_indistinguishable_pairs_fails_its_check(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    training = TrainingConfig(token_budget=400, batch_size=2, threads=1)
    model = lora_model(tiny_model_dir, training)
    pairs = [
        PreferenceExample(
            prompt=({"role": "user", "content": f"Say {word}."},), chosen=word, rejected=word
        )
        for word in ("yes", "no", "maybe", "never")
    ]
    outcome = run_dpo(model, tokenizer, pairs, training, tmp_path)
    check = outcome.learning_check
    assert check is not None and check.kind == "dpo" and not check.passed
    assert check.before == 0.5 and check.after == 0.5  # chosen = rejected: every margin 0


def test_grpo_with_a_constant_reward_fails_its_check(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    training = TrainingConfig(token_budget=150, batch_size=4, threads=1)
    model = lora_model(tiny_model_dir, training)
    prompts = tuple(({"role": "user", "content": f"Say {w}."},) for w in "abcd")
    data = RLData(prompts=prompts, reward=lambda i, t: 0.0, max_completion_length=4)
    check = run_grpo(model, tokenizer, data, training, tmp_path).learning_check
    assert check is not None and check.kind == "grpo" and check.metric == "mean_reward"
    assert check.before == check.after == 0.0 and not check.passed


@pytest.mark.usefixtures("keep_threads")
def test_none_has_no_check(tiny_model_dir: Path, tmp_path: Path) -> None:
    manifest = train("none", str(tiny_model_dir), tmp_path / "none", {"threads": 1})
    assert manifest.learning_check is None


def test_grpo_counts_the_groups_that_carry_a_gradient() -> None:
    """A group rewarded alike has no GRPO advantage: the run notes how many differed."""
    from types import SimpleNamespace

    from alignlab.training._grpo import _Progress, _reward_function

    rewards = {0: [0.0, 0.0, 0.0, 0.0], 1: [0.0, 1.0, 0.0, 0.0]}
    calls = iter(rewards[0] + rewards[1])
    data = SimpleNamespace(num_generations=4, reward=lambda i, text: next(calls), task_done=None)
    tokenizer = SimpleNamespace(decode=lambda ids, **_: "x", all_special_ids=[])
    progress = _Progress(total=10_000)
    reward = _reward_function(data, tokenizer, [3, 3], progress)  # type: ignore[arg-type]
    reward(completion_ids=[[1]] * 8, index=[0, 0, 0, 0, 1, 1, 1, 1])
    assert (progress.groups, progress.groups_with_signal) == (2, 1)
    assert progress.rewards == [0.125]
