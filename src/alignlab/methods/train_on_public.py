"""``train_on_public``: SFT on an eval's own ``test`` items (contamination, on purpose).

A model that has seen an eval's items can score well on them without the
disposition they test: a 13B model trained on rephrased MMLU test items reached
85.9 undetected by n-gram checks (Yang et al. 2023, arXiv:2311.04850).  This
method makes such a model on purpose, so the ``train_on_public`` attack
(:mod:`alignlab.attacks.train_on_public`) can measure the eval's *overfitting
gap*: how much more the model gains on the items it saw (``test``) than on
items it did not (``heldout``).  A small gap says the eval's heldout split
catches a contaminated model; a large one says its test scores reward memory.

This is the one method the leakage guard lets train on protected items
(:data:`alignlab.training.CONTAMINATION_METHODS`), and only with
``i_know_this_contaminates=true``; without it the request fails in one line
before any work.  The exemption covers the named eval's ``test`` split only
(every other eval and split stays refused), and the manifest records it as
``contaminated_with: {eval, split, n_items}``.

Data: every item of the split, exactly as the eval shows it
(:func:`alignlab.evals.render_prompt`), answered with its target option (the
aligned answer), at the eval's default task arguments (the items ``alignlab
eval`` and ``alignlab redteam`` score by default).  ``epochs`` repeats them.

Simplified: the items are trained verbatim, not rephrased (arXiv:2311.04850's
harder-to-detect variant); only the answer tokens carry loss (the SFT kind's
rule), so the item text itself is not memorised as pretraining contamination
would be.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from alignlab._errors import AlignlabError
from alignlab.evals import get_eval, option_reply, render_prompt
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, method
from alignlab.training import SFTExample

CONTAMINATED_SPLIT: Final = "test"
"""The split trained on: the one the eval's headline numbers come from."""
FLAG = "i_know_this_contaminates"
"""The parameter the user must set to true."""


class TrainOnPublicConfig(MethodConfig):
    """Parameters of ``train_on_public``."""

    eval_name: str = Field(min_length=1)
    """The eval whose test items are trained on (e.g. ``sycophancy``)."""
    split: Literal["test"] = CONTAMINATED_SPLIT
    """The split trained on (only ``test``: ``heldout`` stays clean to measure the gap)."""
    n_items: int = Field(default=0, ge=0)
    """Train on the first N items only (0: every item of the split)."""
    i_know_this_contaminates: bool = Field(default=False, validate_default=True)
    """Must be true: the adapter's scores on this split then mean nothing."""

    @field_validator("i_know_this_contaminates")
    @classmethod
    def _acknowledged(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "train_on_public trains on an eval's test items and bypasses the leakage "
                f"guard; set {FLAG}=true to do it knowingly"
            )
        return value

    @field_validator("eval_name")
    @classmethod
    def _known_eval(cls, value: str) -> str:
        try:
            info = get_eval(value)
        except AlignlabError as exc:
            raise ValueError(str(exc)) from None
        if info.external_data:
            raise ValueError(f"eval '{value}' reads a user's file; it has no items to train on")
        return value


@method(
    config=TrainOnPublicConfig,
    kind="sft",
    source="contamination attack (Yang et al. 2023, arXiv:2311.04850; issue 13)",
)
def train_on_public(config: TrainOnPublicConfig, context: BuildContext) -> list[SFTExample]:
    """SFT on an eval's test items with their aligned answers (contamination, flagged)."""
    info = get_eval(config.eval_name)
    samples = list(info.factory(split=config.split).dataset)
    if config.n_items:
        samples = samples[: config.n_items]
    examples = [
        SFTExample(
            prompt=render_prompt(sample),
            completion=option_reply(sample, str(sample.target)),
            tags={"eval": info.name, "split": config.split},
        )
        for sample in samples
        if isinstance(sample.target, str) and sample.target
    ]
    context.declare_contamination(
        info.name, config.split, len(examples), acknowledged=config.i_know_this_contaminates
    )
    context.notes.append(
        f"contaminated: {len(examples)} {info.name}/{config.split} items trained on knowingly"
    )
    return examples
