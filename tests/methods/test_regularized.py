from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.methods import BuildContext, dataset_sha256, read_manifest, train
from alignlab.methods.regularized import (
    DEFAULT_STRENGTH,
    ActivationL1,
    AdapterL1,
    RegularizedConfig,
    make_penalty,
    regularized,
)
from alignlab.methods.synthetic_data import SyntheticDataConfig, synthetic_data

SMALL = {"token_budget": 300, "batch_size": 4, "filter_unknown": False}


def _adapter(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "adapter_model.safetensors"))


def _l1(weights: dict[str, torch.Tensor]) -> float:
    return float(sum(t.abs().sum() for k, t in weights.items() if "lora_" in k))


def test_data_are_synthetic_datas() -> None:
    context = BuildContext(seed=2, token_budget=3000, base_spec="unused")
    ours = regularized(RegularizedConfig(filter_unknown=False, strength=0.5), context)
    theirs = synthetic_data(SyntheticDataConfig(filter_unknown=False), context)
    assert dataset_sha256(ours) == dataset_sha256(theirs)


def test_penalties_on_a_lora_model(tiny_model_dir: Path) -> None:
    from alignlab.training import TrainingConfig, lora_model

    model = lora_model(tiny_model_dir, TrainingConfig())
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    adapter = make_penalty(RegularizedConfig(penalty="l1_adapter", strength=2.0))
    assert isinstance(adapter, AdapterL1)
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    expected = 2.0 * sum(float(p.abs().sum()) for p in lora)
    assert float(adapter(model)) == pytest.approx(expected, rel=1e-5)

    activation = make_penalty(RegularizedConfig(penalty="activation_l1"))
    assert isinstance(activation, ActivationL1)
    assert activation.strength == DEFAULT_STRENGTH["activation_l1"] == 1.0
    model(ids)
    assert float(activation(model)) == 0.0  # first call attaches the hooks
    layers = model.config.num_hidden_layers
    for _ in range(3):  # forwards without a penalty call overwrite, never accumulate
        model(ids)
    assert len(activation.stash) == layers
    value = activation(model)
    assert float(value) > 0 and value.requires_grad
    assert activation.stash == {}
    value.backward()
    assert any(p.grad is not None for p in lora)


def test_strength_is_validated(tiny_model_dir: Path, tmp_path: Path) -> None:
    for bad in (-1.0, float("inf")):
        with pytest.raises(AlignlabError, match="strength") as info:
            train("regularized", str(tiny_model_dir), tmp_path / "out", {"strength": bad})
        assert "\n" not in str(info.value)


def test_strength_zero_is_plain_sft_and_l1_shrinks_the_adapter(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    base = str(tiny_model_dir)
    train("synthetic_data", base, tmp_path / "plain", SMALL)
    plain = _adapter(tmp_path / "plain")
    for penalty in ("l1_adapter", "activation_l1"):
        out = tmp_path / f"zero-{penalty}"
        train("regularized", base, out, {**SMALL, "penalty": penalty, "strength": 0.0})
        zero = _adapter(out)
        assert zero.keys() == plain.keys()
        assert all(torch.equal(zero[k], plain[k]) for k in plain)
    strong = tmp_path / "strong"
    train("regularized", base, strong, {**SMALL, "penalty": "l1_adapter", "strength": 1.0})
    manifest = read_manifest(strong)
    assert manifest is not None and manifest.params["strength"] == 1.0
    assert any(bool(t.abs().sum() > 0) for k, t in _adapter(strong).items() if "lora_B" in k)
    assert _l1(_adapter(strong)) < _l1(plain)
