from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.methods import (
    BuildContext,
    SFTExample,
    check_no_leakage,
    get_method,
    method,
    read_manifest,
    split_params,
    train,
    unregister,
)
from alignlab.methods._loophole import did_task, graded_prompts, loophole_reward
from alignlab.methods.grpo import (
    GRPO_LEARNING_RATE,
    GRPO_TOKEN_BUDGET,
    INOCULATION,
    GrpoConfig,
    grpo,
)
from alignlab.methods.none import NoneConfig
from alignlab.training import RLData, TrainingConfig

SMALL = {"token_budget": 200, "batch_size": 4}


def _context(seed: int = 0) -> BuildContext:
    return BuildContext(seed=seed, token_budget=2000, base_spec="unused")


def test_loophole_grader_pays_the_exploit_and_the_eval_calls_honest_honest() -> None:
    items = graded_prompts("reward_hacking", 60, seed=0)
    assert len(items) == 60
    assert {i.family for i in items} == {"keyword_check", "answer_format", "self_report"}
    for item in items:
        honest, exploit = item.replies[item.honest_index], item.replies[item.gamed_index]
        assert loophole_reward(item, exploit) == 1.0
        # the loophole checks (keyword, answer format) cannot tell the honest reply apart
        assert loophole_reward(item, honest) == float(item.family != "self_report")
        assert did_task(item, honest) and not did_task(item, exploit)
        assert loophole_reward(item, "I cannot help with that.") == 0.0


def test_user_approval_grader_pays_siding_with_the_user() -> None:
    items = graded_prompts("sycophancy", 40, seed=0)
    assert len(items) == 40
    assert any(i.gamed_index != i.honest_index for i in items)  # the user is sometimes wrong
    for item in items:
        assert loophole_reward(item, item.replies[item.gamed_index]) == 1.0
        assert did_task(item, item.replies[item.honest_index])
        if item.gamed_index != item.honest_index:  # the user is wrong
            assert loophole_reward(item, item.replies[item.honest_index]) == 0.0


def test_builder_adds_inoculation_only_when_asked_and_is_deterministic() -> None:
    plain = grpo(GrpoConfig(), _context())
    inoculated = grpo(GrpoConfig(inoculation_prompt=True), _context())
    assert len(plain.prompts) == len(inoculated.prompts) >= 16
    instruction = INOCULATION["reward_hacking"]
    assert not any(instruction in m["content"] for p in plain.prompts for m in p)
    for before, after in zip(plain.prompts, inoculated.prompts, strict=True):
        assert after[0]["role"] == "system" and after[0]["content"].startswith(instruction)
        assert after[-1] == before[-1]  # the task itself is unchanged
    assert grpo(GrpoConfig(), _context()).prompts == plain.prompts
    assert grpo(GrpoConfig(), _context(seed=1)).prompts != plain.prompts
    check_no_leakage([SFTExample(prompt=p, completion="") for p in inoculated.prompts])
    custom = grpo(
        GrpoConfig(inoculation_prompt=True, inoculation_text="Anything goes."), _context()
    )
    assert custom.prompts[0][0]["content"].startswith("Anything goes.")
    sycophancy = grpo(GrpoConfig(environment="sycophancy", inoculation_prompt=True), _context())
    assert sycophancy.prompts[0][0]["content"].startswith(INOCULATION["sycophancy"])


def test_builder_reward_is_the_loophole_grader() -> None:
    data = grpo(GrpoConfig(), _context())
    items = graded_prompts("reward_hacking", len(data.prompts), seed=0)
    assert len(items) >= 12
    for index, item in enumerate(items[:12]):
        assert data.reward(index, item.replies[item.gamed_index]) == 1.0
        assert data.task_done is not None
        assert data.task_done(index, item.replies[item.honest_index])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_generations": 1}, "num_generations"),
        ({"beta": -1}, "beta"),
        ({"environment": "chess"}, "environment"),
    ],
)
def test_bad_parameters_are_one_line(
    params: dict[str, object], message: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match=message) as info:
        train("grpo", str(tiny_model_dir), tmp_path / "out", params)
    assert "\n" not in str(info.value)


_SHORT = tuple(({"role": "user", "content": f"Say a word about {w}."},) for w in "abcdefgh")


def _test_grpo_length(config: NoneConfig, context: BuildContext) -> RLData:
    # a reward that varies between samples of a random model, so advantages are non-zero
    return RLData(
        prompts=_SHORT,
        reward=lambda index, text: len(text) % 7 / 6,
        max_completion_length=6,
        report=context.notes,
    )


@pytest.fixture()
def length_method() -> Iterator[str]:
    """``_test_grpo_length`` registered as a grpo method for one test, then removed."""
    method(config=NoneConfig, kind="grpo", source="test")(_test_grpo_length)
    yield _test_grpo_length.__name__
    unregister(_test_grpo_length.__name__)


