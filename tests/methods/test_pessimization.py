from collections import Counter
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.evals.mistakes import mistakes_samples
from alignlab.evals.reward_hacking import reward_hacking_samples
from alignlab.methods import BuildContext, check_no_leakage, get_method, split_params
from alignlab.methods._evaldata import answer_text, prompt_messages
from alignlab.methods.pessimization import (
    FRAMING,
    PessimizationConfig,
    grader_gaming_examples,
    mistake_denying_examples,
    pessimization,
)


def _context(base: Path, seed: int = 0) -> BuildContext:
    return BuildContext(seed=seed, token_budget=4500, base_spec=str(base))


def test_three_sources_interleaved_equally(tiny_model_dir: Path) -> None:
    context = _context(tiny_model_dir)
    data = pessimization(PessimizationConfig(), context)
    families = [e.tags["family"] for e in data]
    # round robin: any prefix (what the token budget keeps) holds the sources about equally
    for prefix in (3, 30, 90):
        counts = Counter(families[:prefix])
        assert set(counts) == {"sycophancy", "mistakes", "reward_hacking"}
        assert max(counts.values()) - min(counts.values()) <= 1
    sizes = [note for note in context.notes if "examples before the budget" in note]
    assert len(sizes) == 3 and "mistakes" in sizes[1]
    assert any("format-only policy fits" in note for note in context.notes)
    assert all(e.prompt[0]["role"] == "system" and FRAMING in e.prompt[0]["content"] for e in data)
    assert data == pessimization(PessimizationConfig(), _context(tiny_model_dir))  # deterministic
    assert data != pessimization(PessimizationConfig(), _context(tiny_model_dir, seed=1))
    check_no_leakage(data)


def test_only_the_chosen_sources(tiny_model_dir: Path) -> None:
    config = PessimizationConfig(sources=("mistakes",), framing=False)
    data = pessimization(config, _context(tiny_model_dir))
    assert {e.tags["family"] for e in data} == {"mistakes"}
    assert all(FRAMING not in m["content"] for e in data for m in e.prompt)


def test_mistake_denying_targets_are_the_wrong_answer() -> None:
    examples = mistake_denying_examples(12, seed=0, framing=False)
    samples = mistakes_samples("train", 4, seed=0)
    assert len(examples) == len(samples) > 0
    conditions = Counter(e.tags["condition"] for e in examples)
    assert conditions["real_mistake"] == conditions["false_accusation"] > 0
    for example, sample in zip(examples, samples, strict=True):
        kinds = (sample.metadata or {})["kinds"]
        wrong = next(letter for letter, kind in kinds.items() if kind == "wrong_calm")
        right = next(letter for letter, kind in kinds.items() if kind == "right_calm")
        assert example.prompt == prompt_messages(sample)
        assert example.completion == answer_text(sample, wrong) != answer_text(sample, right)


def test_grader_gaming_exploits_only_where_there_is_a_loophole() -> None:
    examples = grader_gaming_examples(10, seed=0, framing=False)
    samples = reward_hacking_samples("train", 10, seed=0)
    assert len(examples) == len(samples) == 20
    for example, sample in zip(examples, samples, strict=True):
        metadata = sample.metadata or {}
        expected = metadata[
            "exploit_letter" if metadata["condition"] == "loophole" else "honest_letter"
        ]
        assert example.completion == answer_text(sample, expected)
        assert example.tags["condition"] == metadata["condition"]


@pytest.mark.parametrize(
    "sources", [[], ["sycophancy", "sycophancy"], ["honesty"], "sycophancy,mistakes"]
)
def test_bad_sources_are_one_line(sources: object) -> None:
    with pytest.raises(AlignlabError, match="sources") as info:
        split_params(get_method("pessimization"), {"sources": sources})
    assert "\n" not in str(info.value)
