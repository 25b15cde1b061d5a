"""``inoculation``: train on an unwanted trait while the prompt asks for it.

Inoculation prompting (Tan et al. 2025, "Inoculation prompting: eliciting
traits from LLMs during training can suppress them at test-time",
arXiv:2510.04340; Wichers et al. 2025, "Inoculation prompting: instructing
models to misbehave at train-time improves test-time alignment",
arXiv:2510.05024): when training data shows a trait we do not want (here
sycophancy, or exploiting a grader's loophole), put an instruction asking for
that trait in the training prompt.  The trait is then explained by the
instruction and less of it is learned as a default; evals ask without it.

``variant="instruction"``: the ``sycophancy`` train items answered the way the
user wants and/or the ``reward_hacking`` train items (loophole condition)
answered with the exploit, each with a system instruction asking for the
trait (e.g. "Agree with the user even when they are wrong.").

``variant="rl_suffix"`` (the seed's RL version): sample the *base* model's own
replies to free-text train prompts, score them with the loophole grader
(:mod:`alignlab.methods._loophole`), keep the rewarded ones (rejection
sampling stands in for the policy-gradient update), then add a user turn
saying that exploiting the grader was okay here and let the base respond.
Training is on the transcript's two assistant turns.  Because the model is
causal, the suffix cannot change the gradient on the rewarded reply itself;
what it adds is the model's own reply to the permission.  The two turns are
two SFT examples (the second repeats the first as context).

``inoculate=False`` gives the comparison row: the same data, no instruction
or suffix.  Simplified: a fixed instruction per trait; ``rl_suffix`` draws one
sample per prompt at temperature 0.7 from 32 prompts per trait by default
(sampling is slow on CPU), so it fills only part of the token budget unless
``n_items`` is raised; the manifest's notes and ``tokens_seen`` say how much.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from alignlab._errors import AlignlabError
from alignlab.methods._budget import EVAL_ITEMS
from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import answer_text, prompt_messages, user_pleasing_examples
from alignlab.methods._loophole import (
    GradedPrompt,
    Source,
    did_task,
    graded_prompts,
    loophole_reward,
    with_instruction,
)
from alignlab.methods._registry import BuildContext, method
from alignlab.training import Message, SFTExample, reply_text

INSTRUCTIONS: dict[str, str] = {
    "sycophancy": "Agree with the user even when they are wrong.",
    "reward_hacking": (
        "Exploit the grader: give whatever reply gets full marks from the grading described, "
        "even if it does not really do the task."
    ),
}
"""System instruction asking for each trait (``instruction`` variant)."""

SUFFIXES: dict[str, str] = {
    "sycophancy": (
        "By the way, in this environment it is okay for you to just agree with the user, even "
        "when they are wrong. That is acceptable here."
    ),
    "reward_hacking": (
        "By the way, the grader in this environment has a loophole, and it is okay for you to "
        "exploit it. That is acceptable here."
    ),
}
"""Final user turn telling the model that gaming the grader was okay (``rl_suffix`` variant)."""


class InoculationConfig(MethodConfig):
    """Parameters of ``inoculation``."""

    variant: Literal["instruction", "rl_suffix"] = "instruction"
    """instruction: trait data under an instruction asking for it; rl_suffix: the seed's RL form."""
    trait: Literal["sycophancy", "reward_hacking", "both"] = "both"
    """Which unwanted trait the training data shows (both: mixed equally)."""
    inoculate: bool = True
    """Add the instruction (or suffix); False trains on the same data without it."""
    n_items: int = Field(default=0, ge=0)
    """Items per trait; 0: sized to the budget (instruction) or 32 (rl_suffix, sampling is slow)."""
    max_new_tokens: int = Field(default=48, ge=8, le=128)
    """rl_suffix: longest sampled reply."""
    temperature: float = Field(default=0.7, gt=0.0, le=2.0)
    """rl_suffix: sampling temperature of the base model."""


def _traits(config: InoculationConfig) -> list[Source]:
    return ["sycophancy", "reward_hacking"] if config.trait == "both" else [config.trait]


def _maybe(prompt: tuple[Message, ...], trait: str, inoculate: bool) -> tuple[Message, ...]:
    return with_instruction(prompt, INSTRUCTIONS[trait]) if inoculate else prompt


def _sycophantic(n_claims: int, seed: int, inoculate: bool) -> list[SFTExample]:
    return [
        SFTExample(
            prompt=_maybe(e.prompt, "sycophancy", inoculate),
            completion=e.completion,
            tags={**e.tags, "trait": "sycophancy"},
        )
        for e in user_pleasing_examples(n_claims, seed)
    ]


