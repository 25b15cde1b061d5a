"""Alignment methods: post-training recipes that turn one base model into variants.

A method is one module with one ``@method`` decorator on a *data builder*
(its own pydantic config + the data it trains on); the shared trainer
(:func:`train`) does tokenising, the token budget, LoRA, the TRL trainer for
the method's kind (SFT, DPO, GRPO), the leakage guard and the manifest, so
variants differ only in the method.
"""

from alignlab.methods._config import LossPoint, Manifest, MethodConfig, TrainingConfig
from alignlab.methods._data import (
    CANARY,
    PreferenceExample,
    SFTExample,
    check_no_leakage,
    dataset_sha256,
)
from alignlab.methods._registry import (
    BuildContext,
    MethodInfo,
    get_method,
    method,
    registered_methods,
)
from alignlab.methods._train import read_manifest, split_params, train, validate_request

__all__ = [
    "CANARY",
    "BuildContext",
    "LossPoint",
    "Manifest",
    "MethodConfig",
    "MethodInfo",
    "PreferenceExample",
    "SFTExample",
    "TrainingConfig",
    "check_no_leakage",
    "dataset_sha256",
    "get_method",
    "method",
    "read_manifest",
    "registered_methods",
    "split_params",
    "train",
    "validate_request",
]
