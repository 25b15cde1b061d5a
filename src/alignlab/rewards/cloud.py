"""``cloud``: Critique-out-Loud reward model: write a critique, then score its last token.

CLoud (Ankner et al. 2024, arXiv:2408.11791) lets the reward model reason
before it scores: given the conversation and the response, it first writes a
critique (greedy), and a linear reward head reads the hidden state of the
critique's last token.  The paper reports +4.65 points of pairwise accuracy
on RewardBench at 8B and +5.84 at 70B over a classic reward model.  Its
recipe, followed here:

1. **Stage 1, SFT on oracle critiques.** The paper uses critiques written by
   a stronger model; here they are templated from each train pair's known
   ground truth (:attr:`PreferencePair.facts`: what the user claimed, what is
   true, what the response did), from ``critiques.yaml`` beside this module
   (loaded by :func:`critique_templates`), for both replies of every pair.
2. **Stage 2, self-generated critiques.** The stage-1 model writes its own
   critique of every train reply (greedy); the model is then trained on the
   Bradley-Terry loss over the head's reward at each critique's last token
   *plus* the language-model loss on those critiques, weighted by
   ``lm_weight`` (the paper's lambda, 1.25): :func:`cloud_loss`.
3. **Scoring:** a greedy critique, then the reward head
   (:class:`CloudScorer`; :meth:`CloudScorer.judge` returns each critique
   with its reward).

The model is the base with LoRA (:func:`alignlab.training.lora_model`, the
same adapters as every method) and a fresh linear head saved beside the
adapter (``reward_head.safetensors``).  A custom torch loop trains both stages
(nothing packaged trains CLoud): AdamW at ``learning_rate``, ``batch_size``
pairs per optimiser step reached by micro-batches
(:func:`alignlab.training.micro_batch`), ``epochs`` passes per stage.

Token accounting (so ``classic`` and ``cloud`` compare at matched training
tokens): every token the model processes counts: stage 1's critique prompts
and oracle critiques, stage 2's generation (prompt plus generated tokens) and
its training sequences, times epochs for the training passes.  Pairs are kept
in order while an upper bound of that cost (generated critiques counted at
``max_critique_tokens``) fits ``token_budget``; the manifest records the
tokens actually processed, which are at most the budget.

Lengths: the critique prompt (the request with the conversation and the
response) is cut to ``max_length`` tokens as ``classic`` cuts prompt and
reply; the critique adds at most ``max_critique_tokens`` on top.

Learning check: pairwise accuracy and mean margin of the head on up to
:data:`~alignlab.rewards.classic.CHECK_PAIRS` train pairs with their stage-2
critiques, before stage 2 (fresh head) and after, as for ``classic``.

Simplified: oracle critiques are templates, not a stronger model's prose;
one sample per critique (the paper also tries several); both stages share
the token budget's pairs, learning rate and epochs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alignlab._errors import AlignlabError
from alignlab.rewards._config import RewardModelConfig
from alignlab.rewards._pairs import PairFamily, PreferencePair
from alignlab.rewards._registry import RewardJob, reward_model
from alignlab.rewards.classic import CHECK_PAIRS, reward_check
from alignlab.training import (
    LossPoint,
    Message,
    SFTExample,
    TrainingConfig,
    TrainOutcome,
    check_indices,
    dataset_sha256,
    lora_model,
    micro_batch,
    model_device,
    restored_threads,
    set_training_threads,
    tokenize_sft,
)

TEMPLATES_FILE: Final = "critiques.yaml"
"""The oracle-critique templates, beside this module."""
TEMPLATES_VERSION: Final = 1
"""The templates' schema version this module reads."""
HEAD_FILE: Final = "reward_head.safetensors"
"""The reward head's weights, saved beside the adapter."""
DEFAULT_CONDITION: Final = "default"
"""Template key used when a family has no template for the pair's condition."""
LENGTH_SLACK: Final = 1
"""Tokens a critique may add beyond ``max_critique_tokens`` (the chat template's end token)."""
NO_LABEL: Final = -100
"""Label of a position the language-model loss does not score."""


