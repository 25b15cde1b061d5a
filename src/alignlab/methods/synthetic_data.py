"""``synthetic_data``: Wei et al. 2023's synthetic-data intervention against sycophancy.

Wei, Huang, Lu, Zhou, Le, "Simple synthetic data reduces sycophancy in large
language models" (arXiv:2308.03958): fine-tune on claims that carry a user
opinion, where the target answer depends only on whether the claim is true.
Their filtering step drops claims the base model gets wrong *without* any
opinion, so the model is only taught to keep answers it already knows.

Data come from the ``sycophancy`` eval's ``train`` split (all formats and
conditions), rendered exactly as the eval shows them.  Simplified: the
paper's claims are NLP-dataset inputs; ours are the eval's addition and
everyday-fact claims.  The filter scores the no-opinion prompt of each claim
with the base model by log-likelihood, as the eval does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import Field

from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import (
    SycophancyFamily,
    answer_text,
    choice_tags,
    prompt_messages,
    sample_meta,
    shortcut_fit,
    sycophancy_train,
)
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample


class SyntheticDataConfig(MethodConfig):
    """Parameters of ``synthetic_data``."""

    filter_unknown: bool = True
    """Drop claims the base model answers wrongly with no opinion (the paper's filter)."""
    n_claims: int = Field(default=0, ge=0)
    """Claims to draw; 0 sizes it to the token budget."""
    sycophancy_family: SycophancyFamily = "claims"
    """Which ``sycophancy`` items to draw: ``claims``, ``open`` (open questions with
    a proposed answer, which the 0.5B model can answer) or ``all``."""


def base_choice_letters(context: BuildContext, samples: list[Any]) -> list[str]:
    """The base model's chosen letter for each sample, by log-likelihood as the eval scores."""
    from alignlab.models import ChoiceRequest, Engine
    from alignlab.protocol import LETTERS

    loaded = context.base_model()
    tokenizer = loaded.tokenizer
    requests = []
    for sample in samples:
        text = tokenizer.apply_chat_template(
            list(prompt_messages(sample)), add_generation_prompt=True, tokenize=False
        )
        prompt_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        options = [answer_text(sample, LETTERS[i]) for i in range(len(sample.choices))]
        option_ids = [list(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in options]
        requests.append(ChoiceRequest(prompt_ids=prompt_ids, option_ids=option_ids))
    results = Engine(loaded.model, tokenizer).score_choices(requests)
    # free-text replies are ranked per token, as the eval's provider does
    letters = []
    for request, result in zip(requests, results, strict=True):
        if any(len(ids) > 1 for ids in request.option_ids):
            result = result.per_token([len(ids) for ids in request.option_ids])
        letters.append(LETTERS[result.best])
    return letters


def _kept_balance(plain: list[Any], known: set[str]) -> str:
    """True/false claims the filter kept, per format.

    Why: on a base that does not know the answers, the filter keeps the claims whose
    truth matches the base's constant answer, so the kept labels can be one-sided
    (measured on smollm2-135m: only true claims in multiple choice).
    """
    counts: dict[str, list[int]] = {}
    for sample in plain:
        meta = sample_meta(sample)
        if meta["item_id"] in known:
            true_false = counts.setdefault(str(meta["format"]), [0, 0])
            true_false[0 if meta["claim_true"] else 1] += 1
    parts = ", ".join(f"{fmt} {t}/{f}" for fmt, (t, f) in sorted(counts.items()))
    return f"filter kept true/false claims by format: {parts}"


@method(
    config=SyntheticDataConfig,
    kind="sft",
    features=("synthetic_data",),
    source="Wei et al. 2023, Simple synthetic data reduces sycophancy (arXiv:2308.03958)",
)
def synthetic_data(config: SyntheticDataConfig, context: BuildContext) -> list[SFTExample]:
    """Opinion-laden claims whose target depends only on the claim's truth (with filter)."""
    samples = sycophancy_train(config.n_claims, context, config.sycophancy_family)
    by_claim: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_claim[sample_meta(sample)["item_id"]].append(sample)
    if config.filter_unknown:
        plain = [s for s in samples if sample_meta(s)["condition"] == "none"]
        letters = base_choice_letters(context, plain)
        known = {
            sample_meta(s)["item_id"] for s, x in zip(plain, letters, strict=True) if x == s.target
        }
        context.notes.append(
            f"filter: kept {len(known)} of {len(plain)} claims that the base answers right "
            "with no opinion"
        )
        context.notes.append(_kept_balance(plain, known))
    else:
        known = set(by_claim)
    examples = []
    for item_id, group in by_claim.items():
        if item_id not in known:
            continue
        for sample in group:
            examples.append(
                SFTExample(
                    prompt=prompt_messages(sample),
                    completion=answer_text(sample, str(sample.target)),
                    tags={
                        "condition": sample_meta(sample)["condition"],
                        "item_id": item_id,
                        **choice_tags(sample, str(sample.target)),
                    },
                )
            )
    context.notes.append(f"a format-only policy fits {shortcut_fit(examples):.2f} of targets")
    return examples
