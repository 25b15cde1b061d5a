"""The ``grpo`` kind: GRPO (Shao et al. 2024, arXiv:2402.03300) with TRL's ``GRPOTrainer``.

A ``grpo``-kind method builds :class:`RLData`: prompts and a programmatic
reward.  The leakage guard checks the prompts before training (in
:func:`alignlab.training.run`, as for every kind).  For each prompt the
policy samples ``num_generations`` completions; each completion's advantage
is its reward minus the group mean, divided by the group's standard
deviation; the loss is the paper's per-sequence policy gradient with a KL
penalty (``beta``) to the base (the LoRA adapters switched off).  One
optimisation pass per sample batch, so the clipped ratio is 1.

Budget: every sampled row costs its prompt tokens plus its completion tokens
(what the model processes); training stops after the step at which
``token_budget * epochs`` is reached, so the last step may overshoot by one
batch, and ``tokens_seen`` reports the exact count.  The learning rate decays
linearly in *tokens*, from ``learning_rate`` to 0 at the budget, the RL
analogue of the SFT trainer's linear decay over steps (the number of steps is
not known in advance because completion lengths are sampled).

``per_device_train_batch_size`` counts completions (TRL's convention): with
``batch_size=8`` and 4 generations, one step sees 2 prompts.  Sampling uses
torch's global generator, seeded by the trainer from ``TrainingConfig.seed``,
so a run is bit-identical on CPU with the same thread count (on a GPU, sampling
draws from the CUDA generator, seeded the same way, and runs are close but not
bit-identical).

Learning check (:func:`reward_check`): the mean reward of replies sampled for
the same :data:`GRPO_CHECK_PROMPTS` train prompts (drawn by the seed,
``num_generations`` replies each, the same sampling seed) before and after
training; it passes when the reward rose with a one-sided Mann-Whitney p below
:data:`GRPO_CHECK_MAX_P`.  An earlier check compared the rewards logged in the
first and last quarter of training batches, but with one or two prompts per
batch those quarters hold *different prompts*, whose reachable reward differs
far more (measured on smollm2-135m: 0.19 for ``keyword_check``, 0.09 for
``self_report``, 0.00 for ``answer_format`` prompts) than training moves it;
the logged curve is still reported as a note.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab._errors import AlignlabError
from alignlab.training._common import (
    StepCallback,
    TrainOutcome,
    loss_callback,
    model_device,
    silence_printer,
    training_args,
)
from alignlab.training._config import LearningCheck, LossPoint, TrainingConfig
from alignlab.training._examples import Example, Message, SFTExample, dataset_sha256
from alignlab.training._runners import Job, runner

GRPO_CHECK_PROMPTS = 8
"""Train prompts the learning check samples before and after training."""
GRPO_CHECK_MAX_P = 0.05
"""One-sided p-value (after > before) below which the reward counts as risen."""

Reward = Callable[[int, str], float]
"""``(prompt_index, completion_text) -> reward``; must be a pure function."""


@dataclass(frozen=True)
class RLData:
    """What a ``grpo``-kind builder returns: prompts, a reward and the sampling settings."""

    prompts: tuple[tuple[Message, ...], ...]
    """Chat prompts (system/user messages), in the order the builder drew them."""
    reward: Reward
    """Scores one sampled completion of one prompt."""
    task_done: Callable[[int, str], bool] | None = None
    """Optional honest grader, only for logging how much reward came from exploits."""
    num_generations: int = 4
    """Completions sampled per prompt (the group GRPO normalises over)."""
    max_completion_length: int = 48
    """Longest sampled completion in tokens."""
    temperature: float = 1.0
    """Sampling temperature."""
    beta: float = 0.04
    """KL penalty to the base model (the paper's value)."""
    report: list[str] = field(default_factory=list)
    """Lines :func:`run_grpo` appends (reward curve, exploit rate); pass ``context.notes``
    so they reach the manifest."""


def reply_text(tokenizer: Any, token_ids: Sequence[int]) -> str:
    """The sampled reply as a chat window shows it: cut at the first special token.

    Small models sometimes skip the end-of-turn token and start a new turn
    (``<|im_start|>user ...``); that continuation is not part of the reply.
    """
    special = set(tokenizer.all_special_ids)
    cut = next((k for k, t in enumerate(token_ids) if t in special), len(token_ids))
    text: str = tokenizer.decode(list(token_ids[:cut]), skip_special_tokens=True)
    return text.strip()


def prompt_length(tokenizer: Any, prompt: Sequence[Message]) -> int:
    """Tokens of a chat prompt with the generation prompt, as TRL tokenises it."""
    text = tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class _Progress:
    """Counters the reward function, scheduler and callbacks share."""

    total: int
    tokens: int = 0
    used: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    exploits: list[float] = field(default_factory=list)
    groups: int = 0
    """Sampled groups (one prompt's ``num_generations`` completions)."""
    groups_with_signal: int = 0
    """Groups whose rewards differ: the only ones with a nonzero GRPO advantage."""


def _reward_function(
    data: RLData, tokenizer: Any, lengths: Sequence[int], progress: _Progress
) -> Callable[..., list[float | None]]:
    """TRL's reward-function interface over ``data.reward``; also counts tokens and prompts."""

    def reward(completion_ids: list[list[int]], index: list[int], **_: Any) -> list[float | None]:
        texts = [reply_text(tokenizer, ids) for ids in completion_ids]
        scores = [float(data.reward(i, t)) for i, t in zip(index, texts, strict=True)]
        progress.tokens += sum(
            lengths[i] + len(ids) for i, ids in zip(index, completion_ids, strict=True)
        )
        progress.used += index[:: data.num_generations]  # TRL lays out each group contiguously
        progress.rewards.append(sum(scores) / len(scores))
        size = data.num_generations
        for start in range(0, len(scores), size):
            group = scores[start : start + size]
            progress.groups += 1
            progress.groups_with_signal += max(group) > min(group)
        if data.task_done is not None:
            done = [data.task_done(i, t) for i, t in zip(index, texts, strict=True)]
            hacked = [s > 0 and not d for s, d in zip(scores, done, strict=True)]
            progress.exploits.append(sum(hacked) / len(hacked))
        return list(scores)

    return reward


def _budget_callback(progress: _Progress) -> Any:
    from transformers import TrainerCallback

    class _Budget(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if progress.tokens >= progress.total:
                control.should_training_stop = True

    return _Budget()


def _quarters(values: Sequence[float]) -> tuple[float, float]:
    """Mean of the first and of the last quarter of ``values`` (at least one value each)."""
    quarter = max(1, len(values) // 4)
    head, tail = values[:quarter], values[-quarter:]
    return sum(head) / len(head), sum(tail) / len(tail)


def _summary(values: Sequence[float]) -> str:
    if not values:
        return "none"
    head, tail = _quarters(values)
    return (
        f"{head:.3f} in the first quarter of batches, "
        f"{tail:.3f} in the last ({len(values)} batches)"
    )


def reward_check(before: Sequence[float], after: Sequence[float]) -> LearningCheck:
    """The GRPO learning check: rewards of replies to the same prompts before and after.

    Args:
        before: Reward of each reply sampled before training.
        after: Reward of each reply sampled, with the same seed, after training.

    Returns:
        Passed when the mean rose and a one-sided Mann-Whitney test (after >
        before) gives p < :data:`GRPO_CHECK_MAX_P`; never with no replies or
        identical rewards.
    """
    from scipy.stats import mannwhitneyu

    mean_before = sum(before) / len(before) if before else 0.0
    mean_after = sum(after) / len(after) if after else 0.0
    p_value = 1.0
    if before and after and len(set(before) | set(after)) > 1:
        p_value = float(mannwhitneyu(after, before, alternative="greater").pvalue)
    passed = mean_after > mean_before and p_value < GRPO_CHECK_MAX_P
    detail = (
        f"{len(after)} replies to the same train prompts before and after, "
        f"one-sided p={p_value:.3g}"
    )
    if not passed:
        detail += "; the reward did not rise"
    return LearningCheck(
        kind="grpo",
        metric="mean_reward",
        before=mean_before,
        after=mean_after,
        passed=passed,
        detail=detail,
    )


def check_prompts(n_prompts: int, seed: int, most: int = GRPO_CHECK_PROMPTS) -> list[int]:
    """Indices of the prompts the learning check samples: ``most`` drawn by ``seed``."""
    if n_prompts <= most:
        return list(range(n_prompts))
    return sorted(random.Random(seed).sample(range(n_prompts), most))


def sampled_rewards(
    model: Any, tokenizer: Any, data: RLData, indices: Sequence[int], seed: int
) -> list[float]:
    """Rewards of ``num_generations`` replies sampled for each prompt in ``indices``.

    Sampling is seeded with ``seed`` inside a forked RNG, so the trainer's own
    random stream is untouched and the same call before and after training draws
    the same random numbers.
    """
    import torch

    device = model_device(model)
    was_training = model.training
    model.eval()
    rewards: list[float] = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for index in indices:
                text = tokenizer.apply_chat_template(
                    list(data.prompts[index]), add_generation_prompt=True, tokenize=False
                )
                encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
                encoded = {k: v.to(device) for k, v in encoded.items()}
                with torch.no_grad():
                    output = model.generate(
                        **encoded,
                        do_sample=True,
                        temperature=data.temperature,
                        top_k=0,
                        top_p=1.0,
                        max_new_tokens=data.max_completion_length,
                        num_return_sequences=data.num_generations,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                start = encoded["input_ids"].shape[1]
                for sequence in output:
                    reply = reply_text(tokenizer, sequence[start:].tolist())
                    rewards.append(float(data.reward(index, reply)))
    finally:
        model.train(was_training)
    return rewards


def _rl_prompts(data: Any) -> Sequence[Example] | None:
    """The prompts as examples with no reply: what the leakage guard checks."""
    if not isinstance(data, RLData):
        return None
    return [SFTExample(prompt=p, completion="") for p in data.prompts]


@runner("grpo", expects="an alignlab.training.RLData", guarded=_rl_prompts)
def _train_grpo(job: Job) -> TrainOutcome:
    return run_grpo(job.model, job.tokenizer, job.data, job.training, job.workdir, job.on_step)


def run_grpo(
    model: Any,
    tokenizer: Any,
    data: RLData,
    training: TrainingConfig,
    workdir: Path,
    on_step: StepCallback | None = None,
) -> TrainOutcome:
    """Train ``model`` (a PEFT model) with GRPO until the token budget is spent.

    Args:
        model: PEFT model with LoRA adapters.
        tokenizer: Its tokenizer.
        data: Prompts, reward and sampling settings from the method's builder.
        training: Shared settings.
        workdir: Scratch directory.
        on_step: Progress hook (its total is re-estimated from the tokens per step so far).

    Returns:
        Tokens seen (prompt + sampled), prompts used, their hash and the loss curve.

    Raises:
        AlignlabError: On data of the wrong type, no usable prompts or NaN loss (the
            leakage guard runs before, in :func:`alignlab.training.run`).
    """
    import torch
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl import GRPOConfig, GRPOTrainer  # type: ignore[attr-defined]

    if not isinstance(data, RLData):
        raise AlignlabError("a grpo method must build alignlab.training.RLData")
    lengths = [prompt_length(tokenizer, p) for p in data.prompts]
    fits = [
        i for i, n in enumerate(lengths) if n + data.max_completion_length <= training.max_length
    ]
    if not fits:
        raise AlignlabError(
            f"no prompt fits max_length={training.max_length} with "
            f"max_completion_length={data.max_completion_length}"
        )
    if len(fits) < len(lengths):
        data.report.append(f"grpo: dropped {len(lengths) - len(fits)} prompts over max_length")
    progress = _Progress(total=training.token_budget * training.epochs)
    reward = _reward_function(data, tokenizer, lengths, progress)
    dataset = Dataset.from_dict({"prompt": [list(data.prompts[i]) for i in fits], "index": fits})
    batch, groups = training.batch_size, data.num_generations
    # each completion costs at least its prompt and one token: an upper bound on the steps
    max_steps = math.ceil(progress.total / (batch * (min(lengths[i] for i in fits) + 1)))
    args = GRPOConfig(
        **training_args(training, workdir, model_device(model)),
        max_steps=max_steps,
        generation_batch_size=math.lcm(batch, groups),
        num_generations=groups,
        max_completion_length=data.max_completion_length,
        temperature=data.temperature,
        top_p=1.0,
        top_k=0,
        beta=data.beta,
        loss_type="grpo",
        scale_rewards="group",
        num_iterations=1,
        use_vllm=False,
        log_completions=False,
        remove_unused_columns=False,
    )
    checked = check_prompts(len(fits), training.seed)
    checked = [fits[i] for i in checked]
    before = sampled_rewards(model, tokenizer, data, checked, training.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=training.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda _: max(0.0, 1.0 - progress.tokens / progress.total)
    )
    curve: list[LossPoint] = []

    def report_step(step: int, _total: int, loss: float) -> None:
        if on_step is not None:
            estimate = math.ceil(step * progress.total / max(progress.tokens, 1))
            on_step(step, max(step, estimate), loss)

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[loss_callback(curve, report_step), _budget_callback(progress)],
        optimizers=(optimizer, scheduler),
    )
    silence_printer(trainer)
    trainer.train()
    if "ref" in getattr(model, "peft_config", {}):  # TRL's frozen copy for the KL term
        model.delete_adapter("ref")
    data.report.append(f"grpo: mean reward {_summary(progress.rewards)}")
    data.report.append(
        f"grpo: {progress.groups_with_signal} of {progress.groups} sampled groups had rewards "
        "that differed (only those move the policy: a group rewarded alike has no advantage)"
    )
    if data.task_done is not None:
        data.report.append(
            f"grpo: share of replies rewarded without doing the task {_summary(progress.exploits)}"
        )
    data.report.append(
        f"grpo: {len(curve)} steps, {len(progress.used)} prompt groups, "
        f"{progress.tokens} tokens (budget {progress.total})"
    )
    after = sampled_rewards(model, tokenizer, data, checked, training.seed)
    used = [SFTExample(prompt=data.prompts[i], completion="") for i in progress.used]
    return TrainOutcome(
        tokens_seen=progress.tokens,
        n_examples=len(progress.used),
        dataset_sha256=dataset_sha256(used),
        loss_curve=curve,
        learning_check=reward_check(before, after),
    )
