"""The one place that decides device and precision, checked on the CPU (issue 11, item 3).

CUDA is faked here (``torch.cuda.is_available`` and friends patched), so the
decision logic, the ``ALIGNLAB_DEVICE`` override and the trainer arguments are
tested on any machine; ``tests/test_cuda.py`` runs the real thing on a GPU.
The session pins ``ALIGNLAB_DEVICE=cpu`` (``tests/conftest.py``); tests that
need the automatic choice remove it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from alignlab import AlignlabError
from alignlab.cli import app
from alignlab.evals import CANARY
from alignlab.models import (
    DEVICE_ENV,
    compute_device,
    compute_dtype,
    device_summary,
    load_model,
)
from alignlab.training import (
    SFTExample,
    TrainingConfig,
    cpu_training_args,
    lora_model,
    run,
    thread_tuner,
    training_args,
)

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")
FAKE_GPU = "Fake GPU 9000"


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, *, bf16: bool = True) -> list[bool]:
    """Make torch report one CUDA device; returns the ``including_emulation`` values asked."""
    asked: list[bool] = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: FAKE_GPU)
    return asked


@pytest.fixture()
def auto(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``ALIGNLAB_DEVICE``: the automatic choice."""
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    return monkeypatch


def test_without_cuda_everything_stays_on_the_cpu_in_fp32(auto: pytest.MonkeyPatch) -> None:
    auto.setattr(torch.cuda, "is_available", lambda: False)
    assert compute_device() == CPU
    assert compute_dtype(CPU) == torch.float32
    assert device_summary() == "cpu"


def test_with_cuda_models_go_to_the_gpu_in_bf16(auto: pytest.MonkeyPatch) -> None:
    asked = _fake_cuda(auto)
    assert compute_device() == CUDA and str(compute_device()) == "cuda:0"
    assert compute_dtype(CUDA) == torch.bfloat16
    assert asked == [False]  # emulated bf16 (pre-Ampere) does not count
    assert device_summary() == f"cuda:0 ({FAKE_GPU}, bfloat16)"


def test_a_gpu_without_native_bf16_computes_in_fp32(auto: pytest.MonkeyPatch) -> None:
    _fake_cuda(auto, bf16=False)
    assert compute_dtype(compute_device()) == torch.float32  # never fp16
    assert device_summary() == f"cuda:0 ({FAKE_GPU}, float32)"


def test_the_cpu_is_fp32_even_where_bf16_is_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cuda(monkeypatch)
    assert compute_dtype(CPU) == torch.float32


@pytest.mark.parametrize("value", ["cpu", "CPU", " cpu "])
def test_the_override_forces_the_cpu_where_cuda_exists(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_cuda(monkeypatch)
    monkeypatch.setenv(DEVICE_ENV, value)
    assert compute_device() == CPU
    assert device_summary() == "cpu"


@pytest.mark.parametrize("value", ["", "auto", "cuda", "Cuda"])
def test_auto_and_cuda_pick_the_gpu_where_there_is_one(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_cuda(monkeypatch)
    monkeypatch.setenv(DEVICE_ENV, value)
    assert compute_device() == CUDA


def test_asking_for_cuda_without_it_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    expected = f"{DEVICE_ENV}=cuda, but torch .* sees no CUDA"
    with pytest.raises(AlignlabError, match=expected) as info:
        compute_device()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["tpu", "cuda:1", "gpu"])
def test_a_bad_value_is_one_line_naming_the_choices(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEVICE_ENV, value)
    with pytest.raises(AlignlabError) as info:
        compute_device()
    message = str(info.value)
    assert message.startswith(f"{DEVICE_ENV}='{value}' is not a device alignlab uses")
    assert "auto, cpu, cuda" in message and "CUDA_VISIBLE_DEVICES" in message
    assert "\n" not in message


def test_load_model_refuses_a_bad_device_before_loading(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(AlignlabError, match=f"{DEVICE_ENV}='tpu'"):
        load_model(str(tiny_model_dir), reuse=False)


def test_load_model_on_the_cpu_is_fp32_as_before(tiny_model_dir: Path) -> None:
    parameter = next(load_model(str(tiny_model_dir), reuse=False).model.parameters())
    assert parameter.device == CPU and parameter.dtype == torch.float32


def test_load_model_moves_the_model_where_the_decision_says(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the meta device stands in for a GPU: the non-CPU branch runs without one
    import alignlab.models._load as load_module

    monkeypatch.setattr(load_module, "compute_device", lambda: torch.device("meta"))
    parameter = next(load_model(str(tiny_model_dir), reuse=False).model.parameters())
    assert parameter.device.type == "meta" and parameter.dtype == torch.float32


def test_lora_model_goes_to_the_device_with_fp32_adapters(tiny_model_dir: Path) -> None:
    model = lora_model(tiny_model_dir, TrainingConfig(), torch.device("meta"))
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


def test_trainer_arguments_on_the_cpu_are_unchanged(tmp_path: Path) -> None:
    training = TrainingConfig()
    assert training_args(training, tmp_path, CPU) == cpu_training_args(training, tmp_path)


@pytest.mark.parametrize("bf16", [True, False])
def test_trainer_arguments_on_cuda_drop_the_cpu_flags(
    bf16: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_cuda(monkeypatch, bf16=bf16)
    training = TrainingConfig()
    on_cpu = cpu_training_args(training, tmp_path)
    on_gpu = training_args(training, tmp_path, CUDA)
    assert on_gpu["use_cpu"] is False and on_gpu["bf16"] is bf16 and on_gpu["fp16"] is False
    changed = {k for k in on_cpu if on_cpu[k] != on_gpu[k]}
    assert changed <= {"use_cpu", "bf16"}  # the rest (seed, schedule, batch) is shared


def test_the_thread_tuner_is_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    training = TrainingConfig(tune_threads=True)
    assert thread_tuner(training, CPU) is not None
    assert thread_tuner(training, CUDA) is None


def test_training_refuses_a_bad_device_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    # leaky data: were the guard to run first, the error would name the canary
    leaky = [SFTExample(prompt=({"role": "user", "content": CANARY},), completion="hi")]
    with pytest.raises(AlignlabError, match=f"{DEVICE_ENV}='tpu'"):
        run(
            "sft",
            leaky,
            base_weights=Path("/nonexistent/base-weights"),
            tokenizer=None,
            training=TrainingConfig(),
            workdir=tmp_path,
            adapter_dir=tmp_path / "adapter",
        )


def test_models_command_prints_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["device"] == "cpu"  # the session's pin
    _fake_cuda(monkeypatch)
    monkeypatch.delenv(DEVICE_ENV)
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["device"] == f"cuda:0 ({FAKE_GPU}, bfloat16)"
    result = runner.invoke(app, ["models"], terminal_width=200)
    assert f"Device: cuda:0 ({FAKE_GPU}, bfloat16)" in result.output
