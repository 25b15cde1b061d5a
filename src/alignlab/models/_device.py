"""Where models run and in which precision: the one place that decides.

Loading (:func:`alignlab.models.load_model`), the provider's engine (which
follows the model's weights), training (:mod:`alignlab.training`) and
``alignlab models`` all ask :func:`compute_device` and :func:`compute_dtype`,
so inference and training never disagree about the device.

- **Device.** The first CUDA device when torch sees one, else the CPU.
  ``ALIGNLAB_DEVICE`` overrides it: ``cpu`` forces the CPU even where CUDA
  exists (e.g. to reproduce CPU numbers bit for bit: adapters and scores are
  bit-identical only on the same kind of device), ``cuda`` demands a GPU and
  fails in one line without one, ``auto`` (or unset) picks as above.  Only
  ``cuda`` (device 0), not ``cuda:N``: the trainer puts a model on device 0
  whatever the model says, so to choose a GPU, set ``CUDA_VISIBLE_DEVICES``.
- **Precision.** fp32 on the CPU (bf16 there is emulated and slow, and fp32 is
  what the committed golden numbers were made with).  bf16 on a GPU that has
  it natively (compute capability 8.0 and up): it has fp32's exponent range,
  so nothing overflows, and it halves memory and runs on tensor cores.  Not
  fp16 on older GPUs: its 5-bit exponent overflows in the activations of some
  small chat models (Qwen2-family ones are known to) and training would need
  loss scaling; those GPUs get fp32, which is always right, and the models
  here are small enough for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from alignlab._errors import AlignlabError

if TYPE_CHECKING:
    import torch

DEVICE_ENV: Final = "ALIGNLAB_DEVICE"
"""Environment variable that overrides :func:`compute_device`."""

DEVICE_CHOICES: Final = ("auto", "cpu", "cuda")
"""Values :data:`DEVICE_ENV` may take (case-insensitive; unset or empty means ``auto``)."""


def _device_choice() -> str:
    """The validated value of :data:`DEVICE_ENV` (``auto`` when unset or empty).

    Raises:
        AlignlabError: One line, if the value is not one of :data:`DEVICE_CHOICES`.
    """
    raw = os.environ.get(DEVICE_ENV, "")
    choice = raw.strip().lower() or "auto"
    if choice not in DEVICE_CHOICES:
        raise AlignlabError(
            f"{DEVICE_ENV}={raw!r} is not a device alignlab uses; choose one of "
            f"{', '.join(DEVICE_CHOICES)} (to pick a GPU, set CUDA_VISIBLE_DEVICES)"
        )
    return choice


def compute_device() -> torch.device:
    """The device models are loaded and trained on.

    Returns:
        ``cuda:0`` when CUDA is available (and :data:`DEVICE_ENV` is not ``cpu``),
        else ``cpu``.

    Raises:
        AlignlabError: If :data:`DEVICE_ENV` is not one of :data:`DEVICE_CHOICES`,
            or is ``cuda`` while torch sees no CUDA device.
    """
    import torch

    choice = _device_choice()
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if choice == "cuda":
        raise AlignlabError(
            f"{DEVICE_ENV}=cuda, but torch {torch.__version__} sees no CUDA device "
            f"(CUDA build: {torch.version.cuda or 'none'}); unset {DEVICE_ENV} to use the CPU"
        )
    return torch.device("cpu")


def compute_dtype(device: torch.device) -> torch.dtype:
    """The precision models compute in on ``device`` (see the module docstring for why).

    Inference loads the weights in this dtype; training keeps fp32 weights (the
    LoRA adapters are trained and saved in fp32) and autocasts to it.

    Args:
        device: Where the model runs (from :func:`compute_device`).

    Returns:
        ``torch.bfloat16`` on a CUDA device with native bf16, else ``torch.float32``.
    """
    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float32


def device_summary() -> str:
    """The device and precision in one line, as ``alignlab models`` prints it.

    Returns:
        ``cpu``, or e.g. ``cuda:0 (NVIDIA H200, bfloat16)``.

    Raises:
        AlignlabError: As :func:`compute_device`.
    """
    import torch

    device = compute_device()
    if device.type != "cuda":
        return str(device)
    name = torch.cuda.get_device_name(device)
    dtype = str(compute_dtype(device)).removeprefix("torch.")
    return f"{device} ({name}, {dtype})"
