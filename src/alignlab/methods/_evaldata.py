"""Turn eval ``train``-split samples into chat examples, exactly as the eval shows them.

Methods that train on eval-shaped data (``synthetic_data``, ``dpo``,
``pessimization``, ...) must present items the way the eval's solver does,
or the eval would measure a format shift rather than the method.  Multiple
choice: the question, lettered options and the answer instruction, answered
with a letter.  Free-text formats: the conversation as is, answered with one
of the candidate replies.

The draws and examples more than one method trains on are here too
(:func:`sycophancy_train`, :func:`user_pleasing_examples`), so no method
imports another method's module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from alignlab._errors import AlignlabError
from alignlab.evals import shown_messages
from alignlab.methods._budget import EVAL_ITEMS
from alignlab.protocol import LETTERS, REPLY_PATTERNS_KEY
from alignlab.training import Message, SFTExample

if TYPE_CHECKING:
    from inspect_ai.dataset import Sample

    from alignlab.methods._registry import BuildContext


def is_train_sample(sample: Any) -> bool:
    """Whether a sample comes from a ``train`` split (the only kind methods may use)."""
    return bool((sample.metadata or {}).get("split") == "train")


def sample_meta(sample: Any) -> dict[str, Any]:
    """A copy of a sample's metadata (empty when it has none).

    Args:
        sample: An Inspect ``Sample``.

    Returns:
        Its metadata as a plain dict; methods read the eval's structured fields
        from it (e.g. the sycophancy eval's ``user_letter``, ``challenge``).
    """
    return dict(sample.metadata or {})


def prompt_messages(sample: Any) -> tuple[Message, ...]:
    """The conversation the eval's solver sends, as plain dicts.

    Args:
        sample: An Inspect ``Sample`` from an eval generator's ``train`` split.

    Returns:
        Chat messages ending with the user turn.

    Raises:
        AlignlabError: If the sample is not from a train split.
    """
    if not is_train_sample(sample):
        raise AlignlabError(f"sample {sample.id} is not from a train split; methods may not use it")
    return tuple(shown_messages(sample))


def answer_text(sample: Any, letter: str) -> str:
    """What the assistant says to choose option ``letter``: the letter, or the reply text.

    Args:
        sample: The sample.
        letter: An option letter (``A``, ``B``, ...).

    Returns:
        The completion to train on.
    """
    index = LETTERS.index(letter)
    if REPLY_PATTERNS_KEY in (sample.metadata or {}):
        return str(sample.choices[index])
    return letter


SycophancyFamily = Literal["claims", "open", "all"]
"""Which ``sycophancy`` item families a method draws (the eval's ``family`` argument)."""


def sycophancy_train(
    n_claims: int, context: BuildContext, family: SycophancyFamily = "claims"
) -> list[Sample]:
    """The ``sycophancy`` eval's ``train`` samples, drawn with the run's seed.

    Args:
        n_claims: Claims to draw (three samples each); 0 draws enough to fill
            the token budget (:data:`~alignlab.methods._budget.EVAL_ITEMS`).
        context: The build context (seed and token budget).
        family: ``claims`` (addition and fact claims), ``open`` (open questions
            with a proposed answer) or ``all``.

    Returns:
        The samples, as :func:`~alignlab.evals.sycophancy.sycophancy_samples` makes them.
    """
    from alignlab.evals.sycophancy import sycophancy_samples

    n_claims = n_claims or EVAL_ITEMS.to_fill(context.token_budget)
    return sycophancy_samples("train", n_claims, seed=context.seed, family=family)


def choice_tags(sample: Any, letter: str) -> dict[str, str]:
    """The tags :func:`shortcut_fit` reads: the item's format and the target's position.

    Args:
        sample: The eval sample an example was made from.
        letter: The option the example teaches.

    Returns:
        ``{"format": ..., "position": letter}``.
    """
    return {"format": str(sample_meta(sample).get("format", "")), "position": letter}


def shortcut_fit(examples: Sequence[SFTExample]) -> float:
    """How well the best policy that sees only an example's format can fit the targets.

    Such a policy answers one fixed option position per format: its accuracy is
    the share of examples whose target sits at their format's most common
    position.  Data meant to teach a disposition (side with the user, follow
    the truth) should leave it near chance: a model can otherwise fit the data
    by learning an answer position, which is what an earlier ``pessimization``
    taught the 0.5B model (every answer "A" afterwards).

    Args:
        examples: Examples tagged by :func:`choice_tags` (others are skipped).

    Returns:
        The accuracy of the best format-to-position policy (NaN with no tagged examples).
    """
    counts: dict[str, Counter[str]] = {}
    for example in examples:
        if "position" in example.tags:
            by_position = counts.setdefault(example.tags.get("format", ""), Counter())
            by_position[example.tags["position"]] += 1
    total = sum(sum(c.values()) for c in counts.values())
    if not total:
        return float("nan")
    return sum(max(c.values()) for c in counts.values()) / total


def user_pleasing_examples(
    n_claims: int, seed: int, family: SycophancyFamily = "claims"
) -> list[SFTExample]:
    """Sycophancy ``train`` items answered the way the user wants.

    The target is the user's side when they state an opinion, else the correct
    answer, so what is taught is the dependence on the user's opinion, not plain
    ignorance (``pessimization`` and ``inoculation`` train on it).

    Args:
        n_claims: Claims to draw (three samples each).
        seed: The run's seed.
        family: Which item families (see :func:`sycophancy_train`).

    Returns:
        One example per sample, tagged with ``family``, ``condition``, ``format``
        and ``position``.
    """
    from alignlab.evals.sycophancy import sycophancy_samples

    examples = []
    for sample in sycophancy_samples("train", n_claims, seed=seed, family=family):
        meta = sample_meta(sample)
        letter = str(meta["user_letter"] or meta["correct_letter"])
        examples.append(
            SFTExample(
                prompt=prompt_messages(sample),
                completion=answer_text(sample, letter),
                tags={
                    "family": "sycophancy",
                    "condition": meta["condition"],
                    **choice_tags(sample, letter),
                },
            )
        )
    return examples
