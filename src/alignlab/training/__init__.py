"""Training kinds: the trainers that turn a method's data into a LoRA adapter.

A method (:mod:`alignlab.methods`) builds data; this package trains on it.
Each training kind (``none``, ``sft``, ``dpo``, ``grpo``) is one module with one
``@runner`` decorator, and :func:`run` is the single entry point for all of
them: it checks the data's type, runs the leakage guard once
(:func:`check_no_leakage`: no eval's test/heldout prompt, no canary), builds a
fresh LoRA model of the base with the shared :class:`TrainingConfig`, calls
the kind's runner and saves the adapter.  Adding KTO or ORPO is one new module.

Import direction: ``alignlab.methods -> alignlab.training -> alignlab.evals ->
alignlab.models``; nothing here imports :mod:`alignlab.methods`.
"""

from alignlab.training._common import (
    Penalty,
    StepCallback,
    TrainOutcome,
    best_thread_count,
    cpu_training_args,
    lora_model,
    restored_threads,
    thread_tuner,
    trainer_callbacks,
)
from alignlab.training._config import (
    DEFAULT_LORA_TARGETS,
    MANIFEST_VERSION,
    LossPoint,
    Manifest,
    TrainingConfig,
)
from alignlab.training._dpo import (
    DPO_BETA,
    DPO_MICRO_BATCH,
    micro_batch,
    pair_tokens,
    run_dpo,
    tokenize_pair,
)
from alignlab.training._examples import (
    Example,
    Message,
    PreferenceExample,
    SFTExample,
    dataset_sha256,
    user_text,
)
from alignlab.training._grpo import Reward, RLData, prompt_length, reply_text, run_grpo
from alignlab.training._guard import (
    GUARD_SEEDS,
    GuardReport,
    Protection,
    check_no_leakage,
    protected_hashes,
    protection,
)
from alignlab.training._runners import Job, Runner, get_runner, kinds, run, runner
from alignlab.training._sft import (
    PACKED_ATTENTION,
    budgeted,
    completion_loss,
    packed_sdpa,
    run_sft,
    tokenize_sft,
    use_packed_attention,
)

__all__ = [
    "DEFAULT_LORA_TARGETS",
    "DPO_BETA",
    "DPO_MICRO_BATCH",
    "GUARD_SEEDS",
    "MANIFEST_VERSION",
    "PACKED_ATTENTION",
    "Example",
    "GuardReport",
    "Job",
    "LossPoint",
    "Manifest",
    "Message",
    "Penalty",
    "PreferenceExample",
    "Protection",
    "RLData",
    "Reward",
    "Runner",
    "SFTExample",
    "StepCallback",
    "TrainOutcome",
    "TrainingConfig",
    "best_thread_count",
    "budgeted",
    "check_no_leakage",
    "completion_loss",
    "cpu_training_args",
    "dataset_sha256",
    "get_runner",
    "kinds",
    "lora_model",
    "micro_batch",
    "packed_sdpa",
    "pair_tokens",
    "prompt_length",
    "protected_hashes",
    "protection",
    "reply_text",
    "restored_threads",
    "run",
    "run_dpo",
    "run_grpo",
    "run_sft",
    "runner",
    "thread_tuner",
    "tokenize_pair",
    "tokenize_sft",
    "trainer_callbacks",
    "use_packed_attention",
    "user_text",
]
