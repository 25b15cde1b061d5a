"""``paraphrase_ensemble`` on scripted models whose sensitivity to the surface is known.

The control pair: a *surface-reading* model that prefers the true statement
with weight 0.9 in plain text but only 0.4 when the prompt has markdown bold
in it, and a *surface-blind* one (0.9 always).  ``paraphrase``'s ``markdown``
rewrite bolds each toy item, so as asked the surface reader flips on every
item; pooled over the phrasings (the bolded prompt's own markdown rewrite
makes it plain again) its answer no longer depends on the bold.  The pooling
is a geometric mean, so a stronger sensitivity than this one would still
win; the module docstring says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model

from alignlab.attacks import harden_eval, run_attack
from alignlab.attacks.paraphrase_ensemble import AS_ASKED, PHRASING_PROBS_KEY, pooled
from tests._scripted import shown_options
from tests.attacks._position_models import register_toy_eval

PLAIN_WEIGHT = 0.9
BOLD_WEIGHT = 0.4


@pytest.fixture
def toy_eval() -> Iterator[str]:
    yield from register_toy_eval()


def surface_model(bold_weight: float) -> Model:
    """Weight ``PLAIN_WEIGHT`` on the true statement, ``bold_weight`` when the prompt has bold."""

    def reply(
        messages: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
    ) -> ModelOutput:
        options = shown_options(messages)
        text = "\n".join(m.text for m in messages if m.role == "user")
        weight = bold_weight if "**" in text else PLAIN_WEIGHT
        probs = [weight if option.endswith("is true") else 1 - weight for option in options]
        index = max(range(len(probs)), key=probs.__getitem__)
        output = ModelOutput.from_content("mockllm/model", "AB"[index])
        output.metadata = {"choice_probs": probs, "choice_index": index}
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=reply)


def test_pooled_is_the_normalised_geometric_mean() -> None:
    true, false = math.sqrt(0.9 * 0.4), math.sqrt(0.1 * 0.6)
    assert pooled([[0.9, 0.1], [0.4, 0.6]]) == pytest.approx(
        [true / (true + false), false / (true + false)]
    )
    assert pooled([[0.5, 0.5]]) == pytest.approx([0.5, 0.5])


def test_the_ensemble_stops_the_markdown_rewrite_moving_a_surface_reader(
    toy_eval: str, tmp_path: Path
) -> None:
    effects = {}
    for name, bold in (("surface", BOLD_WEIGHT), ("blind", PLAIN_WEIGHT)):
        for hardening in (None, "paraphrase_ensemble"):
            report = run_attack(
                toy_eval,
                surface_model(bold),
                "paraphrase",
                splits=("test",),
                log_dir=tmp_path / f"{name}-{hardening}",
                hardening=hardening,
            )
            effects[name, hardening] = (
                report.splits["test"].variants["markdown"].metrics["gold_rate"]
            )
            if hardening is not None:
                log = read_eval_log(report.splits["test"].logs["markdown"])
                assert log.samples
                phrasings = (log.samples[0].output.metadata or {})[PHRASING_PROBS_KEY]
                assert AS_ASKED in phrasings and "markdown" in phrasings
    raw = effects["surface", None]
    assert (raw.base, raw.attacked, raw.effect) == (1.0, 0.0, -1.0)
    hardened = effects["surface", "paraphrase_ensemble"]
    assert (hardened.base, hardened.attacked, hardened.effect) == (1.0, 1.0, 0.0)
    for hardening in (None, "paraphrase_ensemble"):  # the blind model: nothing moves
        blind = effects["blind", hardening]
        assert (blind.base, blind.attacked, blind.effect) == (1.0, 1.0, 0.0)


def test_applies_to_every_built_in_eval() -> None:
    for name in ("sycophancy", "mistakes", "say_do", "reward_hacking", "cot_faithfulness"):
        assert harden_eval(name, "paraphrase_ensemble").solver is not None
