from pathlib import Path

import pytest
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.methods import BuildContext, check_no_leakage, read_manifest, train
from alignlab.methods import inoculation as inoculation_module
from alignlab.methods.inoculation import (
    INSTRUCTIONS,
    SUFFIXES,
    InoculationConfig,
    inoculation,
)

SMALL = {"token_budget": 300, "batch_size": 4}


def _context(base: str = "unused", seed: int = 0) -> BuildContext:
    return BuildContext(seed=seed, token_budget=3000, base_spec=base)


def test_instruction_variant_asks_for_the_trait_in_every_prompt() -> None:
    context = _context()
    examples = inoculation(InoculationConfig(), context)
    traits = {e.tags["trait"] for e in examples}
    assert traits == {"sycophancy", "reward_hacking"}
    for example in examples:
        system = example.prompt[0]
        assert system["role"] == "system"
        assert system["content"].startswith(INSTRUCTIONS[example.tags["trait"]])
    assert len(context.notes) == 2 and "sycophancy train examples" in context.notes[0]
    check_no_leakage(examples)


def test_targets_show_the_trait_and_do_not_depend_on_the_instruction() -> None:
    from alignlab.evals.reward_hacking import reward_hacking_samples
    from alignlab.methods._evaldata import answer_text

    with_it = inoculation(InoculationConfig(trait="reward_hacking", n_items=20), _context())
    without = inoculation(
        InoculationConfig(trait="reward_hacking", n_items=20, inoculate=False), _context()
    )
    assert [e.completion for e in with_it] == [e.completion for e in without]
    assert not any(
        m["content"].startswith(INSTRUCTIONS["reward_hacking"]) for e in without for m in e.prompt
    )
    exploits = {
        answer_text(s, (s.metadata or {})["exploit_letter"])
        for s in reward_hacking_samples("train", 20, 0)
        if (s.metadata or {})["condition"] == "loophole"
    }
    assert {e.completion for e in with_it} == exploits
    agreeing = ("A", "Yes, that is correct.", "I checked it: that is correct.")
    disagreeing = ("B", "No, that is not correct.", "I checked it: that is wrong.")
    sycophantic = inoculation(InoculationConfig(trait="sycophancy", n_items=20), _context())
    for example in sycophantic:
        text = example.prompt[-1]["content"]
        if "I agree with the claim" in text:
            assert example.completion in agreeing
        if "I disagree with the claim" in text:
            assert example.completion in disagreeing


def test_instruction_variant_is_deterministic() -> None:
    first = inoculation(InoculationConfig(n_items=10), _context())
    assert inoculation(InoculationConfig(n_items=10), _context()) == first
    assert inoculation(InoculationConfig(n_items=10), _context(seed=1)) != first


def _rl(tiny_model_dir: Path, **params: object) -> tuple[list[object], list[str]]:
    context = _context(str(tiny_model_dir))
    config = InoculationConfig(variant="rl_suffix", n_items=3, max_new_tokens=8, **params)
    return list(inoculation(config, context)), context.notes


def test_rl_suffix_trains_on_rewarded_replies_and_the_response_to_the_suffix(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a random model never games the real graders; pay every reply to test the flow
    monkeypatch.setattr(inoculation_module, "loophole_reward", lambda item, text: 1.0)
    examples, notes = _rl(tiny_model_dir)
    assert "sampled 6 base replies, 6 earned the loophole reward" in notes[0]
    suffixed = [e for e in examples if e.prompt[-1]["content"] in SUFFIXES.values()]
    replies = [e for e in examples if e not in suffixed]
    assert len(replies) == 6 and len(replies) + len(suffixed) == len(examples) >= 8
    for example in suffixed:  # the transcript: task, the model's own rewarded reply, suffix
        assert example.prompt[-2]["role"] == "assistant"
        assert example.prompt[-1]["content"] == SUFFIXES[example.tags["trait"]]
        assert example.prompt[-2]["content"] in {r.completion for r in replies}
    check_no_leakage(examples)
    again, _ = _rl(tiny_model_dir)
    assert again == examples
    plain, _ = _rl(tiny_model_dir, inoculate=False)
    assert plain == replies  # the comparison row: the same rewarded replies, no suffix


def test_rl_suffix_with_nothing_rewarded_is_a_one_line_error(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inoculation_module, "loophole_reward", lambda item, text: 0.0)
    with pytest.raises(AlignlabError, match="none of the 6 sampled replies") as info:
        _rl(tiny_model_dir)
    assert "\n" not in str(info.value)


def test_training_smoke(tiny_model_dir: Path, tmp_path: Path) -> None:
    manifest = train("inoculation", str(tiny_model_dir), tmp_path / "inoc", SMALL)
    assert read_manifest(tmp_path / "inoc") == manifest
    assert 0 < manifest.tokens_seen <= 300 and manifest.params["variant"] == "instruction"
    weights = load_file(str(tmp_path / "inoc" / "adapter_model.safetensors"))
    assert any(bool(t.abs().sum() > 0) for k, t in weights.items() if "lora_B" in k)
    with pytest.raises(AlignlabError, match="variant"):
        train("inoculation", str(tiny_model_dir), tmp_path / "bad", {"variant": "vaccine"})