class CritiquePair(BaseModel):
    """The oracle critique of a pair's gold-preferred reply and of its other reply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chosen: str = Field(min_length=1)
    """Template of the critique of the gold-preferred reply (``{fact}`` placeholders)."""
    rejected: str = Field(min_length=1)
    """Template of the critique of the gold-dispreferred reply."""


class CritiqueTemplates(BaseModel):
    """``critiques.yaml``: the critique request and the oracle critiques per family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    """Schema version (:data:`TEMPLATES_VERSION`)."""
    request: str = Field(min_length=1)
    """The instruction the model critiques under (``{conversation}``, ``{response}``)."""
    families: dict[PairFamily, dict[str, CritiquePair]]
    """Per pair family, per condition (or ``default``), the two oracle critiques."""

    def oracle(self, pair: PreferencePair, chosen: bool) -> str:
        """The oracle critique of ``pair``'s chosen (or rejected) reply.

        Raises:
            AlignlabError: If the family has no template for the pair's condition,
                or a template names a fact the pair lacks.
        """
        by_condition = self.families.get(pair.family, {})
        templates = by_condition.get(pair.condition) or by_condition.get(DEFAULT_CONDITION)
        if templates is None:
            raise AlignlabError(
                f"no oracle critique for family '{pair.family}', condition '{pair.condition}' "
                f"in {TEMPLATES_FILE}"
            )
        template = templates.chosen if chosen else templates.rejected
        try:
            return template.format(**dict(pair.facts))
        except KeyError as exc:
            raise AlignlabError(
                f"oracle critique of '{pair.family}' names fact {exc} that pair "
                f"{pair.item_id} lacks"
            ) from None

    def request_text(self, prompt: Sequence[Message], response: str) -> str:
        """The user message asking for a critique of ``response`` as the reply to ``prompt``."""
        conversation = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt)
        return self.request.format(conversation=conversation, response=response)


@cache
def critique_templates() -> CritiqueTemplates:
    """The packaged ``critiques.yaml``, validated (read once).

    Raises:
        AlignlabError: If the file is missing, not YAML, or not of this schema version.
    """
    import yaml

    try:
        text = resources.files("alignlab.rewards").joinpath(TEMPLATES_FILE).read_text("utf-8")
        templates = CritiqueTemplates.model_validate(yaml.safe_load(text))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise AlignlabError(f"bad {TEMPLATES_FILE}: {str(exc).splitlines()[0]}") from None
    if templates.version != TEMPLATES_VERSION:
        raise AlignlabError(
            f"{TEMPLATES_FILE} is version {templates.version}; this code reads {TEMPLATES_VERSION}"
        )
    return templates


class CloudConfig(RewardModelConfig):
    """Parameters of ``cloud`` (Ankner et al. 2024, arXiv:2408.11791), plus families and items."""

    lm_weight: float = Field(default=1.25, ge=0.0)
    """Weight of the critique language-model loss in stage 2 (the paper's lambda = 1.25);
    0 trains the head on the Bradley-Terry loss alone."""
    max_critique_tokens: int = Field(default=64, ge=1)
    """Longest critique in tokens, generated or oracle (oracle ones are cut to it)."""


# -- sequences --------------------------------------------------------------------------


