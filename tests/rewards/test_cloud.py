"""CLoud writes a critique before it scores, trains on BT + critique LM loss, and learns pairs.

Base: the tiny random Llama of ``tests/conftest.py`` (real SmolLM2 tokenizer).
The loss tests use hand-made tensors with known values; the gradient test
shows that ``lm_weight`` reaches the LoRA weights; the training test uses the
hand-built pairs of ``test_classic`` (chosen ends with one word list,
rejected with another) with facts for the oracle critiques.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from alignlab._errors import AlignlabError
from alignlab.rewards import (
    PAIR_FAMILIES,
    PreferencePair,
    RewardJob,
    get_reward_model,
    pairwise_accuracy,
    preference_pairs,
    score_pairs,
)
from alignlab.rewards.cloud import (
    CloudConfig,
    CritiqueTemplates,
    cloud_loss,
    critique_lm_loss,
    critique_sequence,
    critique_templates,
    forward_rewards,
    lm_labels,
    load_cloud,
    new_head,
)
from alignlab.training import TrainingConfig, lora_model
from tests.rewards.test_classic import _pairs as hand_pairs

FACTS = (
    ("claim", "the word is a good word"),
    ("truth", "good words are apple, river, stone and cloud"),
    ("claim_status", "true"),
    ("claim_opposite", "false"),
    ("user_view", "states no opinion"),
)


def _with_facts(pairs: list[PreferencePair]) -> list[PreferencePair]:
    return [
        PreferencePair(
            p.prompt, p.chosen, p.rejected, p.source, p.family, p.item_id, p.split, facts=FACTS
        )
        for p in pairs
    ]


def test_cloud_loss_is_bradley_terry_plus_weighted_lm_on_hand_made_tensors() -> None:
    import torch

    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    lm = torch.tensor(3.0, requires_grad=True)
    expected_bt = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    with_lm = cloud_loss(chosen, rejected, lm, 1.25)
    without = cloud_loss(chosen, rejected, lm, 0.0)
    assert float(with_lm.bradley_terry) == pytest.approx(expected_bt, rel=1e-6)
    assert float(with_lm.total.detach()) == pytest.approx(expected_bt + 1.25 * 3.0, rel=1e-6)
    assert float(without.total) == pytest.approx(expected_bt, rel=1e-6)
    with_lm.total.backward()
    assert lm.grad is not None and float(lm.grad) == pytest.approx(1.25)


def test_critique_lm_loss_scores_only_critique_tokens() -> None:
    import torch
    import torch.nn.functional as F

    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 5.0, 5.0]]])
    labels = lm_labels([[0, 1, 2, 0]], [[0, 0, 1, 1]])  # positions 2 and 3 are the critique
    assert labels.tolist() == [[-100, -100, 2, 0]]
    expected = F.cross_entropy(logits[0, 1:3], torch.tensor([2, 0]))
    assert float(critique_lm_loss(logits, labels)) == pytest.approx(float(expected))


def test_lm_weight_changes_the_gradients_of_the_model(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    training = TrainingConfig(seed=0, lora_r=4, lora_alpha=8)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    pair = _with_facts(hand_pairs(1, seed=0))[0]
    sides = [
        critique_sequence(tokenizer, pair.prompt, r, c, 128, 16)
        for r, c in ((pair.chosen, "Good word. Verdict: good."), (pair.rejected, "Verdict: bad."))
    ]
    grads = {}
    for weight in (0.0, 1.25):
        model = lora_model(tiny_model_dir, training)
        head = new_head(int(model.config.hidden_size), 0)
        sequences = [s for s, _ in sides]
        rewards, logits = forward_rewards(model, head, sequences, int(tokenizer.pad_token_id))
        lm = critique_lm_loss(logits, lm_labels(sequences, [m for _, m in sides]))
        loss = cloud_loss(rewards[:1], rewards[1:], lm, weight)
        loss.total.backward()
        lora = next(p for n, p in model.named_parameters() if "lora_B" in n)
        grads[weight] = (float(loss.total), lora.grad.detach().clone())
    assert grads[0.0][0] != pytest.approx(grads[1.25][0])
    assert not bool((grads[0.0][1] == grads[1.25][1]).all())


def test_oracle_critiques_render_for_every_family_and_differ_by_side() -> None:
    templates = critique_templates()
    assert isinstance(templates, CritiqueTemplates)
    pairs = preference_pairs("train", 6, seed=0)
    seen = set()
    for pair in pairs:
        good, bad = templates.oracle(pair, True), templates.oracle(pair, False)
        assert good != bad and "{" not in good + bad
        assert "Verdict: good." in good and "Verdict: bad." in bad
        seen.add((pair.family, pair.condition))
    assert {family for family, _ in seen} == set(PAIR_FAMILIES)
    bare = PreferencePair(
        ({"role": "user", "content": "x"},), "a", "b", "s", "opinion", "i", "train"
    )
    with pytest.raises(AlignlabError, match="lacks"):
        templates.oracle(bare, True)


TRAINING = TrainingConfig(
    token_budget=60_000,
    learning_rate=5e-3,
    batch_size=4,
    epochs=3,
    threads=1,
    seed=0,
    max_length=96,
)


def test_cloud_critiques_before_scoring_and_learns_train_pairs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    pairs = _with_facts(hand_pairs(24, seed=0))
    config = CloudConfig(max_critique_tokens=8)
    out, work = tmp_path / "rm", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    job = RewardJob(pairs, tiny_model_dir, tokenizer, TRAINING, work, out)
    outcome = get_reward_model("cloud").train(config, job)
    assert outcome.n_examples == len(pairs)
    assert 0 < outcome.tokens_seen <= TRAINING.token_budget
    assert outcome.learning_check is not None and outcome.learning_check.passed, (
        outcome.learning_check
    )
    scorer = load_cloud(config, out, tiny_model_dir, TRAINING)
    accuracy = pairwise_accuracy(score_pairs(scorer, pairs))
    assert accuracy.value >= 0.75, accuracy
    prompts, replies = [pairs[0].prompt] * 2, [pairs[0].chosen, pairs[0].rejected]
    judged = scorer.judge(prompts, replies)
    # the critique is generated first (greedy, so the same again) and the reward is read after it
    assert [j.critique for j in judged] == scorer.critiques(prompts, replies)
    assert [j.reward for j in judged] == pytest.approx(
        scorer.rewards_given(prompts, replies, [j.critique for j in judged])
    )
    other = scorer.rewards_given(prompts, replies, ["Verdict: bad. " * 3, "Verdict: good. " * 3])
    assert other != pytest.approx([j.reward for j in judged])  # the reward depends on the critique
    assert scorer.score(prompts, replies) == pytest.approx([j.reward for j in judged])
