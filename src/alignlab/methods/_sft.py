"""Supervised fine-tuning with TRL's ``SFTTrainer`` on pre-tokenised, budgeted data.

We tokenise ourselves so that the budget counts exactly the tokens the model
sees: examples are taken in order until the next one would exceed
``token_budget``.  Loss is on the completion only (the prompt is context).
An optional penalty hook (see :mod:`alignlab.methods.regularized`) is added
to the loss at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alignlab._errors import AlignlabError
from alignlab.methods._common import (
    StepCallback,
    TrainOutcome,
    cpu_training_args,
    loss_callback,
)
from alignlab.methods._config import LossPoint, TrainingConfig
from alignlab.methods._data import SFTExample, dataset_sha256

Penalty = Callable[[Any], Any]
"""``model -> scalar tensor`` added to the loss after each forward pass (a penalty on
activations keeps them itself, e.g. with forward hooks)."""


def tokenize_sft(
    tokenizer: Any, example: SFTExample, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids of prompt + completion, and a mask that is 1 on the completion.

    Args:
        tokenizer: The base model's tokenizer (with a chat template).
        example: The example.
        max_length: Truncate to this many tokens (keeping the start).

    Returns:
        ``(input_ids, completion_mask)``.
    """
    prompt = list(example.prompt)
    prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template(
        [*prompt, {"role": "assistant", "content": example.completion}], tokenize=False
    )
    if not full_text.startswith(prompt_text):
        raise AlignlabError("the chat template renders the prompt differently inside a dialogue")
    prompt_ids = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    completion_ids = list(
        tokenizer(full_text[len(prompt_text) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    )
    ids = (prompt_ids + completion_ids)[:max_length]
    mask = ([0] * len(prompt_ids) + [1] * len(completion_ids))[:max_length]
    return ids, mask


def budgeted(rows: Sequence[tuple[list[int], list[int]]], budget: int) -> int:
    """How many leading rows fit in ``budget`` tokens (at least one)."""
    used = 0
    for count, (ids, _) in enumerate(rows):
        if used + len(ids) > budget and count > 0:
            return count
        used += len(ids)
    return len(rows)


def run_sft(
    model: Any,
    tokenizer: Any,
    examples: Sequence[SFTExample],
    training: TrainingConfig,
    workdir: Path,
    on_step: StepCallback | None = None,
    penalty: Penalty | None = None,
) -> TrainOutcome:
    """Train ``model`` (a PEFT model) on the examples that fit the token budget.

    Args:
        model: PEFT model with LoRA adapters.
        tokenizer: Its tokenizer.
        examples: Training examples in order.
        training: Shared settings.
        workdir: Scratch directory.
        on_step: Progress hook.
        penalty: Extra loss term, or None.

    Returns:
        Tokens seen, examples used, data hash and the loss curve.
    """
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    if not examples:
        raise AlignlabError("the method built no training examples")
    rows = [tokenize_sft(tokenizer, e, training.max_length) for e in examples]
    kept = budgeted(rows, training.token_budget)
    rows, used = rows[:kept], list(examples[:kept])
    dataset = Dataset.from_dict(
        {"input_ids": [r[0] for r in rows], "completion_mask": [r[1] for r in rows]}
    )
    curve: list[LossPoint] = []
    args = SFTConfig(
        **cpu_training_args(training, workdir),
        padding_free=True,
        completion_only_loss=True,
        max_length=None,
        dataset_num_proc=None,
    )
    trainer_class = SFTTrainer if penalty is None else _penalised(SFTTrainer, penalty)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[loss_callback(curve, on_step)],
    )
    trainer.train()
    return TrainOutcome(
        tokens_seen=sum(len(r[0]) for r in rows) * training.epochs,
        n_examples=kept,
        dataset_sha256=dataset_sha256(used),
        loss_curve=curve,
    )


def _penalised(base: type[Any], penalty: Penalty) -> type[Any]:
    class PenalisedSFTTrainer(base):  # type: ignore[misc]
        def compute_loss(
            self, model: Any, inputs: Any, return_outputs: bool = False, **kwargs: Any
        ) -> Any:
            result = super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
            if return_outputs:
                loss, outputs = result
                return loss + penalty(model), outputs
            return result + penalty(model)

    return PenalisedSFTTrainer