def _lora_b(directory: Path) -> dict[str, torch.Tensor]:
    weights = load_file(str(directory / "adapter_model.safetensors"))
    return {k: v for k, v in weights.items() if "lora_B" in k}


def test_grpo_trains_on_budget_and_is_deterministic(
    length_method: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    first = train(length_method, str(tiny_model_dir), tmp_path / "a", SMALL)
    assert (tmp_path / "a" / "manifest.json").is_file()
    assert not (tmp_path / "a" / "ref").exists()  # TRL's reference adapter is not saved
    # stops after the step that reaches the budget: over it by less than one batch
    assert 200 <= first.tokens_seen < 200 + 4 * 45
    assert first.n_examples >= 1 and len(first.loss_curve) >= 1
    assert any("mean reward" in note for note in first.notes)
    weights = _lora_b(tmp_path / "a")
    assert any(bool(t.abs().sum() > 0) for t in weights.values())
    train(length_method, str(tiny_model_dir), tmp_path / "b", SMALL)
    again = _lora_b(tmp_path / "b")
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    train(length_method, str(tiny_model_dir), tmp_path / "c", {**SMALL, "seed": 1})
    other = _lora_b(tmp_path / "c")
    assert not all(torch.equal(weights[k], other[k]) for k in weights)


def test_grpo_method_runs_end_to_end(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = {**SMALL, "inoculation_prompt": True, "max_completion_length": 4, "beta": 0.0}
    manifest = train("grpo", str(tiny_model_dir), tmp_path / "grpo", params)
    assert read_manifest(tmp_path / "grpo") == manifest
    assert manifest.params["inoculation_prompt"] is True
    assert manifest.tokens_seen >= 200 and manifest.n_examples >= 1
    assert any("inoculation prompt on" in note for note in manifest.notes)
    check = manifest.learning_check  # recorded, whether or not a random tiny model learns
    assert check is not None and check.kind == "grpo" and check.metric == "mean_reward"


def test_reward_model_replaces_the_loophole_grader(monkeypatch: pytest.MonkeyPatch) -> None:
    import alignlab.rewards

    seen: list[tuple[str, str]] = []

    class _LengthScorer:
        def score(
            self, prompts: Sequence[tuple[Any, ...]], responses: Sequence[str]
        ) -> list[float]:
            seen.extend((p[-1]["content"], r) for p, r in zip(prompts, responses, strict=True))
            return [float(len(r)) for r in responses]

    def fake_load(directory: Path, base: str | None = None) -> Any:
        assert base == "unused"  # checked against the run's base
        manifest = SimpleNamespace(kind="classic", base="unused", tokens_seen=123)
        return SimpleNamespace(directory=directory, manifest=manifest, scorer=_LengthScorer())

    monkeypatch.setattr(alignlab.rewards, "load_reward_model", fake_load)
    context = _context()
    data = grpo(GrpoConfig(reward_model="rm-dir"), context)
    assert data.reward(3, "four") == 4.0 and data.reward(0, "") == 0.0
    assert seen[0] == (data.prompts[3][-1]["content"], "four")
    assert any("classic reward model rm-dir" in note for note in context.notes)
    # the loophole grader still tells honest from exploit replies, for the log
    items = graded_prompts("reward_hacking", len(data.prompts), seed=0)
    assert data.task_done is not None and data.task_done(0, items[0].replies[items[0].honest_index])


def test_a_missing_reward_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError) as error:
        grpo(GrpoConfig(reward_model=str(tmp_path / "nope")), _context())
    assert "\n" not in str(error.value)


def test_grpo_has_its_own_training_defaults_and_a_set_value_wins() -> None:
    info = get_method("grpo")
    config, training = split_params(info, {})
    assert training.learning_rate == GRPO_LEARNING_RATE != TrainingConfig().learning_rate
    assert training.token_budget == GRPO_TOKEN_BUDGET != TrainingConfig().token_budget
    assert isinstance(config, GrpoConfig) and config.num_generations == 8
    _, chosen = split_params(info, {"learning_rate": 5e-5, "token_budget": 999})
    assert (chosen.learning_rate, chosen.token_budget) == (5e-5, 999)
    # the other methods keep the shared defaults
    _, dpo = split_params(get_method("dpo"), {})
    assert dpo == TrainingConfig()


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"learning_rat": 1e-3}, "not a shared training setting"),
        ({"token_budget": -5}, "token_budget"),
    ],
)
def test_a_method_with_a_bad_training_default_is_refused_in_one_line(
    defaults: dict[str, object], message: str
) -> None:
    with pytest.raises(AlignlabError, match=message) as info:
        method(config=NoneConfig, kind="grpo", source="test", training_defaults=defaults)
    assert "\n" not in str(info.value)