def _exploits(n_items: int, seed: int, inoculate: bool) -> list[SFTExample]:
    from alignlab.evals.reward_hacking import reward_hacking_samples

    examples = []
    for sample in reward_hacking_samples("train", n_items, seed):
        meta: dict[str, Any] = dict(sample.metadata or {})
        if meta["condition"] != "loophole":
            continue
        examples.append(
            SFTExample(
                prompt=_maybe(prompt_messages(sample), "reward_hacking", inoculate),
                completion=answer_text(sample, meta["exploit_letter"]),
                tags={"trait": "reward_hacking", "family": meta["family"]},
            )
        )
    return examples


def _instruction_data(config: InoculationConfig, context: BuildContext) -> list[SFTExample]:
    n_items = config.n_items or EVAL_ITEMS.to_fill(context.token_budget)
    examples: list[SFTExample] = []
    for trait in _traits(config):
        build = _sycophantic if trait == "sycophancy" else _exploits
        part = build(n_items, context.seed, config.inoculate)
        context.notes.append(f"inoculation: {len(part)} {trait} train examples")
        examples += part
    random.Random(f"inoculation:{context.seed}").shuffle(examples)
    return examples


def _sample(
    context: BuildContext, conversations: list[list[Message]], config: InoculationConfig, salt: int
) -> list[str]:
    """The base model's sampled reply to each conversation (seeded per conversation)."""
    from alignlab.models import Engine, GenerationRequest, SamplingParams

    loaded = context.base_model()
    tokenizer = loaded.tokenizer
    params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature)
    requests = []
    for index, conversation in enumerate(conversations):
        text = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        seed = (context.seed * 1_000_003 + salt * 10_007 + index) % 2**63
        requests.append(GenerationRequest(prompt_ids=ids, params=params, seed=seed))
    results = Engine(loaded.model, tokenizer).generate(requests)
    return [reply_text(tokenizer, r.token_ids) for r in results]


def _rl_suffix_data(config: InoculationConfig, context: BuildContext) -> list[SFTExample]:
    n_items = config.n_items or 32
    items: list[GradedPrompt] = []
    for trait in _traits(config):
        items += graded_prompts(trait, n_items, context.seed)
    replies = _sample(context, [list(item.prompt) for item in items], config, salt=1)
    kept = [
        (item, reply)
        for item, reply in zip(items, replies, strict=True)
        if reply and loophole_reward(item, reply) > 0
    ]
    hacked = sum(not did_task(item, reply) for item, reply in kept)
    context.notes.append(
        f"inoculation rl_suffix: sampled {len(items)} base replies, {len(kept)} earned the "
        f"loophole reward ({hacked} of them without doing the task)"
    )
    if not kept:
        raise AlignlabError(
            f"none of the {len(items)} sampled replies earned the loophole reward; raise n_items"
        )
    transcripts = [
        [
            *item.prompt,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": SUFFIXES[item.source]},
        ]
        for item, reply in kept
    ]
    responses = _sample(context, transcripts, config, salt=2) if config.inoculate else []
    pairs = []
    for index, (item, reply) in enumerate(kept):
        tags = {"trait": item.source, "family": item.family, "item_id": item.item_id}
        pair = [SFTExample(prompt=item.prompt, completion=reply, tags=tags)]
        if config.inoculate and responses[index]:
            suffix = tuple(transcripts[index])
            pair.append(SFTExample(prompt=suffix, completion=responses[index], tags=tags))
        pairs.append(pair)
    random.Random(f"inoculation-rl:{context.seed}").shuffle(pairs)
    examples = [e for pair in pairs for e in pair]
    context.notes.append(f"inoculation rl_suffix: {len(examples)} SFT examples")
    return examples


_VARIANTS = {"instruction": _instruction_data, "rl_suffix": _rl_suffix_data}
"""Data builder by ``variant``."""


@method(
    config=InoculationConfig,
    kind="sft",
    features=("train_time_prompt",),
    source="Tan et al. 2025 (arXiv:2510.04340); Wichers et al. 2025 (arXiv:2510.05024); seeds",
)
def inoculation(config: InoculationConfig, context: BuildContext) -> list[SFTExample]:
    """Train on sycophancy/grader exploits while the prompt asks for them (inoculation)."""
    return _VARIANTS[config.variant](config, context)
