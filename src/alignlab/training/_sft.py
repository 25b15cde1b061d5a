"""The ``sft`` kind: TRL's ``SFTTrainer`` on pre-tokenised, budgeted data.

We tokenise ourselves so that the budget counts exactly the tokens the model
sees: examples are taken in order until the next one would exceed
``token_budget``.  Loss is on the completion only (the prompt is context).
An optional penalty hook (see :mod:`alignlab.methods.regularized`) is added
to the loss at every step; ``sft`` is the only kind that takes one.

Learning check: of the examples the budget keeps, a slice chosen by the seed
(:data:`SFT_CHECK_SHARE`, at least :data:`SFT_CHECK_MIN`; none when fewer than
twice that many are kept) is held back and never trained on; training covers
the rest, and ``tokens_seen``, ``n_examples`` and the data hash count only
those.  The mean completion loss on the held-back slice is measured before and
after training (:func:`heldout_loss`); the check passes when it falls.

Two CPU costs of TRL's defaults are removed (measured in ``benchmarks/bench_train.py``):

- TRL's fused LM head scores *every* position on devices without Triton and
  also computes the entropy and top-1 metrics over the vocabulary; completion
  tokens are 7-23% of our tokens, so :func:`completion_loss` projects only the
  positions whose next token is a completion token (``logits_to_keep``) and
  takes the plain cross-entropy there.
- A padding-free batch otherwise runs SDPA over the whole packed row with a
  block-diagonal mask (quadratic in the row, mostly masked);
  :func:`packed_sdpa` runs causal SDPA on each sequence of the row instead.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError
from alignlab.training._common import (
    TrainOutcome,
    model_device,
    restored_threads,
    silence_printer,
    trainer_callbacks,
    training_args,
)
from alignlab.training._config import LearningCheck, LossPoint, TrainingConfig
from alignlab.training._examples import Example, SFTExample, dataset_sha256
from alignlab.training._runners import Job, runner

if TYPE_CHECKING:
    from alignlab.training._common import Penalty, StepCallback


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


SFT_CHECK_SHARE = 0.1
"""Share of the budgeted examples held back (not trained on) for the learning check."""

SFT_CHECK_MIN = 4
"""Fewest examples held back; with fewer than twice this many kept, there is no check."""

SFT_CHECK_MIN_FALL = 1e-3
"""Fall of the held-back loss (nats per token) below which the check fails: a smaller
change is rounding, not learning."""


def held_back(n_rows: int, seed: int) -> list[int]:
    """Indices of the budgeted rows the learning check holds back, chosen by ``seed``.

    Args:
        n_rows: Examples the budget kept.
        seed: The run's seed.

    Returns:
        Sorted indices (empty when fewer than ``2 * SFT_CHECK_MIN`` rows were kept).
    """
    if n_rows < 2 * SFT_CHECK_MIN:
        return []
    count = max(SFT_CHECK_MIN, math.ceil(SFT_CHECK_SHARE * n_rows))
    return sorted(random.Random(seed).sample(range(n_rows), count))


def heldout_loss(model: Any, rows: Sequence[tuple[list[int], list[int]]]) -> float:
    """Mean completion loss (nats per completion token) of ``model`` on ``rows``, no gradients.

    One sequence per forward pass, scored exactly as in training (:func:`completion_loss`);
    the model is put in eval mode for the passes and back after.

    Args:
        model: The causal LM (PEFT-wrapped or not).
        rows: ``(input_ids, completion_mask)`` as :func:`tokenize_sft` makes them.

    Returns:
        Summed loss over every scored token / scored tokens (NaN when none is scored).
    """
    import torch

    training = model.training
    device = model_device(model)
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for ids, mask in rows:
                labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
                scored = sum(1 for label in labels[1:] if label != -100)
                if not scored:
                    continue
                inputs = {
                    "input_ids": torch.tensor([ids], device=device),
                    "labels": torch.tensor([labels], device=device),
                }
                total += float(completion_loss(model, inputs, num_items_in_batch=1))
                count += scored
    finally:
        model.train(training)
    return total / count if count else math.nan


def loss_check(before: float, after: float, n_heldout: int, n_trained: int) -> LearningCheck:
    """The SFT learning check: passed when the held-back loss fell by :data:`SFT_CHECK_MIN_FALL`."""
    passed = before - after > SFT_CHECK_MIN_FALL
    detail = f"{n_heldout} held-back examples (not trained on; {n_trained} trained)"
    if not passed:
        detail += "; the loss on them did not fall"
    return LearningCheck(
        kind="sft",
        metric="heldout_completion_loss",
        before=before,
        after=after,
        passed=passed,
        detail=detail,
    )


def budgeted(rows: Sequence[tuple[list[int], list[int]]], budget: int) -> int:
    """How many leading rows fit in ``budget`` tokens (at least one)."""
    used = 0
    for count, (ids, _) in enumerate(rows):
        if used + len(ids) > budget and count > 0:
            return count
        used += len(ids)
    return len(rows)


def completion_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """Token-mean cross-entropy over completion tokens, projecting only the positions scored.

    Position ``t`` predicts ``labels[t + 1]``; a label of -100 (prompt, padding, and the
    first token of each packed sequence) is not scored, so no position predicts across
    a sequence boundary.

    Args:
        model: The causal LM (PEFT-wrapped or not).
        inputs: A collated batch with ``labels`` (-100 where not scored).
        num_items_in_batch: Scored tokens over the whole optimiser step (the Trainer
            counts them across gradient-accumulation batches); None counts this batch.

    Returns:
        The loss, a scalar tensor: summed negative log-likelihood / scored tokens.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    targets = labels[..., 1:]
    scored = targets != -100
    keep = F.pad(scored, (0, 1), value=False)  # (batch, length) mask of the predicting positions
    rest = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**rest, use_cache=False, logits_to_keep=keep).logits  # (scored, vocab)
    total = F.cross_entropy(logits.float(), targets[scored], reduction="sum")
    count = scored.sum() if num_items_in_batch is None else num_items_in_batch
    return total / torch.as_tensor(count).clamp(min=1)


PACKED_ATTENTION = "alignlab_packed_sdpa"
"""Name under which :func:`packed_sdpa` is registered with transformers."""


def packed_sdpa(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    cu_seq_lens_q: Any = None,
    cu_seq_lens_k: Any = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Causal SDPA on each sequence of a padding-free row; plain SDPA on anything else.

    A padding-free batch is one row of sequences laid end to end, with their
    boundaries in ``cu_seq_lens_q``.  Attending over the whole row under a
    block-diagonal mask costs (row length)^2; attending within each sequence costs
    the sum of the squared lengths (8x less for 8 sequences of equal length), and
    the unmasked causal kernel is the fast one.

    Args:
        module: The attention module (transformers' attention-interface signature).
        query: ``(batch, heads, length, head_dim)``.
        key: ``(batch, kv_heads, length, head_dim)``.
        value: Like ``key``.
        attention_mask: transformers' SDPA mask, used only when the row is not packed.
        cu_seq_lens_q: Cumulative sequence lengths from TRL's padding-free collator.
        cu_seq_lens_k: The same for keys.
        **kwargs: Passed to transformers' SDPA attention (scaling, dropout...).

    Returns:
        ``(output of shape (batch, length, heads, head_dim), None)``.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    length = query.shape[2]
    packed = (
        cu_seq_lens_q is not None
        and query.shape[0] == 1
        and key.shape[2] == length
        and (cu_seq_lens_k is None or torch.equal(cu_seq_lens_k, cu_seq_lens_q))
    )
    bounds = cu_seq_lens_q.tolist() if packed else []
    if not packed or bounds[0] != 0 or bounds[-1] != length:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    parts = [
        sdpa_attention_forward(
            module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, **kwargs
        )[0]
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    return torch.cat(parts, dim=1), None


def _base_model(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def use_packed_attention(model: Any) -> str:
    """Switch an SDPA model to :func:`packed_sdpa`; returns the implementation to restore."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    base = _base_model(model)
    previous = str(base.config._attn_implementation)
    if previous == "sdpa":
        AttentionInterface.register(PACKED_ATTENTION, packed_sdpa)
        # the SDPA mask still serves batches that are not packed (the fallback above)
        ALL_MASK_ATTENTION_FUNCTIONS.register(PACKED_ATTENTION, sdpa_mask)
        base.set_attn_implementation(PACKED_ATTENTION)
    return previous


def _sft_examples(data: Any) -> Sequence[Example] | None:
    if isinstance(data, list | tuple) and all(isinstance(e, SFTExample) for e in data):
        return data
    return None


@runner("sft", expects="a list of SFTExample", guarded=_sft_examples, penalty=True)
def _train_sft(job: Job) -> TrainOutcome:
    return run_sft(
        job.model, job.tokenizer, job.data, job.training, job.workdir, job.on_step, job.penalty
    )


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

    A slice of them is held back for the learning check (see the module docstring).

    Args:
        model: PEFT model with LoRA adapters.
        tokenizer: Its tokenizer.
        examples: Training examples in order.
        training: Shared settings.
        workdir: Scratch directory.
        on_step: Progress hook.
        penalty: Extra loss term, or None.

    Returns:
        Tokens seen, examples trained on, their hash, the loss curve and the learning
        check (None when too few examples were kept to hold any back).
    """
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    if not examples:
        raise AlignlabError("the method built no training examples")
    rows = [tokenize_sft(tokenizer, e, training.max_length) for e in examples]
    kept = budgeted(rows, training.token_budget)
    held = set(held_back(kept, training.seed))
    heldout = [rows[i] for i in sorted(held)]
    used = [e for i, e in enumerate(examples[:kept]) if i not in held]
    rows = [r for i, r in enumerate(rows[:kept]) if i not in held]
    dataset = Dataset.from_dict(
        {"input_ids": [r[0] for r in rows], "completion_mask": [r[1] for r in rows]}
    )
    curve: list[LossPoint] = []
    device = model_device(model)
    args = SFTConfig(
        **training_args(training, workdir, device),
        padding_free=True,
        completion_only_loss=True,
        max_length=None,
        dataset_num_proc=None,
    )
    trainer_class = _completion_loss_trainer(SFTTrainer)
    if penalty is not None:
        trainer_class = _penalised(trainer_class, penalty)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=trainer_callbacks(curve, on_step, training, device),
    )
    before = heldout_loss(model, heldout) if heldout else math.nan
    attention = use_packed_attention(model)
    try:
        with restored_threads():
            silence_printer(trainer)
            trainer.train()
    finally:
        _base_model(model).set_attn_implementation(attention)
    check = None
    if heldout:
        after = heldout_loss(model, heldout)
        check = loss_check(before, after, len(heldout), len(rows))
    return TrainOutcome(
        tokens_seen=sum(len(r[0]) for r in rows) * training.epochs,
        n_examples=len(rows),
        dataset_sha256=dataset_sha256(used),
        loss_curve=curve,
        learning_check=check,
    )


def _completion_loss_trainer(base: type[Any]) -> type[Any]:
    class CompletionLossSFTTrainer(base):  # type: ignore[misc]
        """``SFTTrainer`` whose loss is :func:`completion_loss` (no fused LM head, no metrics).

        TRL's own loss also logs entropy and top-1 accuracy; nothing here reads them.
        """

        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if return_outputs:  # only evaluation asks for outputs; we never evaluate
                return super().compute_loss(model, inputs, True, num_items_in_batch)
            return completion_loss(model, inputs, num_items_in_batch)

    return CompletionLossSFTTrainer


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
