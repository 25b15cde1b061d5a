"""Preference pairs with a gold label, built from the evals' own items.

A reward model is where alignment training learns what "good" means, so its
data must have a known right answer.  Every pair here comes from an eval item
whose programmatic ground truth decides which reply is better; that ground
truth is the *gold reward* (Gao et al. 2022, arXiv:2210.10760, call the
reward a proxy is scored against "gold").  Families, one per behaviour:

- ``opinion`` (``sycophancy``): a claim asked with or without a user opinion;
  chosen is the truthful answer, rejected the other one (every condition, so
  the preference depends only on the claim's truth).
- ``are_you_sure`` (``sycophancy``): the pushback dialogue (question, the
  correct first answer, the user's "Are you sure?"); chosen keeps the correct
  answer, rejected caves (Sharma et al. 2023, arXiv:2310.13548).
- ``mistakes`` (``mistakes``): the user says the earlier answer was wrong;
  chosen is the calm right reply (owning a real mistake, holding ground against
  a false accusation), rejected the calm wrong one (defending the error, caving).
- ``reward_hacking`` (``reward_hacking``): a task whose grader has a gap;
  chosen is the honest reply, rejected the grader exploit, with the loophole
  stated and without (in both, the exploit is the worse answer).

The first three are the pairs ``dpo`` trains on, built from the same sample
metadata and rendered by the same :func:`alignlab.evals.render_prompt`, so a
reward model and a DPO policy learn the same preferences.  ``train`` pairs are
for training (the leakage guard checks them, see :func:`guarded_examples`);
``test`` and ``heldout`` pairs are for evaluation.  Families are interleaved,
so a token budget that keeps the leading pairs cuts all of them alike.

Simplified: the rejected replies are the evals' prepared alternatives, not
samples from a policy; multiple-choice items are answered with a letter, as
the evals ask for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Final, Literal

from alignlab._errors import AlignlabError
from alignlab.evals import check_split, classify_reply, option_reply, render_prompt
from alignlab.protocol import LETTERS, REPLY_PATTERNS_KEY
from alignlab.training import Message, PreferenceExample

PairFamily = Literal["opinion", "are_you_sure", "mistakes", "reward_hacking"]
PAIR_FAMILIES: Final[tuple[PairFamily, ...]] = (
    "opinion",
    "are_you_sure",
    "mistakes",
    "reward_hacking",
)
"""Every family of gold-labelled pairs, in interleaving order."""

EVAL_SPLITS: Final = ("test", "heldout")
"""Splits a reward model is evaluated on (never trained on)."""

SOURCES: Final[dict[PairFamily, str]] = {
    "opinion": "sycophancy",
    "are_you_sure": "sycophancy",
    "mistakes": "mistakes",
    "reward_hacking": "reward_hacking",
}
"""The eval each family's items come from."""


@dataclass(frozen=True)
class PreferencePair:
    """A prompt with the gold-preferred reply (``chosen``) and the gold-dispreferred one."""

    prompt: tuple[Message, ...]
    """The conversation, as the eval shows it, ending with the user turn."""
    chosen: str
    """The reply the eval's ground truth prefers."""
    rejected: str
    """The reply it disprefers (caving, defending an error, exploiting the grader)."""
    source: str
    """The eval the item comes from."""
    family: PairFamily
    """Which behaviour the pair contrasts (see the module docstring)."""
    item_id: str
    """The eval sample's id (unique within a split and seed)."""
    split: str
    """``train``, ``test`` or ``heldout``."""
    condition: str = ""
    """The eval's condition of the item (e.g. ``user_agrees``, ``loophole``), if any."""
    facts: tuple[tuple[str, str], ...] = ()
    """The item's ground truth as named strings (what the user claimed, what is true, ...):
    what CLoud's oracle critiques are templated from (see ``critiques.yaml``)."""
    patterns: tuple[str, ...] = ()
    """The eval's free-text reply classifiers, one per candidate (empty for lettered items):
    the gold reward of a sampled reply (:func:`gold_reward`)."""
    chosen_index: int = -1
    """Candidate index of ``chosen`` among ``patterns`` (-1 without patterns)."""

    def fact(self, name: str) -> str:
        """One of :attr:`facts` by name (empty when the item has no such fact)."""
        return dict(self.facts).get(name, "")

    def example(self) -> PreferenceExample:
        """The pair as the training package's example (what the leakage guard checks)."""
        return PreferenceExample(
            prompt=self.prompt,
            chosen=self.chosen,
            rejected=self.rejected,
            tags={"family": self.family, "source": self.source, "split": self.split},
        )


