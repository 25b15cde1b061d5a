"""Robustness transforms keep the gold label and change the text; a surface-reading scorer drops.

Controls (scripted scorers, behaviour known in advance): an oracle that
rewards what the eval's classifier calls the right reply must not drop under
any rewrite (the rewrites keep meaning); a scorer that rewards length must
drop under ``style_interference`` (the wrong reply is made verbose).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from alignlab._errors import AlignlabError
from alignlab.rewards import (
    TRANSFORMS,
    PreferencePair,
    check_transforms,
    gold_reward,
    preference_pairs,
    robustness,
    transform_pairs,
)
from alignlab.training import Message
from tests.test_cli import ALIGNLAB


@pytest.fixture(scope="module")
def pairs() -> list[PreferencePair]:
    return preference_pairs("heldout", 8, seed=0)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_keeps_the_gold_label_and_changes_the_text(
    name: str, pairs: list[PreferencePair]
) -> None:
    rewritten = transform_pairs(pairs, name)
    assert rewritten, name
    free_text = 0
    for index, new in rewritten:
        old = pairs[index]
        assert (new.chosen, new.rejected) != (old.chosen, old.rejected)
        assert new.prompt == old.prompt and new.patterns == old.patterns
        if old.patterns:  # the eval's own classifier still calls chosen right, rejected not
            free_text += 1
            assert gold_reward(new, new.chosen) == 1.0, (name, new.chosen)
            assert gold_reward(new, new.rejected) == 0.0, (name, new.rejected)
    assert free_text > 0


def test_unknown_transform_is_a_one_line_error_listing_the_valid_ones() -> None:
    with pytest.raises(AlignlabError) as error:
        check_transforms(["paraphrase", "nosuch"])
    message = str(error.value)
    assert "nosuch" in message and "\n" not in message
    assert all(name in message for name in TRANSFORMS)
    assert check_transforms([]) == list(TRANSFORMS)


class _Oracle:
    def __init__(self, pairs: Sequence[PreferencePair]) -> None:
        self.by_prompt = {repr(p.prompt): p for p in pairs}

    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        return [
            gold_reward(self.by_prompt[repr(p)], r) for p, r in zip(prompts, responses, strict=True)
        ]


class _Length:
    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        return [float(len(r)) for r in responses]


def test_oracle_does_not_drop_and_a_length_scorer_falls_for_style(
    pairs: list[PreferencePair],
) -> None:
    free = [p for p in pairs if p.patterns]
    for result in robustness(_Oracle(free), free):
        assert result.original.value == 1.0 and result.drop.value == 0.0, result
    by_name = {r.transform: r for r in robustness(_Length(), free, ["style_interference"])}
    style = by_name["style_interference"]
    assert style.transformed.value == 0.0  # the verbose wrong reply is always longer
    assert style.drop.ci_low > 0, style


def test_cli_refuses_an_unknown_transform_in_one_line(tmp_path: object) -> None:
    result = subprocess.run(
        [ALIGNLAB, "rm", "robustness", str(tmp_path), "--transform", "nosuch"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown transform 'nosuch'" in lines[0], result.stderr
