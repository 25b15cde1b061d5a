from pathlib import Path

from safetensors.torch import load_file

from alignlab.methods import BuildContext, check_no_leakage, dataset_sha256, read_manifest, train
from alignlab.methods._values import VALUES
from alignlab.methods.constitution_sft import (
    RULE_PROMPTS,
    ConstitutionSFTConfig,
    constitution_sft,
)
from alignlab.methods.letter_to_self import (
    LETTER_PROMPTS,
    LetterToSelfConfig,
    letter_to_self,
    phrasing,
)

SMALL = {"token_budget": 300, "batch_size": 4}


def _context(base: str = "unused", budget: int = 4000) -> BuildContext:
    return BuildContext(seed=0, token_budget=budget, base_spec=base)


def test_template_letters_and_rules_state_the_same_values_in_two_voices() -> None:
    letters = letter_to_self(LetterToSelfConfig(source="template"), _context())
    rules = constitution_sft(ConstitutionSFTConfig(), _context())
    assert len(letters) >= 4000 * 4 // 1000 and len(rules) >= 16
    for letter, rule in zip(letters, rules, strict=False):
        stated = [v for v in VALUES if v.first_person in letter.completion]
        assert len(stated) == 5
        assert all(v.third_person in rule.completion for v in stated)
        # same order in both documents
        assert sorted(stated, key=lambda v: letter.completion.index(v.first_person)) == sorted(
            stated, key=lambda v: rule.completion.index(v.third_person)
        )
        assert not any(v.third_person in letter.completion for v in VALUES)
        assert " I " in f" {letter.completion} " and " I " not in f" {rule.completion} "
    assert {e.prompt[0]["content"] for e in letters} == set(LETTER_PROMPTS)
    assert {e.prompt[0]["content"] for e in rules} == set(RULE_PROMPTS)
    # prompts are neutral: they name no value
    for prompt in (*LETTER_PROMPTS, *RULE_PROMPTS):
        assert "honest" not in prompt.lower() and "mistake" not in prompt.lower()


def test_value_voices_match_and_budget_is_filled() -> None:
    for value in VALUES:
        assert value.first_person != value.third_person
        assert abs(len(value.first_person) - len(value.third_person)) < 30
    for build in (
        lambda c: letter_to_self(LetterToSelfConfig(source="template"), c),
        lambda c: constitution_sft(ConstitutionSFTConfig(), c),
    ):
        examples = build(_context(budget=24_000))
        chars = sum(len(e.completion) + len(e.prompt[0]["content"]) for e in examples)
        assert chars / 4.0 > 24_000  # generous English estimate: still more than the budget


def test_repeated_documents_get_other_phrasings() -> None:
    # with 12 distinct letters, each letter's repeats cycle through the phrasings
    seen = {phrasing(k * 12 + 3, 12) for k in range(len(LETTER_PROMPTS))}
    assert seen == set(range(len(LETTER_PROMPTS)))


def test_builders_are_deterministic_and_pass_the_guard() -> None:
    for build in (
        lambda s: letter_to_self(LetterToSelfConfig(source="template"), _context()),
        lambda s: constitution_sft(ConstitutionSFTConfig(values_per_document=3), _context()),
    ):
        first, again = build(0), build(0)
        assert dataset_sha256(first) == dataset_sha256(again)
        check_no_leakage(first)


def test_model_letters_from_the_base(tiny_model_dir: Path) -> None:
    config = LetterToSelfConfig(source="model", n_letters=3, max_new_tokens=24)
    context = _context(str(tiny_model_dir), budget=600)
    examples = letter_to_self(config, context)
    again = letter_to_self(config, _context(str(tiny_model_dir), budget=600))
    assert dataset_sha256(examples) == dataset_sha256(again)
    distinct = {e.completion for e in examples}
    assert 1 <= len(distinct) <= 3 and len(examples) >= 16
    assert all(e.completion.startswith("Dear future me,") for e in examples)
    assert any("base model wrote 3 letters" in note for note in context.notes)
    check_no_leakage(examples)


def test_training_smoke(tiny_model_dir: Path, tmp_path: Path) -> None:
    for name, params in (
        ("letter_to_self", {"source": "template"}),
        ("constitution_sft", {}),
    ):
        out = tmp_path / name
        train(name, str(tiny_model_dir), out, {**SMALL, **params})
        assert read_manifest(out) is not None
        weights = load_file(str(out / "adapter_model.safetensors"))
        assert any(bool(t.abs().sum() > 0) for k, t in weights.items() if "lora_B" in k)
