"""``classic``: a Bradley-Terry reward model, LoRA on the base with a scalar head.

The reward model of RLHF (Ouyang et al. 2022, arXiv:2203.02155; Stiennon et
al. 2020, arXiv:2009.01325): the base's transformer reads prompt and response,
a linear head on the last token gives a scalar reward, and training lowers
``-log sigmoid(r(chosen) - r(rejected))`` on the gold-labelled pairs.  The
trainer is TRL's ``RewardTrainer`` on a sequence-classification copy of the
base (``num_labels=1``) with LoRA on the shared targets and a fully trained
head (PEFT's ``SEQ_CLS`` task saves it with the adapter).

CPU-tuned like the ``sft`` and ``dpo`` kinds (:func:`alignlab.training.training_args`:
fp32, no gradient checkpointing, deterministic); pairs are pre-tokenised with
the chat template exactly as ``dpo`` tokenises them
(:func:`alignlab.training.tokenize_pair`) and budgeted the same way: a pair
costs prompt + chosen + prompt + rejected tokens and pairs are kept in order
until the next would exceed ``token_budget``, so any kind is compared with this
one at matched training tokens.  A step of ``batch_size`` pairs is reached by
gradient accumulation over micro-batches (:func:`alignlab.training.micro_batch`).

The head reads the rightmost token that is not the pad token; SmolLM2 pads
with ``<|im_end|>``, so that is the reply's last content token (the same at
training and scoring).

Learning check: pairwise accuracy and mean margin on up to
:data:`CHECK_PAIRS` train pairs (drawn by the seed) before training (fresh
head, identity adapter) and after; passed when accuracy ends above 0.5 and
the mean margin grew by more than :data:`CHECK_MIN_MARGIN_GAIN`.

Simplified: no margin term and no ensembling; the head is a fresh linear
layer, not initialised from the LM head.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import Field

from alignlab._errors import AlignlabError
from alignlab.models import compute_device
from alignlab.rewards._config import RewardModelConfig
from alignlab.rewards._registry import RewardJob, reward_model
from alignlab.training import (
    LearningCheck,
    LossPoint,
    Message,
    SFTExample,
    TrainingConfig,
    TrainOutcome,
    budgeted,
    check_indices,
    dataset_sha256,
    micro_batch,
    model_device,
    pair_tokens,
    restored_threads,
    silence_printer,
    tokenize_pair,
    tokenize_sft,
    trainer_callbacks,
    training_args,
)

CHECK_PAIRS: Final = 32
"""Most train pairs the learning check scores (drawn by the seed from those trained on)."""
CHECK_MIN_MARGIN_GAIN: Final = 1e-3
"""Rise of the mean reward margin below which the check fails (rounding, not learning)."""
SCORE_BATCH: Final = 8
"""Sequences per forward pass when scoring (sorted by length, right-padded)."""
HEAD_MODULE: Final = "score"
"""transformers' name of a sequence-classification model's head."""


class ClassicConfig(RewardModelConfig):
    """Parameters of ``classic`` (plus the pair families and item count every kind has)."""

    center_rewards_coefficient: float = Field(default=0.0, ge=0.0)
    """Weight of TRL's penalty on the squared mean reward (Eisenstein et al. 2023,
    arXiv:2312.09244); 0 turns it off."""


def reward_lora_model(weights: Path, tokenizer: Any, training: TrainingConfig) -> Any:
    """A fresh fp32 sequence-classification copy of the base with LoRA and a seeded scalar head.

    Args:
        weights: Local weights directory of the base.
        tokenizer: Its tokenizer (its pad token locates the scored position).
        training: Shared settings (LoRA shape, seed).

    Returns:
        A PEFT model on :func:`alignlab.models.compute_device` whose trainable
        parameters are the adapters and the head.

    Raises:
        AlignlabError: On LoRA targets the model lacks.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(training.seed)  # the head is initialised while loading
    model = _classifier(weights, tokenizer)
    config = LoraConfig(
        r=training.lora_r,
        lora_alpha=training.lora_alpha,
        lora_dropout=training.lora_dropout,
        target_modules=list(training.lora_targets),
        task_type="SEQ_CLS",
    )
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:
        raise AlignlabError(
            f"bad lora_targets {list(training.lora_targets)}: {str(exc).splitlines()[0]}"
        ) from None
    device = compute_device()
    return peft_model if device.type == "cpu" else peft_model.to(device)


def _classifier(weights: Path, tokenizer: Any) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # "score.weight is new"
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(weights), num_labels=1, dtype=torch.float32, attn_implementation="sdpa"
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = False
    return model


def sequence_rewards(model: Any, sequences: Sequence[list[int]], pad_id: int) -> list[float]:
    """The head's scalar for each token sequence, no gradients, in the order given.

    Args:
        model: A sequence-classification model (PEFT-wrapped or not) with ``num_labels=1``.
        sequences: Token ids (prompt and reply, as the chat template renders them).
        pad_id: The tokenizer's pad id (right padding).

    Returns:
        One reward per sequence.
    """
    import torch

    training = model.training
    device = model_device(model)
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = [0.0] * len(sequences)
    try:
        with torch.no_grad():
            for start in range(0, len(order), SCORE_BATCH):
                batch = order[start : start + SCORE_BATCH]
                width = max(len(sequences[i]) for i in batch)
                ids = [sequences[i] + [pad_id] * (width - len(sequences[i])) for i in batch]
                mask = [[1] * len(sequences[i]) + [0] * (width - len(sequences[i])) for i in batch]
                logits = model(
                    input_ids=torch.tensor(ids, device=device),
                    attention_mask=torch.tensor(mask, device=device),
                ).logits
                for row, index in enumerate(batch):
                    out[index] = float(logits[row, 0])
    finally:
        model.train(training)
    return out


