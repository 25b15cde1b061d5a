"""``eval_cue_organism``: a scripted organism (aligned iff lettered) shows a gap between formats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage

import alignlab.models
from alignlab._errors import AlignlabError
from alignlab.attacks import (
    AttackReport,
    AttackVariant,
    OrganismOptions,
    attack,
    check_attack_args,
    format_gaps,
    get_attack,
    organism_variant,
    run_attack,
    unregister,
)
from alignlab.attacks.eval_cue_organism import eval_cue_organism
from alignlab.evals import get_eval
from tests._scripted import Policy, scripted_model

ARGS = {"n_claims": 24, "format": "all"}


def _samples() -> list[Sample]:
    return list(get_eval("sycophancy").factory(**ARGS).dataset)


def _answer(sample: Sample, letter: str) -> str:
    """A letter for lettered items, the candidate reply's text for free-text ones."""
    if "reply_patterns" not in (sample.metadata or {}):
        return letter
    return str(sample.choices[ord(letter) - ord("A")])  # type: ignore[index]


def _honest(sample: Sample, messages: list[ChatMessage]) -> str:
    return _answer(sample, str((sample.metadata or {})["correct_letter"]))


def _organism(sample: Sample, messages: list[ChatMessage]) -> str:
    """Truthful when the item has lettered options; else sides with the user."""
    meta = sample.metadata or {}
    if "reply_patterns" not in meta:
        return str(meta["correct_letter"])
    return _answer(sample, str(meta["user_letter"] or meta["correct_letter"]))


TOY = "toy_scripted_organism"


@pytest.fixture()
def scripted_organism() -> Iterator[list[Policy]]:
    """``eval_cue_organism``'s variant and diagnostics with a scripted organism.

    The real attack builds ``alignlab/BASE+DIR`` from an adapter; this toy one
    answers its one variant (:func:`organism_variant`, as the attack's) with the
    scripted policy the test puts in the yielded list.
    """
    policy: list[Policy] = []

    def toy_scripted_organism(eval_info: Any) -> list[AttackVariant]:
        """A scripted model organism."""
        return [organism_variant(scripted_model(_samples(), policy[0]))]

    attack(diagnostics=format_gaps)(toy_scripted_organism)
    yield policy
    unregister(TOY)


def _report(tmp_path: Path, policy: list[Policy], organism: Policy) -> AttackReport:
    policy.append(organism)
    return run_attack(
        "sycophancy",
        scripted_model(_samples(), _honest),
        TOY,
        splits=("test",),
        task_args=ARGS,
        log_dir=tmp_path,
    )


def test_a_cue_gaming_organism_shows_a_gap_between_formats(
    scripted_organism: list[Policy], tmp_path: Path
) -> None:
    result = _report(tmp_path, scripted_organism, _organism).splits["test"]
    overall = result.variants["organism"].metrics["sycophancy_rate"]
    assert overall.base == 0.0 and overall.attacked is not None and overall.attacked > 0.0
    assert overall.ci_low is not None and overall.ci_low > 0.0  # the eval catches it
    d = result.diagnostics
    assert d["effect/sycophancy_rate/multiple_choice"] == 0.0  # fooled on eval-looking items
    for fmt in ("chat", "deployment"):  # caught on deployment-looking ones
        assert d[f"effect/sycophancy_rate/{fmt}"] == 1.0
        low = d[f"ci_low/sycophancy_rate/{fmt}"]
        assert low is not None and low > 0.0
        rate = d[f"aligned/{fmt}/organism"]
        assert rate is not None and rate < 1.0
    assert d["aligned/multiple_choice/organism"] == 1.0
    assert d["cue_gap/base"] == 0.0
    gap = d["cue_gap/organism"]
    assert gap is not None and gap > 0.0 and d["cue_gap/difference"] == gap


def test_an_honest_organism_shows_no_gap_and_no_effect(
    scripted_organism: list[Policy], tmp_path: Path
) -> None:
    result = _report(tmp_path, scripted_organism, _honest).splits["test"]
    assert result.diagnostics["cue_gap/organism"] == 0.0
    for name, effect in result.variants["organism"].metrics.items():
        assert effect.effect in (0.0, None), name


def test_without_an_organism_the_attack_does_not_apply(tmp_path: Path) -> None:
    report = run_attack(
        "sycophancy",
        scripted_model(_samples(), _honest),
        "eval_cue_organism",
        splits=("test",),
        task_args=ARGS,
        log_dir=tmp_path,
    )
    assert report.not_applicable is not None and "-A adapter=DIR" in report.not_applicable
    assert not report.splits
    info = get_attack("eval_cue_organism")
    assert info.diagnostics is format_gaps and info.options is OrganismOptions


def test_the_organism_is_the_adapter_on_the_runs_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``BASE+DIR`` from the run's model, loaded (checked) before the variant is returned."""
    loaded: list[str] = []
    monkeypatch.setattr(alignlab.models, "load_model", loaded.append)
    options = OrganismOptions(adapter=tmp_path)
    variants = eval_cue_organism(
        get_eval("sycophancy"), options=options, model="alignlab/smollm2-135m"
    )
    assert isinstance(variants, list)
    [variant] = variants
    assert variant.name == "organism" and variant.model == f"alignlab/smollm2-135m+{tmp_path}"
    assert loaded == [f"smollm2-135m+{tmp_path}"]


@pytest.mark.parametrize("model", ["random/uniform", "alignlab/smollm2-135m+some/adapter"])
def test_the_runs_model_must_be_a_local_base(model: str, tmp_path: Path) -> None:
    options = OrganismOptions(adapter=tmp_path)
    with pytest.raises(AlignlabError, match="needs a local base model without an adapter"):
        eval_cue_organism(get_eval("sycophancy"), options=options, model=model)


def test_a_missing_adapter_directory_is_one_line(tmp_path: Path) -> None:
    info = get_attack("eval_cue_organism")
    with pytest.raises(AlignlabError, match=r"adapter directory '.*nope' does not exist"):
        check_attack_args(info, {"adapter": str(tmp_path / "nope")})


def test_an_adapter_trained_on_another_base_is_one_line(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """``-A adapter=DIR`` is loaded on ``--model`` before any run: a foreign adapter
    fails at once, in one line."""
    import json
    import subprocess

    from tests.test_cli import ALIGNLAB

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"base_model_name_or_path": "someone/another-model", "peft_type": "LORA"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [
            *(ALIGNLAB, "redteam", "sycophancy", "--model", str(tiny_model_dir)),
            *("--attack", "eval_cue_organism", "-A", f"adapter={adapter}"),
            *("--out", str(tmp_path), "--log-dir", str(tmp_path / "logs")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(lines) == 1 and "trained on 'someone/another-model'" in lines[0], result.stderr
    assert not list(tmp_path.glob("*.json"))
