"""Pieces every TRL-backed runner shares: the trainer arguments, LoRA, loss logging.

Why these arguments: on a CPU without bf16, TRL's defaults (bf16 autocast,
gradient checkpointing) made LoRA SFT of the 135M model about 14x slower than
plain fp32 without checkpointing.  Padding-free batches (sequences laid end
to end, attention kept within each by ``position_ids``) waste no FLOPs on pad
tokens, which matters more on CPU than any kernel choice.

Threads: with every core busy (this is a shared machine), two OpenMP threads
that each wait for the other at every operation were 4-7x *slower* than one
thread for LoRA SFT of the 135M model; on idle cores two threads are faster.
:func:`thread_tuner` (opt-in: ``tune_threads=True``) re-measures which is faster
every few steps.  It is off by default because the thread count does change the
numbers slightly: reductions split across threads add in a different order, and
on some data an adapter trained with 2 threads differed from the 1-thread one by
~2e-6.  Bit-identical same-seed runs matter more for research than speed.

GPU: :func:`lora_model` puts the model on :func:`alignlab.models.compute_device`
and :func:`training_args` follows the model's device.  On CUDA the weights and
the adapters stay fp32 and the trainer autocasts to bf16 where the GPU has it
(:func:`alignlab.models.compute_dtype`; fp32 otherwise); ``use_cpu`` and the
thread tuner are CPU-only.  Same-seed runs on a GPU are close but not
bit-identical (CUDA kernels may reduce in any order).  On the CPU the
arguments are exactly :func:`cpu_training_args`, as before there was a GPU path.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError
from alignlab.models import compute_device, compute_dtype
from alignlab.training._config import LearningCheck, LossPoint, TrainingConfig
from alignlab.training._guard import GuardReport

if TYPE_CHECKING:
    import torch

StepCallback = Callable[[int, int, float], None]
"""Called after each optimiser step with (step, total_steps, loss)."""

Penalty = Callable[[Any], Any]
"""``model -> scalar tensor`` added to the loss after each forward pass (a penalty on
activations keeps them itself, e.g. with forward hooks)."""


@dataclass
class TrainOutcome:
    """What a runner reports back (and :func:`~alignlab.training.run` completes)."""

    tokens_seen: int
    """Tokens processed (see :class:`~alignlab.training.Manifest`)."""
    n_examples: int
    """Examples (or prompts) trained on."""
    dataset_sha256: str
    """Hash of the exact training data."""
    loss_curve: list[LossPoint] = field(default_factory=list)
    """Loss per optimiser step."""
    leakage_guard: GuardReport | None = None
    """Evals the leakage guard checked and skipped (set by :func:`~alignlab.training.run`)."""
    device: str = "cpu"
    """Where the adapter was trained, e.g. ``cpu`` or ``cuda:0`` (set by
    :func:`~alignlab.training.run`)."""
    learning_check: LearningCheck | None = None
    """The kind's check that training moved its own objective (None: no check)."""


LIBRARY_NAMES = ("torch", "transformers", "peft", "trl", "inspect_ai", "alignlab")
"""The libraries a trained artefact's numbers depend on (recorded in its manifest)."""


def library_versions() -> dict[str, str]:
    """Versions of :data:`LIBRARY_NAMES` (``unknown`` for one that is not installed)."""
    versions = {}
    for name in LIBRARY_NAMES:
        try:
            versions[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def cpu_training_args(training: TrainingConfig, output_dir: Path) -> dict[str, Any]:
    """Keyword arguments for any TRL ``*Config`` (they all extend ``TrainingArguments``).

    Args:
        training: Shared training settings.
        output_dir: Scratch directory for the trainer (nothing is saved there).

    Returns:
        Arguments that keep training deterministic and fast on CPU.
    """
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": training.batch_size,
        "num_train_epochs": training.epochs,
        "learning_rate": training.learning_rate,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "logging_steps": 1,
        "logging_nan_inf_filter": False,  # a NaN loss must reach our callback, not be averaged away
        "save_strategy": "no",
        "report_to": [],
        "bf16": False,
        "fp16": False,
        "gradient_checkpointing": False,
        "seed": training.seed,
        "data_seed": training.seed,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "use_cpu": True,
    }


def training_args(
    training: TrainingConfig, output_dir: Path, device: torch.device
) -> dict[str, Any]:
    """:func:`cpu_training_args` on the CPU; on a GPU, the same without the CPU-only flags.

    On CUDA, ``use_cpu`` is off (the trainer keeps the model on the GPU) and mixed
    precision is bf16 when :func:`alignlab.models.compute_dtype` says so (the weights
    stay fp32, the forward and backward passes autocast), else plain fp32.  No fp16:
    it would need loss scaling and can overflow (see :mod:`alignlab.models`).

    Args:
        training: Shared training settings.
        output_dir: Scratch directory for the trainer (nothing is saved there).
        device: Where the model is (:func:`model_device`).

    Returns:
        Keyword arguments for any TRL ``*Config``.
    """
    import torch

    args = cpu_training_args(training, output_dir)
    if device.type == "cpu":
        return args
    bf16 = compute_dtype(device) == torch.bfloat16
    return {**args, "use_cpu": False, "bf16": bf16, "fp16": False}


def model_device(model: Any) -> torch.device:
    """Where ``model``'s weights are (the device its inputs must be created on)."""
    device: torch.device = next(model.parameters()).device
    return device