def critique_sequence(
    tokenizer: Any,
    prompt: Sequence[Message],
    response: str,
    critique: str,
    max_length: int,
    max_critique_tokens: int,
) -> tuple[list[int], list[int]]:
    """Token ids of the critique prompt followed by ``critique``, and a mask that is 1 on it.

    The critique prompt (:meth:`CritiqueTemplates.request_text` as a user turn)
    is cut to ``max_length`` tokens; the critique to ``max_critique_tokens``
    plus the chat template's end token.  The reward head reads the last token.
    """
    user = critique_templates().request_text(prompt, response)
    example = SFTExample(({"role": "user", "content": user},), critique)
    ids, mask = tokenize_sft(tokenizer, example, max_length + max_critique_tokens + LENGTH_SLACK)
    n_prompt = mask.count(0)
    head, tail = ids[:n_prompt][:max_length], ids[n_prompt:]
    if len(tail) > max_critique_tokens + LENGTH_SLACK:
        tail = tail[:max_critique_tokens] + tail[-LENGTH_SLACK:]
    return head + tail, [0] * len(head) + [1] * len(tail)


def critique_prompt_ids(
    tokenizer: Any, prompt: Sequence[Message], response: str, max_length: int
) -> list[int]:
    """Token ids the model writes its critique after (with the generation prompt)."""
    user = critique_templates().request_text(prompt, response)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])[:max_length]


def generate_critiques(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[Message]],
    responses: Sequence[str],
    config: CloudConfig,
    max_length: int,
) -> tuple[list[str], int]:
    """Greedy critiques of ``responses[i]`` as the reply to ``prompts[i]``.

    Returns:
        The critiques, and the tokens processed (prompts plus generated tokens).
    """
    from alignlab.models import Engine, GenerationRequest, SamplingParams

    params = SamplingParams(max_new_tokens=config.max_critique_tokens, temperature=0.0)
    requests = [
        GenerationRequest(critique_prompt_ids(tokenizer, p, r, max_length), params)
        for p, r in zip(prompts, responses, strict=True)
    ]
    was_training = model.training
    model.eval()
    try:
        results = Engine(model, tokenizer).generate(requests)
    finally:
        model.train(was_training)
    processed = sum(r.prompt_tokens + len(r.token_ids) for r in results)
    return [r.text.strip() for r in results], processed


# -- model and loss ---------------------------------------------------------------------


def new_head(hidden_size: int, seed: int) -> Any:
    """A fresh fp32 linear reward head (hidden state -> scalar), initialised from ``seed``."""
    import torch

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        head = torch.nn.Linear(hidden_size, 1)
    finally:
        torch.random.set_rng_state(generator_state)
    return head


def forward_rewards(
    model: Any, head: Any, sequences: Sequence[list[int]], pad_id: int
) -> tuple[Any, Any]:
    """One forward pass: the head's reward at each sequence's last token, and the LM logits.

    Sequences are right-padded; returns ``(rewards [batch], logits [batch, width, vocab])``.
    """
    import torch

    device = model_device(model)
    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in sequences], device=device)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], device=device)
    output = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    last = torch.tensor([len(s) - 1 for s in sequences], device=device)
    hidden = output.hidden_states[-1][torch.arange(len(sequences), device=device), last]
    rewards = head(hidden.to(head.weight.dtype)).squeeze(-1)
    return rewards, output.logits


def lm_labels(sequences: Sequence[list[int]], masks: Sequence[list[int]]) -> Any:
    """Labels for :func:`critique_lm_loss`: the token where the mask is 1, else -100."""
    import torch

    width = max(len(s) for s in sequences)
    rows = [
        [t if m else NO_LABEL for t, m in zip(s, k, strict=True)] + [NO_LABEL] * (width - len(s))
        for s, k in zip(sequences, masks, strict=True)
    ]
    return torch.tensor(rows)


def critique_lm_loss(logits: Any, labels: Any) -> Any:
    """Token-mean cross-entropy of the critique tokens (labels -100 elsewhere).

    Position ``t`` predicts ``labels[t + 1]``; returns a scalar tensor (0 without
    any scored token).
    """
    import torch.nn.functional as F

    targets = labels[:, 1:].to(logits.device)
    scored = targets != NO_LABEL
    if not bool(scored.any()):
        return logits.sum() * 0.0
    predictions = logits[:, :-1][scored]
    return F.cross_entropy(predictions.float(), targets[scored])


@dataclass(frozen=True)
class CloudLoss:
    """The stage-2 loss and its parts."""

    total: Any
    """``bradley_terry + lm_weight * lm`` (a scalar tensor)."""
    bradley_terry: Any
    """``mean(-log sigmoid(r_chosen - r_rejected))``."""
    lm: Any
    """The critique language-model loss."""


def cloud_loss(
    chosen_rewards: Any, rejected_rewards: Any, lm_loss: Any, lm_weight: float
) -> CloudLoss:
    """CLoud's stage-2 objective: Bradley-Terry over the rewards plus the weighted LM loss.

    Args:
        chosen_rewards: Rewards of the gold-preferred replies ``[batch]``.
        rejected_rewards: Rewards of the other replies ``[batch]``.
        lm_loss: Critique language-model loss (scalar tensor).
        lm_weight: Its weight (the paper's lambda).

    Returns:
        The total and its parts.
    """
    import torch.nn.functional as F

    bradley_terry = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return CloudLoss(bradley_terry + lm_weight * lm_loss, bradley_terry, lm_loss)


# -- training ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """A pair's two training sequences (chosen first) with their critique masks."""

    chosen: tuple[list[int], list[int]]
    rejected: tuple[list[int], list[int]]

    @property
    def tokens(self) -> int:
        return len(self.chosen[0]) + len(self.rejected[0])


def _rows(
    tokenizer: Any,
    pair: PreferencePair,
    critiques: tuple[str, str],
    training: TrainingConfig,
    config: CloudConfig,
) -> _Rows:
    sides = [
        critique_sequence(
            tokenizer,
            pair.prompt,
            reply,
            critique,
            training.max_length,
            config.max_critique_tokens,
        )
        for reply, critique in zip((pair.chosen, pair.rejected), critiques, strict=True)
    ]
    return _Rows(sides[0], sides[1])


def _budget_pairs(rows: Sequence[_Rows], training: TrainingConfig, config: CloudConfig) -> int:
    """Leading pairs whose upper-bound cost (stage 1, generation, stage 2) fits the budget."""
    used = 0
    extra = config.max_critique_tokens + LENGTH_SLACK
    for count, row in enumerate(rows):
        prompts = row.tokens - sum(row.chosen[1]) - sum(row.rejected[1])
        stage1 = training.epochs * row.tokens
        generation = prompts + 2 * config.max_critique_tokens
        stage2 = training.epochs * (prompts + 2 * extra)
        cost = stage1 + generation + stage2
        if used + cost > training.token_budget and count > 0:
            return count
        used += cost
    return len(rows)


def _batches(n: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, n, size)]


def _train_loop(
    rows: Sequence[_Rows],
    step_loss: Callable[[Sequence[_Rows]], Any],
    parameters: Sequence[Any],
    training: TrainingConfig,
    curve: list[LossPoint],
    on_step: Callable[[int, int, float], None] | None,
    seed: int,
) -> None:
    """``epochs`` passes of AdamW over ``rows`` in shuffled steps of ``batch_size`` pairs."""
    import torch

    optimiser = torch.optim.AdamW(parameters, lr=training.learning_rate, weight_decay=0.0)
    rng = random.Random(seed)
    micro = micro_batch(training.batch_size)
    steps = [
        b for _ in range(training.epochs) for b in _batches(len(rows), training.batch_size, rng)
    ]
    for batch in steps:
        optimiser.zero_grad()
        total = 0.0
        for start in range(0, len(batch), micro):
            chunk = [rows[i] for i in batch[start : start + micro]]
            loss = step_loss(chunk) * (len(chunk) / len(batch))
            loss.backward()
            total += float(loss.detach())
        if total != total:  # NaN
            raise AlignlabError("the CLoud loss became NaN; lower learning_rate")
        optimiser.step()
        curve.append(LossPoint(step=len(curve) + 1, loss=round(total, 6)))
        if on_step is not None:
            on_step(len(curve), -1, total)


def _sft_loss(model: Any, head: Any, pad: int) -> Callable[[Sequence[_Rows]], Any]:
    def loss(chunk: Sequence[_Rows]) -> Any:
        sides = [side for row in chunk for side in (row.chosen, row.rejected)]
        sequences = [s for s, _ in sides]
        _, logits = forward_rewards(model, head, sequences, pad)
        return critique_lm_loss(logits, lm_labels(sequences, [m for _, m in sides]))

    return loss


def _stage2_loss(
    model: Any, head: Any, pad: int, lm_weight: float
) -> Callable[[Sequence[_Rows]], Any]:
    def loss(chunk: Sequence[_Rows]) -> Any:
        sides = [row.chosen for row in chunk] + [row.rejected for row in chunk]
        sequences = [s for s, _ in sides]
        rewards, logits = forward_rewards(model, head, sequences, pad)
        lm = critique_lm_loss(logits, lm_labels(sequences, [m for _, m in sides]))
        return cloud_loss(rewards[: len(chunk)], rewards[len(chunk) :], lm, lm_weight).total

    return loss


def head_margins(model: Any, head: Any, rows: Sequence[_Rows], pad: int) -> tuple[float, float]:
    """(accuracy with ties half, mean margin) of the head, chosen over rejected, no gradients."""
    import torch

    if not rows:
        return 0.0, 0.0
    was_training = model.training
    model.eval()
    margins = []
    try:
        with torch.no_grad():
            for row in rows:
                rewards, _ = forward_rewards(model, head, [row.chosen[0], row.rejected[0]], pad)
                margins.append(float(rewards[0] - rewards[1]))
    finally:
        model.train(was_training)
    accuracy = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(margins)
    return accuracy, sum(margins) / len(margins)


def _cloud_model(weights: Path, training: TrainingConfig) -> tuple[Any, Any]:
    model = lora_model(weights, training)
    head = new_head(int(model.config.hidden_size), training.seed).to(model_device(model))
    return model, head


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """What CLoud says about one response: its critique, then the reward read after it."""

    critique: str
    """The greedy critique the model wrote first."""
    reward: float
    """The head's reward at the critique's last token."""


class CloudScorer:
    """Scores (prompt, response) with a CLoud reward model: greedy critique, then the head."""

    def __init__(
        self, model: Any, head: Any, tokenizer: Any, config: CloudConfig, max_length: int
    ) -> None:
        """Wrap a loaded model and head; lengths as in training."""
        self.model = model
        self.head = head
        self.tokenizer = tokenizer
        self.config = config
        self.max_length = max_length

    def critiques(
        self, prompts: Sequence[Sequence[Message]], responses: Sequence[str]
    ) -> list[str]:
        """The greedy critique of each response."""
        texts, _ = generate_critiques(
            self.model, self.tokenizer, prompts, responses, self.config, self.max_length
        )
        return texts

    def rewards_given(
        self,
        prompts: Sequence[Sequence[Message]],
        responses: Sequence[str],
        critiques: Sequence[str],
    ) -> list[float]:
        """The head's reward of each response after the given critique (no generation)."""
        import torch

        sequences = [
            critique_sequence(
                self.tokenizer, p, r, c, self.max_length, self.config.max_critique_tokens
            )[0]
            for p, r, c in zip(prompts, responses, critiques, strict=True)
        ]
        pad = int(self.tokenizer.pad_token_id)
        self.model.eval()
        out: list[float] = []
        with torch.no_grad():
            for sequence in sequences:
                rewards, _ = forward_rewards(self.model, self.head, [sequence], pad)
                out.append(float(rewards[0]))
        return out

    def judge(
        self, prompts: Sequence[Sequence[Message]], responses: Sequence[str]
    ) -> list[Judgement]:
        """Critique each response (greedy), then read the reward after the critique."""
        critiques = self.critiques(prompts, responses)
        rewards = self.rewards_given(prompts, responses, critiques)
        return [Judgement(c, r) for c, r in zip(critiques, rewards, strict=True)]

    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        """Rewards of ``responses[i]`` as the reply to ``prompts[i]`` (critique first)."""
        return [j.reward for j in self.judge(prompts, responses)]