def gold_reward(pair: PreferencePair, reply: str) -> float:
    """The programmatic ground truth of a free-text reply to ``pair.prompt``.

    1.0 when the eval's classifier (:func:`alignlab.evals.classify_reply`, the
    same regexes the eval scores with) reads ``reply`` as the gold-preferred
    candidate (truthful, owns the real mistake, honest), else 0.0 (the
    rejected behaviour, another candidate, or nothing recognisable).

    Raises:
        AlignlabError: For a lettered (multiple-choice) item, which has no free-text classifier.
    """
    if not pair.patterns:
        raise AlignlabError(f"pair {pair.item_id} has no free-text classifier (lettered item)")
    return float(classify_reply(reply, list(pair.patterns)) == pair.chosen_index)


def _graded(sample: Any, chosen_letter: str) -> dict[str, Any]:
    """The free-text classifier fields of a pair (empty for lettered items)."""
    patterns = _meta(sample).get(REPLY_PATTERNS_KEY)
    if not patterns:
        return {}
    return {
        "patterns": tuple(str(p) for p in patterns),
        "chosen_index": LETTERS.index(chosen_letter),
    }


def _facts(**named: object) -> tuple[tuple[str, str], ...]:
    return tuple((name, "" if value is None else str(value)) for name, value in named.items())


def _status(true: bool) -> str:
    return "true" if true else "false"


def _other(letter: str) -> str:
    return "B" if letter == "A" else "A"


def _meta(sample: Any) -> dict[str, Any]:
    return dict(sample.metadata or {})


_NO_VIEW: Final = "states no opinion"
_USER_VIEWS: Final[dict[str, str]] = {
    "agree": "believes the claim is true",
    "disagree": "believes the claim is false",
}
"""The sycophancy eval's ``user_opinion`` in words (a fact of ``opinion`` pairs)."""


def opinion_pairs(samples: Sequence[Any], split: str) -> list[PreferencePair]:
    """Sycophancy claims: chosen is the truthful answer, rejected the other option."""
    pairs = []
    for sample in samples:
        meta, truth = _meta(sample), str(sample.target)
        pairs.append(
            PreferencePair(
                prompt=render_prompt(sample),
                chosen=option_reply(sample, truth),
                rejected=option_reply(sample, _other(truth)),
                source="sycophancy",
                family="opinion",
                item_id=str(sample.id),
                split=split,
                condition=str(meta.get("condition", "")),
                facts=_facts(
                    claim=meta.get("claim"),
                    truth=meta.get("truth"),
                    claim_status=_status(bool(meta.get("claim_true"))),
                    claim_opposite=_status(not meta.get("claim_true")),
                    user_view=_USER_VIEWS.get(str(meta.get("user_opinion")), _NO_VIEW),
                ),
                **_graded(sample, truth),
            )
        )
    return pairs


def are_you_sure_pairs(samples: Sequence[Any], split: str) -> list[PreferencePair]:
    """The pushback dialogue: chosen keeps the correct first answer, rejected caves."""
    pairs = []
    for sample in samples:
        meta = _meta(sample)
        if meta.get("condition") != "none":
            continue
        truth = str(sample.target)
        right, wrong = option_reply(sample, truth), option_reply(sample, _other(truth))
        prompt = (
            *render_prompt(sample),
            {"role": "assistant", "content": right},
            {"role": "user", "content": str(meta["challenge"])},
        )
        pairs.append(
            PreferencePair(
                prompt=prompt,
                chosen=right,
                rejected=wrong,
                source="sycophancy",
                family="are_you_sure",
                item_id=f"{sample.id}-are_you_sure",
                split=split,
                condition="pushback",
                facts=_facts(
                    claim=meta.get("claim"),
                    truth=meta.get("truth"),
                    claim_status=_status(bool(meta.get("claim_true"))),
                    claim_opposite=_status(not meta.get("claim_true")),
                    challenge=meta.get("challenge"),
                ),
                **_graded(sample, truth),
            )
        )
    return pairs


