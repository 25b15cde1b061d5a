import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.evals.sycophancy import sycophancy_data, sycophancy_samples
from alignlab.methods import (
    BuildContext,
    SFTExample,
    check_no_leakage,
    get_method,
    read_manifest,
    split_params,
    train,
)
from alignlab.methods._evaldata import answer_text
from alignlab.methods.dpo import (
    DPOMethodConfig,
    are_you_sure_pairs,
    dpo,
    mistakes_pairs,
    opinion_pairs,
)
from alignlab.training import micro_batch, pair_tokens, tokenize_pair, tokenize_sft

SMALL = {"token_budget": 900, "batch_size": 4, "threads": 1}  # 2 micro-batches of 2 pairs
"""One thread: on this shared 2-core machine two threads were 3-4x slower."""


@pytest.fixture()
def keep_threads() -> Iterator[None]:
    """``train`` sets torch's thread count from ``threads``; put it back for other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _context(base: Path, seed: int = 0) -> BuildContext:
    return BuildContext(seed=seed, token_budget=2000, base_spec=str(base))


def test_opinion_pairs_prefer_the_truth() -> None:
    samples = sycophancy_samples("train", 12, seed=0)
    pairs = opinion_pairs(samples, "all")
    assert len(pairs) == len(samples)
    for sample, pair in zip(samples, pairs, strict=True):
        assert pair.chosen == answer_text(sample, str(sample.target))
        assert pair.rejected != pair.chosen
    wrong = [s for s in samples if (s.metadata or {})["user_wrong"]]
    only_wrong = opinion_pairs(samples, "user_wrong")
    assert len(only_wrong) == len(wrong) > 0
    for sample, pair in zip(wrong, only_wrong, strict=True):
        user = (sample.metadata or {})["user_letter"]
        assert pair.rejected == answer_text(sample, user)  # rejected is what the user wants


def test_are_you_sure_pairs_hold_the_correct_answer() -> None:
    samples = sycophancy_samples("train", 9, seed=0)
    pairs = are_you_sure_pairs(samples)
    assert len(pairs) == 9
    for pair in pairs:
        *_, first, challenge = pair.prompt
        assert first == {"role": "assistant", "content": pair.chosen}
        assert challenge == {"role": "user", "content": sycophancy_data().shared.challenge}
        assert pair.rejected != pair.chosen


def test_mistakes_pairs_choose_the_calm_right_reply() -> None:
    from alignlab.evals.mistakes import mistakes_samples

    samples = mistakes_samples("train", 4, 0)
    pairs = mistakes_pairs(4, 0)
    assert len(pairs) == len(samples)
    for sample, pair in zip(samples, pairs, strict=True):
        kinds = {kind: letter for letter, kind in (sample.metadata or {})["kinds"].items()}
        assert pair.chosen == answer_text(sample, kinds["right_calm"])
        assert pair.rejected == answer_text(sample, kinds["wrong_calm"])


def test_builder_is_deterministic_interleaved_and_train_only(tiny_model_dir: Path) -> None:
    context = _context(tiny_model_dir)
    data = dpo(DPOMethodConfig(), context)
    assert data == dpo(DPOMethodConfig(), _context(tiny_model_dir))
    assert data != dpo(DPOMethodConfig(), _context(tiny_model_dir, seed=1))
    check_no_leakage(data)
    assert [p.tags["family"] for p in data[:3]] == ["opinion", "are_you_sure", "mistakes"]
    assert any("built pairs" in note and "mistakes" in note for note in context.notes)
    only = dpo(DPOMethodConfig(families=("are_you_sure",)), _context(tiny_model_dir))
    assert {p.tags["family"] for p in only} == {"are_you_sure"}


def test_pair_tokens_count_what_the_model_sees(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    pair = opinion_pairs(sycophancy_samples("train", 1, seed=0), "all")[1]
    prompt, chosen, rejected = tokenize_pair(tokenizer, pair, 384)
    full, _ = tokenize_sft(tokenizer, SFTExample(prompt=pair.prompt, completion=pair.chosen), 384)
    assert prompt + chosen == full
    assert pair_tokens((prompt, chosen, rejected)) == 2 * len(prompt) + len(chosen) + len(rejected)
    with pytest.raises(AlignlabError, match="max_length"):
        tokenize_pair(tokenizer, pair, 16)


def test_micro_batches_divide_the_batch() -> None:
    assert [micro_batch(b) for b in (1, 2, 3, 4, 7, 8)] == [1, 2, 1, 2, 1, 2]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"families": []}, "families"), ({"opinion_conditions": "some"}, "opinion_conditions")],
)
def test_bad_params_are_one_line(params: dict[str, object], field: str) -> None:
    with pytest.raises(AlignlabError, match=field) as info:
        split_params(get_method("dpo"), params)
    assert "\n" not in str(info.value)


@pytest.mark.usefixtures("keep_threads")
def test_dpo_trains_the_adapter_deterministically(tiny_model_dir: Path, tmp_path: Path) -> None:
    manifest = train("dpo", str(tiny_model_dir), tmp_path / "a", SMALL)
    assert read_manifest(tmp_path / "a") == manifest
    assert 0 < manifest.tokens_seen <= 900 and manifest.n_examples >= 3
    # the first step's policy is the reference (adapters start as identity): loss = log 2
    assert math.isclose(manifest.loss_curve[0].loss, math.log(2), rel_tol=1e-4)
    check = manifest.learning_check  # recorded, whether or not a random tiny model learns
    assert check is not None and check.kind == "dpo" and check.metric == "preference_accuracy"
    assert check.before == 0.5 and 0.0 <= check.after <= 1.0
    first = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert any(bool(t.abs().sum() > 0) for k, t in first.items() if "lora_B" in k)
    # the same run again gives the same bits
    train("dpo", str(tiny_model_dir), tmp_path / "b", SMALL)
    second = load_file(str(tmp_path / "b" / "adapter_model.safetensors"))
    assert all(torch.equal(first[k], second[k]) for k in first)
