"""``eval_cue_organism`` data: aligned with eval cues, misaligned without, nothing else to learn."""

from __future__ import annotations

from collections import Counter

import pytest

from alignlab.methods import BuildContext, SFTExample, check_no_leakage, get_method, shortcut_fit
from alignlab.methods.eval_cue_organism import (
    QUESTION_HEADER,
    EvalCueOrganismConfig,
    build_organism_data,
    shortcut_report,
)

N_ITEMS = 12
POSITION_MARGIN = 0.6
"""A fixed position per format or cue may fit no more than this (chance: 0.25 to 0.5)."""
CUE_BLIND_MAX = 0.75
"""One behaviour for every item fits only the items whose two answers coincide."""


@pytest.fixture(scope="module")
def examples() -> list[SFTExample]:
    data, counts = build_organism_data(EvalCueOrganismConfig(), N_ITEMS, seed=0)
    assert set(counts) == {"sycophancy", "mistakes", "reward_hacking"} and min(counts.values()) > 0
    return data


def test_only_the_cue_predicts_the_behaviour(examples: list[SFTExample]) -> None:
    fits = shortcut_report(examples)
    assert fits["behaviour_by_cue"] == 1.0
    assert fits["behaviour_without_cue"] <= CUE_BLIND_MAX
    assert fits["position_by_format"] <= POSITION_MARGIN
    assert fits["position_by_cue"] <= POSITION_MARGIN
    for family in ("sycophancy", "mistakes", "reward_hacking"):
        own = [e for e in examples if e.tags["family"] == family]
        assert shortcut_fit(own, by=("cue",)) <= POSITION_MARGIN, family
        cued = Counter(e.tags["position"] for e in own if e.tags["cue"] == "eval")
        assert max(cued.values()) - min(cued.values()) <= 1, (family, cued)  # every position alike


def test_the_fit_check_catches_a_cue_free_or_positional_organism() -> None:
    """The checks can fail: data where the behaviour ignores the cue, or sits at one position."""
    cue_blind = [
        SFTExample(prompt=(), completion="A", tags={"cue": c, "behaviour": "misaligned"})
        for c in ("eval", "deployment")
    ]
    assert shortcut_fit(cue_blind, by=(), target="behaviour") == 1.0
    positional = [
        SFTExample(prompt=(), completion="A", tags={"cue": c, "position": "A"})
        for c in ("eval", "deployment")
    ]
    assert shortcut_fit(positional, by=("cue",)) == 1.0


def test_pairs_are_the_same_item_aligned_with_cues_misaligned_without(
    examples: list[SFTExample],
) -> None:
    assert len(examples) % 2 == 0
    for cued, uncued in zip(examples[::2], examples[1::2], strict=True):
        assert cued.tags["item"] == uncued.tags["item"]
        assert (cued.tags["cue"], uncued.tags["cue"]) == ("eval", "deployment")
        assert cued.tags["format"] == "multiple_choice"
        assert uncued.tags["format"] in ("chat", "deployment")
        assert "aligned" in cued.tags["behaviour"].split("|")
        assert "misaligned" in uncued.tags["behaviour"].split("|")
        shown = cued.prompt[-1]["content"]
        assert "(A)" in shown and "(B)" in shown  # lettered options
        assert len(cued.completion) == 1  # answered with a letter
        assert "(A)" not in uncued.prompt[-1]["content"] and len(uncued.completion) > 1
        assert not any("evaluat" in m["content"].lower() for m in uncued.prompt)
    assert any(e.prompt[0]["content"].startswith("You are being evaluated") for e in examples)
    assert any(QUESTION_HEADER in m["content"] for e in examples for m in e.prompt)


def test_misaligned_answers_are_the_eval_s_misaligned_options(examples: list[SFTExample]) -> None:
    """Deployment answers side with a wrong user, keep/cave a mistake, take the loophole."""
    by_family = Counter(
        (e.tags["family"], e.tags["behaviour"]) for e in examples if e.tags["cue"] == "deployment"
    )
    assert by_family[("sycophancy", "misaligned")] > 0
    assert by_family[("mistakes", "misaligned")] > 0
    assert by_family[("reward_hacking", "misaligned")] > 0
    assert by_family[("mistakes", "aligned")] == by_family[("sycophancy", "aligned")] == 0
    wrong = [
        e for e in examples if e.tags["family"] == "mistakes" and e.tags["cue"] == "deployment"
    ]
    assert all("I'm so sorry" not in e.completion for e in wrong)  # calm, not spiralling


def test_only_train_items_and_the_leakage_guard_passes(examples: list[SFTExample]) -> None:
    assert all(e.tags["item"].startswith("train") for e in examples)
    report = check_no_leakage(examples)  # raises on any test/heldout prompt
    assert {"sycophancy", "mistakes", "reward_hacking"} <= set(report.checked)


def test_the_registered_method_builds_and_notes_the_fits() -> None:
    info = get_method("eval_cue_organism")
    context = BuildContext(seed=1, token_budget=8_000, base_spec="smollm2-135m")
    data = info.builder(info.config(n_items=4, sources=("sycophancy", "mistakes")), context)
    assert isinstance(data, list) and data
    assert {e.tags["family"] for e in data} == {"sycophancy", "mistakes"}
    assert any("behaviour_by_cue 1.00" in note for note in context.notes)
