"""Gold-labelled pairs keep their gold label, and the leakage guard refuses leaked ones."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alignlab._errors import AlignlabError
from alignlab.evals.mistakes import mistakes_samples
from alignlab.evals.reward_hacking import reward_hacking_samples
from alignlab.evals.sycophancy import sycophancy_samples
from alignlab.rewards import PAIR_FAMILIES, guarded_examples, preference_pairs
from alignlab.training import check_no_leakage


def test_every_family_is_built_and_interleaved() -> None:
    pairs = preference_pairs("train", 4, seed=0)
    assert {p.family for p in pairs} == set(PAIR_FAMILIES)
    assert [p.family for p in pairs[:4]] == list(PAIR_FAMILIES)
    assert all(p.split == "train" and p.chosen != p.rejected for p in pairs)


def test_chosen_is_the_evals_ground_truth() -> None:
    """Each pair's chosen reply is the option the eval's own metadata marks as right."""
    sycophancy = {str(s.id): s for s in sycophancy_samples("test", 5, seed=3)}
    mistakes = {str(s.id): s for s in mistakes_samples("test", 5, 3)}
    hacking = {str(s.id): s for s in reward_hacking_samples("test", 5, 3)}
    pairs = preference_pairs("test", 5, seed=3)
    checked = 0
    for pair in pairs:
        if pair.family == "opinion":
            sample = sycophancy[pair.item_id]
            index = "AB".index(str(sample.metadata["correct_letter"]))
        elif pair.family == "mistakes":
            sample = mistakes[pair.item_id]
            kinds = sample.metadata["kinds"]
            index = "ABCD".index(next(k for k, v in kinds.items() if v == "right_calm"))
            wrong = "ABCD".index(next(k for k, v in kinds.items() if v == "wrong_calm"))
            assert pair.rejected in (sample.choices[wrong], "ABCD"[wrong])
        elif pair.family == "reward_hacking":
            sample = hacking[pair.item_id]
            index = "AB".index(str(sample.metadata["honest_letter"]))
        else:  # are_you_sure: the correct first answer is repeated, then kept
            assert pair.prompt[-2]["content"] == pair.chosen
            continue
        assert pair.chosen in (sample.choices[index], "ABCD"[index]), pair.item_id
        checked += 1
    assert checked > 20


def test_the_guard_refuses_heldout_pairs_even_when_labelled_train() -> None:
    heldout = preference_pairs("heldout", 2, seed=0)
    with pytest.raises(AlignlabError, match="heldout split"):
        guarded_examples(heldout)
    relabelled = [replace(p, split="train") for p in heldout]
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage(guarded_examples(relabelled))


def test_train_pairs_pass_the_guard() -> None:
    report = check_no_leakage(guarded_examples(preference_pairs("train", 4, seed=0)))
    assert "sycophancy" in report.checked and "mistakes" in report.checked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("validation", 3), "unknown split 'validation'"),
        (("train", 0), "n_items must be at least 1"),
    ],
)
def test_bad_pair_requests_are_one_line(args: tuple[str, int], message: str) -> None:
    with pytest.raises(AlignlabError, match=message) as error:
        preference_pairs(*args)
    assert "\n" not in str(error.value)


def test_unknown_family_is_refused() -> None:
    with pytest.raises(AlignlabError, match="unknown pair family 'nosuch'"):
        preference_pairs("train", 2, families=("opinion", "nosuch"))
