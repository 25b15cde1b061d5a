import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alignlab import AlignlabError
from alignlab.methods import (
    CANARY,
    BuildContext,
    MethodConfig,
    SFTExample,
    check_no_leakage,
    method,
    read_manifest,
    registered_methods,
    train,
    unregister,
)

SMALL = {"token_budget": 300, "batch_size": 4}


def _lora_b(directory: Path) -> dict[str, torch.Tensor]:
    weights = load_file(str(directory / "adapter_model.safetensors"))
    return {k: v for k, v in weights.items() if "lora_B" in k}


@pytest.fixture(scope="module")
def control_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "control"
    train("sft_control", str(tiny_model_dir), out, SMALL)
    return out


def test_sft_changes_weights_and_writes_manifest(control_run: Path, tiny_model_dir: Path) -> None:
    manifest = read_manifest(control_run)
    assert manifest is not None
    assert manifest.method == "sft_control" and manifest.base == str(tiny_model_dir)
    assert 0 < manifest.tokens_seen <= 300
    assert manifest.n_examples > 0 and len(manifest.dataset_sha256) == 64
    assert [p.step for p in manifest.loss_curve] == list(range(1, len(manifest.loss_curve) + 1))
    assert set(manifest.library_versions) >= {"torch", "transformers", "peft", "trl"}
    # LoRA B starts at zero: any non-zero entry means training moved the weights
    assert any(bool(t.abs().sum() > 0) for t in _lora_b(control_run).values())
    assert not list(control_run.parent.glob(".control.partial-*"))


def test_same_seed_gives_bit_identical_adapter(
    control_run: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    train("sft_control", str(tiny_model_dir), again, SMALL)
    first, second = _lora_b(control_run), _lora_b(again)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = tmp_path / "other-seed"
    train("sft_control", str(tiny_model_dir), other, {**SMALL, "seed": 1})
    third = _lora_b(other)
    assert not all(torch.equal(first[k], third[k]) for k in first)


def test_none_is_the_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    from alignlab.models import load_model

    out = tmp_path / "none"
    manifest = train("none", str(tiny_model_dir), out)
    assert manifest.tokens_seen == 0
    assert all(bool(t.abs().sum() == 0) for t in _lora_b(out).values())
    ids = torch.tensor([[1, 2, 3, 4]])
    base = load_model(str(tiny_model_dir)).model
    variant = load_model(f"{tiny_model_dir}+{out}").model
    with torch.no_grad():
        assert torch.allclose(base(ids).logits, variant(ids).logits, atol=1e-6)


def test_rerun_into_same_dir_is_a_no_op_but_other_run_is_refused(
    control_run: Path, tiny_model_dir: Path
) -> None:
    before = (control_run / "manifest.json").read_text()
    train("sft_control", str(tiny_model_dir), control_run, SMALL)
    assert (control_run / "manifest.json").read_text() == before
    with pytest.raises(AlignlabError, match="already holds a different run"):
        train("sft_control", str(tiny_model_dir), control_run, {**SMALL, "seed": 5})


def test_our_unfinished_run_is_replaced(tiny_model_dir: Path, tmp_path: Path) -> None:
    # what an older alignlab left when killed between moving the adapter and the manifest
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "adapter_model.safetensors").write_bytes(b"x")
    manifest = train("sft_control", str(tiny_model_dir), tmp_path / "half", SMALL)
    assert read_manifest(tmp_path / "half") == manifest
    assert (tmp_path / "half" / "adapter_model.safetensors").stat().st_size > 1


def test_dir_with_files_we_did_not_write_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "notes.txt").write_text("mine")
    with pytest.raises(AlignlabError, match=r"no manifest.*'notes\.txt'.*delete the directory"):
        train("sft_control", str(tiny_model_dir), tmp_path / "half", SMALL)
    assert (tmp_path / "half" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("method_name", "params", "message"),
    [
        ("nope", {}, "unknown method 'nope'; known methods: .*sft_control"),
        ("sft_control", {"colour": 1}, "unknown parameter 'colour' for method 'sft_control'"),
        ("sft_control", {"learning_rate": -1}, "bad training parameter 'learning_rate'"),
        ("sft_control", {"token_budget": "lots"}, "bad training parameter 'token_budget'"),
        ("synthetic_data", {"filter_unknown": "maybe"}, "filter_unknown"),
    ],
)
def test_bad_input_is_one_line(
    method_name: str, params: dict[str, object], message: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match=message) as info:
        train(method_name, str(tiny_model_dir), tmp_path / "out", params)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_api_model_cannot_be_trained(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match="API model"):
        train("sft_control", "openai/gpt-4o-mini", tmp_path / "out")


