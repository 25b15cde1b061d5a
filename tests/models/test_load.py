import json
from pathlib import Path

import pytest
import torch

from alignlab import AlignlabError
from alignlab.models import load_model, read_adapter_base


def _make_adapter(base_dir: Path, out: Path, declared_base: str | None = None) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(str(out))
    if declared_base is not None:
        config_path = out / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = declared_base
        config_path.write_text(json.dumps(config))
    return out


def test_load_local_dir(tiny_model_dir: Path) -> None:
    loaded = load_model(str(tiny_model_dir), reuse=False)
    assert loaded.tokenizer.pad_token is not None
    assert loaded.model.config.num_hidden_layers == 2
    assert not loaded.model.training


def test_cached_embedded_config_has_no_quantization(smollm2_dir: Path) -> None:
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert (smollm2_dir / "alignlab-conversion.json").is_file()


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match=r"no config\.json"):
        load_model(str(tmp_path), reuse=False)


def test_corrupt_weights(tiny_model_copy: Path) -> None:
    for weights in tiny_model_copy.glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    with pytest.raises(AlignlabError, match="missing or corrupt weights"):
        load_model(str(tiny_model_copy), reuse=False)


def test_adapter_changes_outputs(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    assert read_adapter_base(adapter) == str(tiny_model_dir)
    base = load_model(str(tiny_model_dir), reuse=False)
    tuned = load_model(f"{tiny_model_dir}+{adapter}", reuse=False)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)


def test_adapter_from_other_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter", declared_base="some/other-model")
    with pytest.raises(AlignlabError, match="was trained on 'some/other-model'"):
        load_model(f"{tiny_model_dir}+{adapter}", reuse=False)


def test_adapter_that_does_not_fit(tiny_model_dir: Path, smollm2_dir: Path, tmp_path: Path) -> None:
    # an adapter made for the tiny model, relabelled as if made for SmolLM2: shapes differ
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter", declared_base=str(smollm2_dir))
    with pytest.raises(AlignlabError, match="does not fit"):
        load_model(f"{smollm2_dir}+{adapter}", reuse=False)


def test_corrupt_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    (adapter / "adapter_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(AlignlabError, match="corrupt adapter"):
        load_model(f"{tiny_model_dir}+{adapter}", reuse=False)
    (adapter / "adapter_config.json").write_text("{not json")
    with pytest.raises(AlignlabError, match="corrupt adapter config"):
        load_model(f"{tiny_model_dir}+{adapter}", reuse=False)