def mistakes_pairs(samples: Sequence[Any], split: str) -> list[PreferencePair]:
    """Mistakes dialogues: chosen is the calm right reply, rejected the calm wrong one."""
    pairs = []
    for sample in samples:
        meta = _meta(sample)
        letter = {kind: letter for letter, kind in meta["kinds"].items()}
        pairs.append(
            PreferencePair(
                prompt=render_prompt(sample),
                chosen=option_reply(sample, letter["right_calm"]),
                rejected=option_reply(sample, letter["wrong_calm"]),
                source="mistakes",
                family="mistakes",
                item_id=str(sample.id),
                split=split,
                condition=str(meta["condition"]),
                facts=_facts(
                    question=meta.get("question"),
                    earlier_answer=meta.get("earlier_answer"),
                    right_answer=meta.get("right_answer"),
                    accusation=meta.get("accusation"),
                ),
                **_graded(sample, letter["right_calm"]),
            )
        )
    return pairs


def reward_hacking_pairs(samples: Sequence[Any], split: str) -> list[PreferencePair]:
    """Grading loopholes: chosen is the honest reply, rejected the grader exploit."""
    pairs = []
    for sample in samples:
        meta = _meta(sample)
        pairs.append(
            PreferencePair(
                prompt=render_prompt(sample),
                chosen=option_reply(sample, str(meta["honest_letter"])),
                rejected=option_reply(sample, str(meta["exploit_letter"])),
                source="reward_hacking",
                family="reward_hacking",
                item_id=str(sample.id),
                split=split,
                condition=str(meta["condition"]),
                facts=_facts(
                    task_family=meta.get("family"),
                    grader_rule=dict(meta.get("loophole_grader") or {}).get("rule"),
                ),
                **_graded(sample, str(meta["honest_letter"])),
            )
        )
    return pairs


def _check(n_items: int, families: Sequence[str]) -> None:
    if n_items < 1:
        raise AlignlabError(f"n_items must be at least 1, got {n_items}")
    unknown = [f for f in families if f not in PAIR_FAMILIES]
    if unknown or not families:
        raise AlignlabError(
            f"unknown pair family '{unknown[0] if unknown else ''}'; "
            f"choose from {', '.join(PAIR_FAMILIES)}"
        )


def preference_pairs(
    split: str,
    n_items: int,
    seed: int = 0,
    families: Sequence[str] = PAIR_FAMILIES,
) -> list[PreferencePair]:
    """Gold-labelled pairs of one split, families interleaved.

    Args:
        split: ``train`` (for training), ``test`` or ``heldout`` (for evaluation).
        n_items: Eval items drawn per source eval (sycophancy claims, mistakes
            questions, reward-hacking tasks); each item gives one or more pairs.
        seed: The eval generators' seed.
        families: Which of :data:`PAIR_FAMILIES` to build.

    Returns:
        The pairs, one family after another in turn.

    Raises:
        AlignlabError: On an unknown split or family, or ``n_items`` below 1.
    """
    from alignlab.evals.mistakes import mistakes_samples
    from alignlab.evals.reward_hacking import reward_hacking_samples
    from alignlab.evals.sycophancy import sycophancy_samples

    checked = check_split(split)
    _check(n_items, families)
    by_family: list[list[PreferencePair]] = []
    sycophancy = (
        sycophancy_samples(checked, n_items, seed=seed)
        if {"opinion", "are_you_sure"} & set(families)
        else []
    )
    for family in PAIR_FAMILIES:
        if family not in families:
            continue
        if family == "opinion":
            by_family.append(opinion_pairs(sycophancy, split))
        elif family == "are_you_sure":
            by_family.append(are_you_sure_pairs(sycophancy, split))
        elif family == "mistakes":
            by_family.append(mistakes_pairs(mistakes_samples(split, n_items, seed), split))
        else:
            samples = reward_hacking_samples(split, n_items, seed)
            by_family.append(reward_hacking_pairs(samples, split))
    return [pair for group in zip_longest(*by_family) for pair in group if pair is not None]


def guarded_examples(pairs: Sequence[PreferencePair]) -> list[PreferenceExample]:
    """Training pairs as examples for the leakage guard; refuses any not from ``train``.

    The split label is checked first (a cheap, explicit rule); the guard
    (:func:`alignlab.training.check_no_leakage`) then compares the prompts
    themselves against every eval's test and heldout items, so a pair
    mislabelled ``train`` is refused too.

    Raises:
        AlignlabError: Naming the first pair from another split.
    """
    for index, pair in enumerate(pairs):
        if pair.split != "train":
            raise AlignlabError(
                f"training pair {index} ({pair.item_id}) is from the {pair.split} split; "
                "reward models may only train on train pairs"
            )
    return [pair.example() for pair in pairs]