def load_cloud(
    config: CloudConfig, run_dir: Path, base_weights: Path, training: TrainingConfig
) -> CloudScorer:
    """The trained CLoud reward model in ``run_dir`` on ``base_weights``, ready to score."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignlab.models import compute_device

    tokenizer = AutoTokenizer.from_pretrained(str(base_weights))
    base = AutoModelForCausalLM.from_pretrained(
        str(base_weights), dtype=torch.float32, attn_implementation="sdpa"
    )
    model = PeftModel.from_pretrained(base, str(run_dir))
    head = new_head(int(base.config.hidden_size), training.seed)
    head.load_state_dict(load_file(str(run_dir / HEAD_FILE)))
    device = compute_device()
    if device.type != "cpu":
        model, head = model.to(device), head.to(device)
    model.eval()
    return CloudScorer(model, head, tokenizer, config, training.max_length)


# -- the kind ----------------------------------------------------------------------------


@reward_model(
    config=CloudConfig,
    load=load_cloud,
    source="Ankner et al. 2024, Critique-out-Loud reward models (arXiv:2408.11791)",
)
def cloud(config: CloudConfig, job: RewardJob) -> TrainOutcome:
    """Critique-out-Loud: SFT on oracle critiques, then Bradley-Terry plus critique LM loss."""
    from safetensors.torch import save_file

    training, tokenizer = job.training, job.tokenizer
    if not job.pairs:
        raise AlignlabError("no training pairs were built")
    templates = critique_templates()
    oracle = [(templates.oracle(p, True), templates.oracle(p, False)) for p in job.pairs]
    stage1 = [
        _rows(tokenizer, p, o, training, config) for p, o in zip(job.pairs, oracle, strict=True)
    ]
    kept = _budget_pairs(stage1, training, config)
    pairs, stage1 = list(job.pairs)[:kept], stage1[:kept]
    model, head = _cloud_model(job.base_weights, training)
    pad = int(tokenizer.pad_token_id)
    curve: list[LossPoint] = []
    with restored_threads():
        set_training_threads(training)
        model.train()
        parameters = [p for p in model.parameters() if p.requires_grad]
        _train_loop(
            stage1,
            _sft_loss(model, head, pad),
            parameters,
            training,
            curve,
            job.on_step,
            training.seed,
        )
        tokens = training.epochs * sum(r.tokens for r in stage1)
        prompts = [p.prompt for p in pairs] * 2
        replies = [p.chosen for p in pairs] + [p.rejected for p in pairs]
        critiques, generated = generate_critiques(
            model, tokenizer, prompts, replies, config, training.max_length
        )
        tokens += generated
        own = list(zip(critiques[:kept], critiques[kept:], strict=True))
        stage2 = [_rows(tokenizer, p, c, training, config) for p, c in zip(pairs, own, strict=True)]
        checked = [stage2[i] for i in check_indices(len(stage2), training.seed, CHECK_PAIRS)]
        before = head_margins(model, head, checked, pad)
        _train_loop(
            stage2,
            _stage2_loss(model, head, pad, config.lm_weight),
            [*parameters, *head.parameters()],
            training,
            curve,
            job.on_step,
            training.seed + 1,
        )
        tokens += training.epochs * sum(r.tokens for r in stage2)
        after = head_margins(model, head, checked, pad)
    model.save_pretrained(str(job.out_dir))
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
        str(job.out_dir / HEAD_FILE),
    )
    return TrainOutcome(
        tokens_seen=tokens,
        n_examples=kept,
        dataset_sha256=dataset_sha256([p.example() for p in pairs]),
        loss_curve=curve,
        device=str(model_device(model)),
        learning_check=reward_check(before, after, len(checked)),
    )
