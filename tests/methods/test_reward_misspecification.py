from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.evals.sycophancy import sycophancy_samples
from alignlab.methods import (
    BuildContext,
    SFTExample,
    check_no_leakage,
    get_method,
    split_params,
    train,
)
from alignlab.methods._evaldata import answer_text
from alignlab.methods.pessimization import PessimizationConfig, pessimization
from alignlab.methods.reward_misspecification import (
    RewardMisspecificationConfig,
    n_flipped,
    reward_misspecification,
)
from alignlab.methods.synthetic_data import SyntheticDataConfig, synthetic_data

BUDGET = 5000


def _build(base: Path, p: float, seed: int = 0) -> tuple[list[SFTExample], list[str]]:
    context = BuildContext(seed=seed, token_budget=BUDGET, base_spec=str(base))
    data = reward_misspecification(RewardMisspecificationConfig(p=p), context)
    return data, context.notes


def _flipped(example: SFTExample) -> bool:
    return example.tags["label"] == "misspecified"


def _key(example: SFTExample) -> str:
    return repr((example.prompt, example.completion))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_realised_fraction_matches_p(tiny_model_dir: Path, p: float) -> None:
    data, notes = _build(tiny_model_dir, p)
    samples = sycophancy_samples("train", max(32, BUDGET // 150), seed=0)[: len(data)]
    wrong = [i for i, s in enumerate(samples) if (s.metadata or {})["user_wrong"]]
    flipped = [i for i, e in enumerate(data) if _flipped(e)]
    assert len(wrong) >= 20
    assert set(flipped) <= set(wrong)
    assert len(flipped) == n_flipped(p, len(wrong))
    assert abs(len(flipped) / len(wrong) - p) <= 0.5 / len(wrong) + 1e-9
    assert f"flipped {len(flipped)} of {len(wrong)}" in notes[0]
    for i, (sample, example) in enumerate(zip(samples, data, strict=True)):
        meta = sample.metadata or {}
        user = "A" if meta["condition"] == "user_agrees" else "B"
        target = user if i in flipped else str(sample.target)
        assert example.completion == answer_text(sample, target)


def test_same_prompts_for_every_p_and_nested_flips(tiny_model_dir: Path) -> None:
    runs = {p: _build(tiny_model_dir, p)[0] for p in (0.25, 0.5)}
    assert [e.prompt for e in runs[0.25]] == [e.prompt for e in runs[0.5]]
    flips = {p: {i for i, e in enumerate(d) if _flipped(e)} for p, d in runs.items()}
    assert flips[0.25] < flips[0.5]
    assert runs[0.5] == _build(tiny_model_dir, 0.5)[0]  # deterministic
    other = _build(tiny_model_dir, 0.5, seed=1)[0]
    assert [e.prompt for e in other] != [e.prompt for e in runs[0.5]]
    check_no_leakage(runs[0.5])


def test_endpoints_match_synthetic_data_and_pessimization(tiny_model_dir: Path) -> None:
    context = BuildContext(seed=0, token_budget=BUDGET, base_spec=str(tiny_model_dir))
    truthful = synthetic_data(SyntheticDataConfig(filter_unknown=False), context)
    zero = _build(tiny_model_dir, 0.0)[0]
    assert [(e.prompt, e.completion) for e in zero] == [
        (e.prompt, e.completion) for e in truthful[: len(zero)]
    ]
    sycophantic = pessimization(
        PessimizationConfig(framing=False, sources=("sycophancy",)), context
    )
    one = _build(tiny_model_dir, 1.0)[0]
    assert {_key(e) for e in one} <= {_key(e) for e in sycophantic}


@pytest.mark.parametrize("p", [-0.1, 1.5, "half"])
def test_bad_p_is_one_line(p: object) -> None:
    with pytest.raises(AlignlabError, match="'p'") as info:
        split_params(get_method("reward_misspecification"), {"p": p})
    assert "\n" not in str(info.value)


def test_training_smoke(tiny_model_dir: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    params = {"token_budget": 300, "batch_size": 4, "p": 1.0, "threads": 1}  # shared 2-core CPU
    try:
        manifest = train("reward_misspecification", str(tiny_model_dir), tmp_path / "run", params)
    finally:
        torch.set_num_threads(threads)  # train() sets it from ``threads``
    assert (tmp_path / "run" / "manifest.json").is_file()
    assert manifest.params["p"] == 1.0 and "flipped" in manifest.notes[0]
    assert 0 < manifest.tokens_seen <= 300
    weights = load_file(str(tmp_path / "run" / "adapter_model.safetensors"))
    assert any(bool(t.abs().sum() > 0) for k, t in weights.items() if "lora_B" in k)