def lora_model(
    weights_dir: Path, training: TrainingConfig, device: torch.device | None = None
) -> Any:
    """A fresh fp32 copy of the base with LoRA adapters, initialised from the seed.

    The adapters are initialised on the CPU (from torch's CPU generator, so the
    initial adapter is the same on every device) and the model is then moved.

    Args:
        weights_dir: Local weights directory of the base.
        training: Shared settings (LoRA shape, seed).
        device: Where to put it (default: :func:`alignlab.models.compute_device`).

    Returns:
        A PEFT model whose only trainable parameters are the adapters, on ``device``.

    Raises:
        AlignlabError: On LoRA targets the model lacks, or a bad ``ALIGNLAB_DEVICE``.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if device is None:
        device = compute_device()
    model = AutoModelForCausalLM.from_pretrained(
        str(weights_dir), dtype=torch.float32, attn_implementation="sdpa"
    )
    model.config.use_cache = False
    torch.manual_seed(training.seed)
    config = LoraConfig(
        r=training.lora_r,
        lora_alpha=training.lora_alpha,
        lora_dropout=training.lora_dropout,
        target_modules=list(training.lora_targets),
        task_type="CAUSAL_LM",
    )
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:  # peft: no module matches (NoMatchingPeftModuleError)
        linear = sorted(
            {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if _is_linear(m)}
        )
        raise AlignlabError(
            f"bad lora_targets {list(training.lora_targets)}: {str(exc).splitlines()[0]} "
            f"(linear modules of {weights_dir}: {', '.join(linear)})"
        ) from None
    return peft_model if device.type == "cpu" else peft_model.to(device)


def _is_linear(module: Any) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)


def loss_callback(curve: list[LossPoint], on_step: StepCallback | None) -> Any:
    """A ``TrainerCallback`` that records every step's loss and stops on NaN.

    Args:
        curve: List the losses are appended to.
        on_step: Optional progress hook.

    Returns:
        The callback instance.
    """
    from transformers import TrainerCallback

    class _LossCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if not logs or "loss" not in logs:
                return
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                raise AlignlabError(
                    f"training loss became {loss} at step {state.global_step}; "
                    "lower the learning_rate or check the data"
                )
            curve.append(LossPoint(step=int(state.global_step), loss=loss))
            if on_step is not None:
                on_step(int(state.global_step), int(state.max_steps), loss)

    return _LossCallback()


THREAD_PROBE_EVERY = 8
"""Optimiser steps between two measurements of the best thread count."""


def _probe_seconds(threads: int, repeats: int = 3) -> float:
    """Seconds for a small LoRA-like workload (matmul + elementwise) with ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(128, 576, generator=generator)
    w = torch.randn(576, 1536, generator=generator)
    (a @ w).mul_(0.5)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        for _ in range(4):
            (a @ w).mul_(0.5).add_(1.0)
    return time.perf_counter() - start


def best_thread_count(most: int) -> int:
    """1 or ``most``, whichever runs a small matmul + elementwise workload faster right now.

    Leaves torch's thread count set to the answer.
    """
    import torch

    if most <= 1:
        torch.set_num_threads(1)
        return 1
    many, one = _probe_seconds(most), _probe_seconds(1)
    best = most if many < one else 1
    torch.set_num_threads(best)
    return best


def thread_tuner(training: TrainingConfig, device: torch.device | None = None) -> Any:
    """A ``TrainerCallback`` that re-picks 1 thread or all every few steps, or None.

    None unless ``training.tune_threads`` is on; also None when ``training.threads``
    is set (the user's choice stands), there is one core, or the model trains on a
    GPU (the CPU threads then only feed it).
    The caller restores torch's thread count after training.

    Args:
        training: Shared settings.
        device: Where the model trains (default: :func:`alignlab.models.compute_device`).

    Returns:
        The callback, or None.
    """
    import torch
    from transformers import TrainerCallback

    most = torch.get_num_threads()
    if not training.tune_threads or training.threads is not None or most <= 1:
        return None
    if (device if device is not None else compute_device()).type != "cpu":
        return None

    class _ThreadTuner(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if state.global_step % THREAD_PROBE_EVERY == 0:
                best_thread_count(most)

    return _ThreadTuner()


def trainer_callbacks(
    curve: list[LossPoint],
    on_step: StepCallback | None,
    training: TrainingConfig,
    device: torch.device | None = None,
) -> list[Any]:
    """The loss logger, plus the thread tuner when ``training`` asks for it (CPU only)."""
    callbacks = [loss_callback(curve, on_step)]
    tuner = thread_tuner(training, device)
    if tuner is not None:
        callbacks.append(tuner)
    return callbacks


def set_training_threads(training: TrainingConfig) -> int:
    """Set torch's thread count for a training run: ``training.threads``, or every core.

    Always set, never inherited: float sums depend on the thread count, so a run
    that inherited whatever an earlier call in the same process left (a probe fit
    on one thread, a tuned run) would not be bit-identical to the same run in a
    fresh process.

    Returns:
        The thread count set.
    """
    import os

    import torch

    threads = training.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


@contextmanager
def restored_threads() -> Iterator[None]:
    """Put torch's thread count back as it was (the tuner changes it while training)."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def silence_printer(trainer: Any) -> Any:
    """Remove the callback that prints every step's log dict to stdout.

    ``disable_tqdm=True`` (no progress bars in our output) makes transformers
    add a ``PrinterCallback`` instead, which prints ``{'loss': ...}`` lines;
    alignlab reports progress through ``on_step`` and records the loss curve in
    the manifest, so those lines are only noise in the CLI and experiment view.
    """
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer
