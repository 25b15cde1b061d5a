"""The ``dpo`` kind: Direct Preference Optimization with TRL's ``DPOTrainer``.

DPO (Rafailov et al. 2023, arXiv:2305.18290) raises the log-likelihood ratio
of the chosen over the rejected reply relative to a frozen reference model.
The reference is the base itself: the model is a PEFT model, and TRL computes
reference log-probabilities with the adapters disabled, so no second copy of
the weights is kept.

Pairs are pre-tokenised, as the ``sft`` kind's examples are, so the budget
counts exactly what the model processes: a pair costs prompt + chosen +
prompt + rejected tokens (the prompt is run once per reply), and pairs are
taken in order until the next would exceed ``token_budget``.  The loss is on
the replies only (the prompt is context), with TRL's sigmoid loss and
:data:`DPO_BETA`.  Batches are padded (TRL's DPO has no padding-free mode);
padding costs FLOPs but is not counted as tokens.  A step of ``batch_size``
pairs is reached by gradient accumulation over micro-batches of
:data:`DPO_MICRO_BATCH` pairs: each pair is two sequences, and the
activations of 8 padded pairs of the 135M model in fp32 took about 8 GB.

Learning check (:func:`preference_check`): the reply log-probabilities of up to
:data:`DPO_CHECK_PAIRS` train pairs, drawn by the seed, under the reference
(adapters disabled, before training) and under the trained policy; the share
of pairs whose chosen reply gained more than the rejected one must be above
0.5.  Each pass runs the prompt once and reuses its cache for both replies.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignlab._errors import AlignlabError
from alignlab.training._common import (
    StepCallback,
    TrainOutcome,
    model_device,
    restored_threads,
    silence_printer,
    trainer_callbacks,
    training_args,
)
from alignlab.training._config import LearningCheck, LossPoint, TrainingConfig
from alignlab.training._examples import Example, PreferenceExample, SFTExample, dataset_sha256
from alignlab.training._runners import Job, runner
from alignlab.training._sft import budgeted, tokenize_sft

DPO_BETA = 0.1
"""Strength of the implicit KL constraint to the reference (the paper's usual 0.1)."""

DPO_MICRO_BATCH = 2
"""Most pairs per forward pass (the loss is the same mean over the step's pairs)."""

PairIds = tuple[list[int], list[int], list[int]]
"""``(prompt_ids, chosen_ids, rejected_ids)`` of one preference pair."""

DPO_CHECK_PAIRS = 32
"""Most train pairs the learning check scores, drawn by the seed from the pairs trained on
(each costs a reference and a policy pass over its prompt and both replies)."""

DPO_CHECK_MIN_MARGIN = 1e-3
"""Mean margin (nats) below which the check fails: a smaller change is rounding, not learning."""


def tokenize_pair(tokenizer: Any, example: PreferenceExample, max_length: int) -> PairIds:
    """Token ids of the prompt and of each reply, as the model will see them.

    Each of prompt + chosen and prompt + rejected is truncated to ``max_length``
    tokens (keeping the start), exactly as SFT truncates prompt + completion.

    Args:
        tokenizer: The base model's tokenizer (with a chat template).
        example: The pair.
        max_length: Longest prompt + reply in tokens.

    Returns:
        ``(prompt_ids, chosen_ids, rejected_ids)``.

    Raises:
        AlignlabError: If the prompt leaves no room for a reply within ``max_length``.
    """
    sides = []
    for reply in (example.chosen, example.rejected):
        ids, mask = tokenize_sft(tokenizer, SFTExample(example.prompt, reply), max_length)
        n_prompt = mask.count(0)
        if n_prompt == len(ids):
            raise AlignlabError(
                f"a preference prompt fills max_length ({max_length} tokens) and leaves no room "
                "for the reply; raise max_length"
            )
        sides.append((ids[:n_prompt], ids[n_prompt:]))
    (prompt_ids, chosen_ids), (_, rejected_ids) = sides
    return prompt_ids, chosen_ids, rejected_ids


def pair_tokens(pair: PairIds) -> int:
    """Tokens a pair costs: the prompt once with each reply."""
    prompt_ids, chosen_ids, rejected_ids = pair
    return 2 * len(prompt_ids) + len(chosen_ids) + len(rejected_ids)


def micro_batch(batch_size: int) -> int:
    """The largest divisor of ``batch_size`` that is at most :data:`DPO_MICRO_BATCH`."""
    return max(d for d in range(1, DPO_MICRO_BATCH + 1) if batch_size % d == 0)


def reply_logps(model: Any, pairs: Sequence[PairIds]) -> list[tuple[float, float]]:
    """Summed log-probability of each pair's chosen and of its rejected reply, given the prompt.

    The quantity DPO compares (TRL sums the reply's token log-probabilities too);
    the prompt is run once per pair and its key-value cache reused for both replies.
    No gradients; the model is put in eval mode for the passes and back after.

    Args:
        model: A causal LM (PEFT-wrapped or not; wrap the call in
            ``model.disable_adapter()`` for the reference).
        pairs: ``(prompt_ids, chosen_ids, rejected_ids)`` with non-empty prompts and replies.

    Returns:
        ``(chosen_logp, rejected_logp)`` per pair.
    """
    import copy

    import torch
    from transformers import DynamicCache

    training = model.training
    device = model_device(model)
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for prompt_ids, chosen_ids, rejected_ids in pairs:
                cache = DynamicCache()
                prompt = torch.tensor([prompt_ids], device=device)
                first = model(
                    input_ids=prompt, past_key_values=cache, use_cache=True, logits_to_keep=1
                ).logits[0, -1:]
                scores = []
                for reply in (chosen_ids, rejected_ids):
                    logits = first
                    if len(reply) > 1:
                        rest = model(
                            input_ids=torch.tensor([reply[:-1]], device=device),
                            past_key_values=copy.deepcopy(cache),
                            use_cache=True,
                        ).logits[0]
                        logits = torch.cat([first, rest])
                    logps = torch.log_softmax(logits.float(), dim=-1)
                    targets = torch.tensor(reply, device=device)[:, None]
                    scores.append(float(logps.gather(1, targets).sum()))
                out.append((scores[0], scores[1]))
    finally:
        model.train(training)
    return out


def check_indices(n_pairs: int, seed: int, most: int = DPO_CHECK_PAIRS) -> list[int]:
    """``most`` of ``range(n_pairs)`` drawn by ``seed``, sorted (all of them when fewer).

    Drawn at random rather than evenly spaced: methods interleave pair families, and
    a regular stride can alias with the interleaving and check mostly one family.
    """
    if n_pairs <= most:
        return list(range(n_pairs))
    return sorted(random.Random(seed).sample(range(n_pairs), most))


def preference_check(
    reference: Sequence[tuple[float, float]], policy: Sequence[tuple[float, float]]
) -> LearningCheck:
    """The DPO learning check from reference and trained-policy reply log-probabilities.

    A pair's margin is ``(policy - reference)`` on the chosen reply minus the same on
    the rejected one (``DPO_BETA`` times it is the implicit-reward margin); accuracy is
    the share of pairs with a positive margin, ties counting half.  Before training
    the adapter is the identity, so every margin is 0 and the accuracy 0.5.

    Args:
        reference: ``(chosen, rejected)`` log-probabilities under the reference (the base).
        policy: The same under the trained policy, pair by pair.

    Returns:
        Passed when the accuracy is above 0.5 and the mean margin is positive (above
        :data:`DPO_CHECK_MIN_MARGIN`).
    """
    margins = [(pc - rc) - (pr - rr) for (pc, pr), (rc, rr) in zip(policy, reference, strict=True)]
    n = len(margins)
    accuracy = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / max(n, 1)
    mean = sum(margins) / max(n, 1)
    passed = n > 0 and accuracy > 0.5 and mean > DPO_CHECK_MIN_MARGIN
    detail = (
        f"{n} train pairs, mean margin {mean:+.3f} nats (implicit reward x beta {DPO_BETA:g}); "
        "before: untrained adapter = reference, every margin 0"
    )
    if not passed:
        detail += "; the policy does not prefer the chosen replies more than the reference does"
    return LearningCheck(
        kind="dpo",
        metric="preference_accuracy",
        before=0.5,
        after=accuracy,
        passed=passed,
        detail=detail,
    )


def _preference_examples(data: Any) -> Sequence[Example] | None:
    if isinstance(data, list | tuple) and all(isinstance(e, PreferenceExample) for e in data):
        return data
    return None


@runner("dpo", expects="a list of PreferenceExample", guarded=_preference_examples)
def _train_dpo(job: Job) -> TrainOutcome:
    return run_dpo(job.model, job.tokenizer, job.data, job.training, job.workdir, job.on_step)


def run_dpo(
    model: Any,
    tokenizer: Any,
    examples: Sequence[PreferenceExample],
    training: TrainingConfig,
    workdir: Path,
    on_step: StepCallback | None = None,
) -> TrainOutcome:
    """Train ``model`` (a PEFT model) with DPO on the pairs that fit the token budget.

    Args:
        model: PEFT model with LoRA adapters (disabling them gives the reference).
        tokenizer: Its tokenizer.
        examples: Preference pairs in order.
        training: Shared settings.
        workdir: Scratch directory.
        on_step: Progress hook.

    Returns:
        Tokens seen, pairs used, data hash and the loss curve.

    Raises:
        AlignlabError: On no pairs, a prompt longer than ``max_length``, or a NaN loss.
    """
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl import DPOConfig  # type: ignore[attr-defined]

    if not examples:
        raise AlignlabError("the method built no preference pairs")
    pairs = [tokenize_pair(tokenizer, e, training.max_length) for e in examples]
    # ``budgeted`` counts len(ids) per row: give it each pair's processed tokens
    kept = budgeted([(p + c + p + r, []) for p, c, r in pairs], training.token_budget)
    pairs, used = pairs[:kept], list(examples[:kept])
    dataset = Dataset.from_dict(
        {
            "prompt_ids": [p for p, _, _ in pairs],
            "chosen_ids": [c for _, c, _ in pairs],
            "rejected_ids": [r for _, _, r in pairs],
        }
    )
    curve: list[LossPoint] = []
    micro = micro_batch(training.batch_size)
    device = model_device(model)
    shared = training_args(training, workdir, device)
    shared["per_device_train_batch_size"] = micro
    shared["gradient_accumulation_steps"] = training.batch_size // micro
    args = DPOConfig(
        **shared,
        beta=DPO_BETA,
        loss_type=["sigmoid"],
        max_length=None,  # truncated above, so the budget counts what is trained
        padding_free=False,
        precompute_ref_log_probs=False,
        disable_dropout=False,  # lora_dropout means the same as in SFT (default 0: no dropout)
        dataset_num_proc=None,
    )
    trainer = _pretokenised_trainer()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=trainer_callbacks(curve, on_step, training, device),
    )
    checked = [pairs[i] for i in check_indices(len(pairs), training.seed)]
    with restored_threads():
        with model.disable_adapter():
            reference = reply_logps(model, checked)
        silence_printer(trainer)
        trainer.train()
        policy = reply_logps(model, checked)
    return TrainOutcome(
        tokens_seen=sum(pair_tokens(p) for p in pairs) * training.epochs,
        n_examples=kept,
        dataset_sha256=dataset_sha256(used),
        loss_curve=curve,
        learning_check=preference_check(reference, policy),
    )


def _pretokenised_trainer() -> type[Any]:
    """``DPOTrainer`` that takes our ``prompt_ids``/``chosen_ids``/``rejected_ids`` as they are.

    TRL 1.16 re-tokenises any dataset it is given (it expects text columns);
    ours is already in the collator's format.
    """
    from trl import DPOTrainer  # type: ignore[attr-defined]

    class PretokenisedDPOTrainer(DPOTrainer):
        def _prepare_dataset(
            self, dataset: Any, processing_class: Any, args: Any, dataset_name: str
        ) -> Any:
            return dataset

    return PretokenisedDPOTrainer
