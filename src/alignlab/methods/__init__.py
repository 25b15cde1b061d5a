"""Alignment methods: post-training recipes that turn one base model into variants.

A method is one module with one ``@method`` decorator on a *data builder*
(its own pydantic config + the data it trains on) and a training *kind*
(``none``, ``sft``, ``dpo``, ``grpo``).  :func:`train` builds the data and
hands it to :func:`alignlab.training.run`, which owns everything kinds share
(tokenising, the token budget, LoRA, the TRL trainer of the kind, the leakage
guard), then writes the adapter and the manifest, so variants differ only in
the method.  The training types are re-exported here for existing callers.
"""

from alignlab.evals import CANARY
from alignlab.methods._config import MethodConfig
from alignlab.methods._evaldata import shortcut_fit
from alignlab.methods._loophole import GradedPrompt, graded_prompts, loophole_reward
from alignlab.methods._registry import (
    BuildContext,
    MethodInfo,
    get_method,
    method,
    registered_methods,
    unregister,
)
from alignlab.methods._train import (
    read_manifest,
    split_params,
    train,
    validate_request,
    verify_run,
)
from alignlab.training import (
    GuardReport,
    LossPoint,
    Manifest,
    PreferenceExample,
    SFTExample,
    TrainingConfig,
    check_no_leakage,
    dataset_sha256,
)

__all__ = [
    "CANARY",
    "BuildContext",
    "GradedPrompt",
    "GuardReport",
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
    "graded_prompts",
    "loophole_reward",
    "method",
    "read_manifest",
    "registered_methods",
    "shortcut_fit",
    "split_params",
    "train",
    "unregister",
    "validate_request",
    "verify_run",
]
