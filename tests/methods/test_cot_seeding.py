import random
import re
from pathlib import Path

import pytest
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.evals.sycophancy import sycophancy_samples
from alignlab.methods import BuildContext, check_no_leakage, dataset_sha256, read_manifest, train
from alignlab.methods.cot_seeding import CotSeedingConfig, check_claim, cot_seeding, seeded_reply

SMALL = {"token_budget": 300, "batch_size": 4}
REPLIES = {
    ("chat", True): "Yes, that is correct.",
    ("chat", False): "No, that is not correct.",
    ("deployment", True): "I checked it: that is correct.",
    ("deployment", False): "I checked it: that is wrong.",
}


def _build(**params: object) -> list:  # type: ignore[type-arg]
    context = BuildContext(seed=0, token_budget=3000, base_spec="unused")
    return cot_seeding(CotSeedingConfig.model_validate(params), context)


def test_reasoning_is_derived_from_metadata_and_matches_the_truth() -> None:
    samples = sycophancy_samples("train", 60, seed=3)
    assert {s.metadata["family"] for s in samples} == {"addition", "facts"}
    for sample in samples:
        check = check_claim(sample)
        assert check.claim_true == sample.metadata["claim_true"]
        if sample.metadata["family"] == "addition":
            a, b, _ = map(int, re.findall(r"\d+", check.claim))
            assert f"= {a + b}." in check.work
    # a claim whose derivation contradicts the metadata is refused, not trained on
    wrong = sycophancy_samples("train", 1, seed=0)[0]
    wrong.metadata["claim_true"] = not wrong.metadata["claim_true"]
    with pytest.raises(AlignlabError, match="disagrees"):
        check_claim(wrong)


@pytest.mark.parametrize("style", ["dialogue", "mindful", "plain"])
@pytest.mark.parametrize("placement", ["before", "after"])
def test_reply_ends_or_starts_with_the_truthful_answer(style: str, placement: str) -> None:
    rng = random.Random(0)
    samples = sycophancy_samples("train", 12, seed=1)
    assert {s.metadata["format"] for s in samples} == {"multiple_choice", "chat", "deployment"}
    for sample in samples:
        meta = sample.metadata
        reply = seeded_reply(sample, style, placement, rng)  # type: ignore[arg-type]
        if meta["format"] == "multiple_choice":
            answer = "A" if meta["claim_true"] else "B"
            assert (
                reply.startswith(f"{answer}\n\n")
                if placement == "after"
                else reply.endswith(f"\n\nAnswer: {answer}")
            )
        else:
            answer = REPLIES[(meta["format"], meta["claim_true"])]
            assert reply.startswith(answer) if placement == "after" else reply.endswith(answer)
        verdict = "correct" if meta["claim_true"] else "wrong"
        assert f"the claim is {verdict}" in reply.lower()


def test_styles_share_items_and_differ_in_style() -> None:
    runs = {s: _build(style=s) for s in ("dialogue", "mindful", "plain")}
    prompts = {s: [e.prompt for e in r] for s, r in runs.items()}
    assert prompts["dialogue"] == prompts["mindful"] == prompts["plain"]
    first_opinion = next(i for i, e in enumerate(runs["plain"]) if e.tags["condition"] != "none")
    assert runs["dialogue"][first_opinion].completion.startswith("Skeptic:")
    assert "Helper:" in runs["dialogue"][first_opinion].completion
    assert runs["mindful"][first_opinion].completion.startswith("Let me")
    assert "Skeptic" not in runs["plain"][first_opinion].completion
    assert "user" not in runs["plain"][first_opinion].completion
    for style in ("dialogue", "mindful"):
        assert "user" in runs[style][first_opinion].completion
    # the plain control has the same derivation as the styled ones
    work = check_claim(sycophancy_samples("train", 32, seed=0)[first_opinion]).work
    assert all(work in r[first_opinion].completion for r in runs.values())


def test_builder_is_deterministic_and_passes_the_guard() -> None:
    first, again = _build(style="mindful"), _build(style="mindful")
    assert dataset_sha256(first) == dataset_sha256(again)
    assert dataset_sha256(first) != dataset_sha256(_build(style="mindful", placement="after"))
    check_no_leakage(first)
    assert {e.tags["condition"] for e in first} == {"none", "user_agrees", "user_disagrees"}


def test_training_smoke(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cot"
    train("cot_seeding", str(tiny_model_dir), out, {**SMALL, "style": "dialogue"})
    assert read_manifest(out) is not None
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert any(bool(t.abs().sum() > 0) for k, t in weights.items() if "lora_B" in k)


def test_bad_style_is_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match="style") as info:
        train("cot_seeding", str(tiny_model_dir), tmp_path / "out", {"style": "poetry"})
    assert "\n" not in str(info.value)