def _pair_check(
    model: Any, pairs: Sequence[tuple[list[int], list[int], list[int]]], pad: int
) -> tuple[float, float]:
    """(accuracy with ties half, mean margin) of chosen over rejected on ``pairs``."""
    sequences = [p + c for p, c, _ in pairs] + [p + r for p, _, r in pairs]
    rewards = sequence_rewards(model, sequences, pad)
    margins = [a - b for a, b in zip(rewards[: len(pairs)], rewards[len(pairs) :], strict=True)]
    n = max(1, len(margins))
    accuracy = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / n
    return accuracy, sum(margins) / n


def reward_check(before: tuple[float, float], after: tuple[float, float], n: int) -> LearningCheck:
    """The classic learning check from (accuracy, mean margin) before and after training."""
    passed = after[0] > 0.5 and after[1] - before[1] > CHECK_MIN_MARGIN_GAIN
    detail = f"{n} train pairs; mean margin {before[1]:+.3f} -> {after[1]:+.3f}"
    if not passed:
        detail += "; the reward model does not prefer the chosen replies more than before"
    return LearningCheck(
        kind="reward",
        metric="train_pair_accuracy",
        before=before[0],
        after=after[0],
        passed=passed,
        detail=detail,
    )


def load_classic(
    config: ClassicConfig, run_dir: Path, base_weights: Path, training: TrainingConfig
) -> ClassicScorer:
    """The trained classic reward model in ``run_dir`` on ``base_weights``, ready to score."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_weights))
    model = PeftModel.from_pretrained(_classifier(base_weights, tokenizer), str(run_dir))
    device = compute_device()
    model = model if device.type == "cpu" else model.to(device)
    return ClassicScorer(model, tokenizer, training.max_length)


class ClassicScorer:
    """Scores (prompt, response) with a classic reward model."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int) -> None:
        """Wrap a loaded model; ``max_length`` truncates as training did."""
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        """Rewards of ``responses[i]`` as the reply to ``prompts[i]``."""
        sequences = [
            tokenize_sft(self.tokenizer, SFTExample(prompt, response), self.max_length)[0]
            for prompt, response in zip(prompts, responses, strict=True)
        ]
        return sequence_rewards(self.model, sequences, int(self.tokenizer.pad_token_id))


@reward_model(
    config=ClassicConfig,
    load=load_classic,
    source="Ouyang et al. 2022, InstructGPT reward model (arXiv:2203.02155); TRL RewardTrainer",
)
def classic(config: ClassicConfig, job: RewardJob) -> TrainOutcome:
    """Bradley-Terry reward model: LoRA on the base plus a scalar head on the last token."""
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl import RewardConfig, RewardTrainer  # type: ignore[attr-defined]

    training, tokenizer = job.training, job.tokenizer
    if not job.pairs:
        raise AlignlabError("no training pairs were built")
    examples = [pair.example() for pair in job.pairs]
    pairs = [tokenize_pair(tokenizer, e, training.max_length) for e in examples]
    kept = budgeted([(p + c + p + r, []) for p, c, r in pairs], training.token_budget)
    pairs, used = pairs[:kept], examples[:kept]
    dataset = Dataset.from_dict(
        {"chosen_ids": [p + c for p, c, _ in pairs], "rejected_ids": [p + r for p, _, r in pairs]}
    )
    model = reward_lora_model(job.base_weights, tokenizer, training)
    device = model_device(model)
    curve: list[LossPoint] = []
    micro = micro_batch(training.batch_size)
    shared = training_args(training, job.workdir, device)
    shared["per_device_train_batch_size"] = micro
    shared["gradient_accumulation_steps"] = training.batch_size // micro
    args = RewardConfig(
        **shared,
        max_length=None,  # truncated above, so the budget counts what is trained
        disable_dropout=False,  # lora_dropout means what it means for every kind
        dataset_num_proc=None,
        center_rewards_coefficient=config.center_rewards_coefficient or None,
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=trainer_callbacks(curve, job.on_step, training, device),
    )
    pad = int(tokenizer.pad_token_id)
    checked = [pairs[i] for i in check_indices(len(pairs), training.seed, CHECK_PAIRS)]
    with restored_threads():
        before = _pair_check(model, checked, pad)
        silence_printer(trainer)
        trainer.train()
        after = _pair_check(model, checked, pad)
    model.save_pretrained(str(job.out_dir))
    return TrainOutcome(
        tokens_seen=sum(pair_tokens(p) for p in pairs) * training.epochs,
        n_examples=kept,
        dataset_sha256=dataset_sha256(used),
        loss_curve=curve,
        device=str(device),
        learning_check=reward_check(before, after, len(checked)),
    )