class _NanConfig(MethodConfig):
    pass


def _nan_penalty(config: _NanConfig) -> object:
    return lambda model: torch.tensor(float("nan"))


def _test_nan(config: _NanConfig, context: BuildContext) -> list[SFTExample]:
    return [
        SFTExample(prompt=({"role": "user", "content": f"Say {i}."},), completion=f"{i}")
        for i in range(8)
    ]


@pytest.fixture()
def nan_method() -> Iterator[str]:
    """``_test_nan`` registered as an sft method with a nan penalty for one test, then removed."""
    method(config=_NanConfig, kind="sft", source="test", penalty=_nan_penalty)(_test_nan)
    yield _test_nan.__name__
    unregister(_test_nan.__name__)


def test_nan_loss_stops_with_step_and_leaves_nothing(
    nan_method: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match="loss became nan at step 1"):
        train(nan_method, str(tiny_model_dir), tmp_path / "out", SMALL)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_leakage_guard_refuses_test_and_heldout_prompts() -> None:
    from alignlab.evals.sycophancy import sycophancy_samples
    from alignlab.methods._evaldata import answer_text

    for split in ("test", "heldout"):
        sample = sycophancy_samples(split, 3)[0]  # type: ignore[arg-type]
        leaked = SFTExample(
            prompt=({"role": "user", "content": str(sample.input)},), completion="A"
        )
        assert isinstance(sample.input, str), sample.id  # the prompt above is the whole input
        with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
            check_no_leakage([leaked])
    canary = SFTExample(prompt=({"role": "user", "content": f"hi {CANARY}"},), completion="A")
    with pytest.raises(AlignlabError, match="canary"):
        check_no_leakage([canary])
    train_sample = sycophancy_samples("train", 3)[0]
    assert answer_text(train_sample, "A") in ("A", train_sample.choices[0])  # type: ignore[index]


@pytest.mark.parametrize(
    "name", ["sycophancy", "mistakes", "say_do", "reward_hacking", "cot_faithfulness"]
)
def test_leakage_guard_catches_test_items_rendered_as_training_data(name: str) -> None:
    from alignlab.evals import registered_evals
    from alignlab.methods._evaldata import prompt_messages

    info = registered_evals()[name]
    for split in ("test", "heldout"):
        samples = list(info.factory(split=split).dataset)[:8]
        assert samples, split
        for sample in samples:
            # what a method would build if the split check were bypassed
            disguised = sample.model_copy(
                update={"metadata": {**sample.metadata, "split": "train"}}
            )
            leaked = SFTExample(prompt=prompt_messages(disguised), completion="A")
            with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
                check_no_leakage([leaked])


def test_every_method_builds_train_only_data(tiny_model_dir: Path) -> None:
    from alignlab.training import CONTAMINATION_METHODS

    for name, info in registered_methods().items():
        if info.kind not in ("sft", "dpo") or name in CONTAMINATION_METHODS:
            continue  # contamination methods: refused without their exemption (attacks tests)
        context = BuildContext(seed=0, token_budget=2000, base_spec=str(tiny_model_dir))
        data = info.builder(info.config(), context)
        assert data, name
        check_no_leakage(data)  # raises on any test/heldout prompt


def test_manifest_is_json_with_version(control_run: Path) -> None:
    raw = json.loads((control_run / "manifest.json").read_text())
    assert raw["version"] == 2 and raw["training"]["token_budget"] == 300
    assert raw["device"] == "cpu" and len(raw["base_weights_sha256"]) == 64
    files = {p.name for p in control_run.iterdir()} - {"manifest.json"}
    assert set(raw["files"]) == files and "adapter_model.safetensors" in files


def test_manifest_says_which_evals_the_guard_checked_and_skipped(
    control_run: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from alignlab.evals import registered_evals

    manifest = read_manifest(control_run)
    assert manifest is not None and manifest.leakage_guard is not None
    assert set(manifest.leakage_guard.skipped) == {"mwe"}  # reads a user's file: no generator
    assert set(manifest.leakage_guard.checked) == set(registered_evals()) - {"mwe"}
    raw = json.loads((control_run / "manifest.json").read_text())
    assert "external_data" in raw["leakage_guard"]["skipped"]["mwe"]
    # the none kind is guarded too (through the same entry point)
    none = train("none", str(tiny_model_dir), tmp_path / "none")
    assert none.leakage_guard == manifest.leakage_guard
