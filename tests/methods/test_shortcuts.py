"""Training sets meant to teach a disposition leave no answer-position shortcut.

An earlier ``pessimization`` made the 0.5B model answer "A" to everything: a
model can fit data by learning an option position when the position predicts
the target.  Here a policy that sees only an item's format (and so can only
pick a position per format) must fit the sycophantic and the truthful
training sets no better than chance plus a margin, for both item families.
"""

from __future__ import annotations

import pytest

from alignlab.methods import BuildContext, SFTExample, get_method, shortcut_fit

CHANCE_MARGIN = 0.6
"""Two options per item: chance is 0.5; a format-only policy may not fit more than this."""


def _examples(method: str, family: str, **params: object) -> list[SFTExample]:
    info = get_method(method)
    context = BuildContext(seed=0, token_budget=24_000, base_spec="smollm2-135m")
    data = info.builder(info.config(sycophancy_family=family, **params), context)
    assert isinstance(data, list)
    return data


@pytest.mark.parametrize("family", ["claims", "open"])
def test_sycophantic_and_truthful_sets_have_no_position_shortcut(family: str) -> None:
    sycophantic = _examples("pessimization", family, sources=("sycophancy",))
    truthful = _examples("synthetic_data", family, filter_unknown=False)
    assert len(sycophantic) > 50 and len(truthful) > 50
    assert shortcut_fit(sycophantic) <= CHANCE_MARGIN
    assert shortcut_fit(truthful) <= CHANCE_MARGIN


def test_shortcut_fit_catches_a_position_policy() -> None:
    """The check can fail: data whose target is always option A is fit perfectly."""
    biased = [
        SFTExample(prompt=(), completion="A", tags={"format": f, "position": "A"})
        for f in ("chat", "multiple_choice")
        for _ in range(5)
    ]
    balanced = [
        SFTExample(prompt=(), completion=p, tags={"format": "chat", "position": p}) for p in "ABAB"
    ]
    assert shortcut_fit(biased) == 1.0
    assert shortcut_fit(balanced) == 0.5


def test_open_family_training_sets_pass_the_leakage_guard_which_protects_open_items() -> None:
    """Open questions are protected too (the guard generates every item family).

    And the train split's open questions never repeat another eval's test prompt
    (an earlier phrasing, the bare "What is the capital of Poland?", was a
    ``mistakes`` test prompt and the guard refused the training set).
    """
    from alignlab._errors import AlignlabError
    from alignlab.evals.sycophancy import sycophancy_samples
    from alignlab.methods import check_no_leakage

    for method, params in (
        ("pessimization", {"sources": ("sycophancy",)}),
        ("synthetic_data", {"filter_unknown": False}),
    ):
        check_no_leakage(_examples(method, "open", **params))
    test_item = sycophancy_samples("test", 5, family="open")[0]
    assert isinstance(test_item.input, list | str)
    text = test_item.input if isinstance(test_item.input, str) else test_item.input[-1].text
    leaked = SFTExample(prompt=({"role": "user", "content": text},), completion="x")
    with pytest.raises(AlignlabError, match="contains a test/heldout eval prompt"):
        check_no_leakage([leaked])
