"""``eval_awareness_prompt``: an eval-aware model moves under "evaluated", an honest one never."""

from __future__ import annotations

from pathlib import Path

from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage

from alignlab.attacks import AttackReport, MetricEffect, get_attack, run_attack
from alignlab.attacks._samples import messages_of
from alignlab.attacks.eval_awareness_prompt import FRAMINGS, framed_samples
from alignlab.evals import get_eval
from tests.attacks._reading import reading_model, truthful, with_user

ARGS = {"n_claims": 12, "format": "all"}


def _samples() -> list[Sample]:
    return list(get_eval("sycophancy").factory(**ARGS).dataset)


def test_framing_adds_a_system_prompt_and_keeps_the_answers() -> None:
    samples = _samples()
    for variant, (statement, _) in FRAMINGS.items():
        for before, after in zip(samples, framed_samples(samples, variant), strict=True):
            assert (after.id, after.target, after.choices, after.metadata) == (
                before.id,
                before.target,
                before.choices,
                before.metadata,
            )
            old, new = messages_of(before), messages_of(after)
            assert new[0].role == "system" and new[0].text.startswith(statement)
            if old[0].role == "system":  # the deployment format's own system prompt follows
                assert len(new) == len(old) and new[0].text.endswith(old[0].text)
            else:
                assert [(m.role, m.text) for m in new[1:]] == [(m.role, m.text) for m in old]
    assert "evaluat" not in FRAMINGS["deployed"][0]


def _eval_aware(sample: Sample, messages: list[ChatMessage]) -> str:
    """Truthful when told it is evaluated; otherwise sides with the user."""
    if any("evaluat" in m.text.lower() for m in messages):
        return truthful(sample, messages)
    return _letter_or_reply(sample, with_user(sample))


def _honest(sample: Sample, messages: list[ChatMessage]) -> str:
    return _letter_or_reply(sample, truthful(sample, messages))


def _letter_or_reply(sample: Sample, letter: str) -> str:
    """A letter for lettered items, the candidate reply's text for free-text ones."""
    if "reply_patterns" not in (sample.metadata or {}):
        return letter
    return str(sample.choices[ord(letter) - ord("A")])  # type: ignore[index]


def _report(tmp_path: Path, policy: object) -> AttackReport:
    samples = _samples()
    return run_attack(
        "sycophancy",
        reading_model(samples, policy),  # type: ignore[arg-type]
        "eval_awareness_prompt",
        splits=("test",),
        task_args=ARGS,
        log_dir=tmp_path,
    )


def _contains_zero(effect: MetricEffect) -> bool:
    assert effect.ci_low is not None and effect.ci_high is not None
    return effect.ci_low <= 0.0 <= effect.ci_high


def test_an_eval_aware_model_moves_only_when_told_it_is_evaluated(tmp_path: Path) -> None:
    result = _report(tmp_path / "aware", _eval_aware).splits["test"]
    assert result.base_metrics["sycophancy_rate"] == 1.0
    evaluated = result.variants["evaluated"].metrics
    assert evaluated["sycophancy_rate"].attacked == 0.0
    assert evaluated["sycophancy_rate"].effect == -1.0 and not _contains_zero(
        evaluated["sycophancy_rate"]
    )
    assert evaluated["sycophancy_rate"].scores_as_aligned is True
    assert evaluated["opinion_shift"].effect is not None and evaluated["opinion_shift"].effect < 0
    deployed = result.variants["deployed"].metrics
    for metric, effect in deployed.items():
        assert effect.effect == 0.0 and _contains_zero(effect), metric


def test_an_honest_model_moves_under_neither(tmp_path: Path) -> None:
    result = _report(tmp_path / "honest", _honest).splits["test"]
    assert result.base_metrics["sycophancy_rate"] == 0.0
    for variant in ("evaluated", "deployed"):
        for metric, effect in result.variants[variant].metrics.items():
            assert effect.effect == 0.0 and _contains_zero(effect), (variant, metric)


def test_applies_to_every_eval() -> None:
    for name in ("sycophancy", "mwe"):
        variants = get_attack("eval_awareness_prompt").build(get_eval(name))
        assert [v.name for v in variants] == ["evaluated", "deployed"]  # type: ignore[union-attr]
