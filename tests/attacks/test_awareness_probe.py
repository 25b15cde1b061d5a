"""The eval-awareness probe: prompts drawn from the evals, labels wired to them, the report.

The wiring is checked with a *scripted recorder* whose activations are known in
advance: one layer encodes whether the prompt has a system turn (the
deployment format's mark), another is noise.  The probe must find the first
on held-out phrasings and stay at chance on the second.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import alignlab.models
from alignlab._errors import AlignlabError
from alignlab.attacks import (
    ProbeReport,
    check_probe_evals,
    eval_awareness_probe,
    format_prompts,
    write_probe_report,
)
from alignlab.cli import app
from alignlab.evals import get_eval, opening_messages, shown_messages
from alignlab.models import Activations, check_layers
from alignlab.protocol import MULTIPLE_CHOICE_TEMPLATE

INSTRUCTION = MULTIPLE_CHOICE_TEMPLATE.rsplit("\n", 1)[-1]


def test_prompts_are_what_the_solver_sends_one_per_item() -> None:
    lettered = format_prompts("sycophancy", "train", "multiple_choice", 6)
    deployed = format_prompts("sycophancy", "train", "deployment", 6)
    assert len(lettered) == len(deployed) == 6
    assert all(len(p) == 1 and p[0]["content"].endswith(INSTRUCTION) for p in lettered)
    assert all("(A) Agree" in p[0]["content"] for p in lettered)
    assert all([m["role"] for m in p] == ["system", "user"] for p in deployed)
    assert all(INSTRUCTION not in p[-1]["content"] for p in deployed)
    assert len({p[0]["content"] for p in lettered}) == 6  # one prompt per item, no repeats
    # the item's conditions rotate: the user states an opinion in some prompts, not all
    opinions = ["agree" in p[0]["content"].split("Do you agree")[0].lower() for p in lettered]
    assert any(opinions) and not all(opinions)
    heldout = format_prompts("sycophancy", "heldout", "deployment", 6)
    assert {p[0]["content"] for p in heldout}.isdisjoint({p[0]["content"] for p in deployed})


def test_an_eval_with_its_own_solver_is_shown_as_written() -> None:
    """cot_faithfulness asks for reasoning on the question as written: no options appended."""
    task = get_eval("cot_faithfulness").factory(split="train", format="multiple_choice", n_items=1)
    sample = task.dataset[0]
    assert opening_messages(task, sample) == [{"role": "user", "content": sample.input}]
    choice_task = get_eval("sycophancy").factory(
        split="train", format="multiple_choice", n_claims=1
    )
    lettered = choice_task.dataset[0]
    assert opening_messages(choice_task, lettered) == shown_messages(lettered)
    assert shown_messages(lettered)[0]["content"].endswith(INSTRUCTION)


def test_evals_the_probe_cannot_use_are_refused_in_one_line() -> None:
    with pytest.raises(AlignlabError, match="unknown eval 'nosuch'; known evals: "):
        check_probe_evals(["nosuch"])
    with pytest.raises(AlignlabError, match="eval 'mwe' reads a user's file"):
        check_probe_evals(["mwe"])
    with pytest.raises(AlignlabError, match="format 'chat' cannot be in both classes"):
        check_probe_evals(["sycophancy"], ("chat",), ("chat", "deployment"))
    with pytest.raises(AlignlabError, match="has no format 'essay'"):
        check_probe_evals(["sycophancy"], ("essay",))
    with pytest.raises(AlignlabError, match="no evals"):
        check_probe_evals([])
    with pytest.raises(AlignlabError, match="not a local model"):
        eval_awareness_probe("openai/gpt-4o-mini")


def _noise(prompt: Sequence[dict[str, str]]) -> np.ndarray:
    """Noise of one prompt, seeded by its text (a train and a test prompt differ)."""
    seed = zlib.crc32("\n".join(m["content"] for m in prompt).encode())
    return np.random.default_rng(seed).normal(size=(2, 8)).astype(np.float32)


def _scripted_recorder(
    model: Any, tokenizer: Any, prompts: Sequence[Any], layers: Sequence[int] | None = None
) -> Activations:
    """Layer 0 encodes 'has a system turn' (plus noise); layer 1 is noise only."""
    wanted = check_layers(layers, 2)
    deployed = np.array([float(p[0]["role"] == "system") for p in prompts])
    states = np.stack([_noise(prompt) for prompt in prompts])
    states[:, 0, 0] += 4.0 * deployed
    chosen = states[:, list(wanted)]
    return Activations(
        layers=wanted, last=chosen, mean=chosen.copy(), n_tokens=tuple([1] * len(prompts))
    )


def test_the_probe_finds_a_planted_signal_and_not_noise(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alignlab.models, "record_residual_stream", _scripted_recorder)
    report = eval_awareness_probe(str(tiny_model_dir), ["sycophancy"], n_items=20)
    assert (report.n_train, report.n_test, report.chance) == (40, 40, 0.5)
    signal, noise = report.positions["last"]
    assert signal.heldout.accuracy >= 0.95
    assert signal.control_heldout.high < signal.heldout.accuracy
    assert noise.heldout.ci_low <= 0.5 <= noise.heldout.ci_high
    assert noise.train_accuracy < 1.0  # 8 noise features cannot fit 40 labels


def test_a_real_run_on_the_tiny_model_writes_a_versioned_report(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    report = eval_awareness_probe(str(tiny_model_dir), ["sycophancy"], n_items=10, layers=[0, 1])
    assert report.version == 1 and report.hidden_size == 64 and report.n_layers == 2
    assert set(report.positions) == {"last", "mean"}
    assert [row.layer for row in report.positions["mean"]] == [0, 1]
    # a random model still sees different tokens: averaged over the prompt, the
    # formats' tokens (options and instruction vs a system prompt) separate them
    assert report.positions["mean"][0].heldout.accuracy >= 0.8
    path = tmp_path / "probe.json"
    write_probe_report(report, path)
    assert ProbeReport.model_validate_json(path.read_text()) == report
    with pytest.raises(AlignlabError, match="layer 2 is out of range"):
        eval_awareness_probe(str(tiny_model_dir), ["sycophancy"], n_items=2, layers=[2])


def test_cli_prints_accuracy_per_layer_and_writes_the_report(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "probe" / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "probe",
            "eval-awareness",
            "--model",
            str(tiny_model_dir),
            "--limit",
            "4",
            "--layer",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and "controls" in result.output
    written = json.loads(out.read_text())
    assert written["version"] == 1 and written["n_train"] == 8
    assert [row["layer"] for row in written["positions"]["last"]] == [1]
    # bad input (unknown eval, layer out of range, API model): tests/test_cli_bad_input.py


@pytest.mark.integration
def test_smollm2_end_to_end(smollm2_dir: Path) -> None:
    report = eval_awareness_probe("smollm2-135m", ["sycophancy"], n_items=4)
    assert report.n_layers == 30 and report.hidden_size == 576
    assert len(report.positions["last"]) == 30 and report.n_test == 8
    for rows in report.positions.values():
        for row in rows:
            assert 0.0 <= row.heldout.ci_low <= row.heldout.accuracy <= row.heldout.ci_high <= 1.0
