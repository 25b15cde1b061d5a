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
    library_versions,
    lora_model,
    model_device,
    restored_threads,
    silence_printer,
    thread_tuner,
    trainer_callbacks,
    training_args,
)
from alignlab.training._config import (
    DEFAULT_LORA_TARGETS,
    MANIFEST_VERSION,
    LearningCheck,
    LossPoint,
    Manifest,
    TrainingConfig,
)
from alignlab.training._dpo import (
    DPO_BETA,
    DPO_CHECK_MIN_MARGIN,
    DPO_CHECK_PAIRS,
    DPO_MICRO_BATCH,
    check_indices,
    micro_batch,
    pair_tokens,
    preference_check,
    reply_logps,
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
from alignlab.training._grpo import (
    Reward,
    RLData,
    prompt_length,
    reply_text,
    reward_check,
    run_grpo,
)
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
    SFT_CHECK_MIN,
    SFT_CHECK_MIN_FALL,
    SFT_CHECK_SHARE,
    budgeted,
    completion_loss,
    held_back,
    heldout_loss,
    loss_check,
    packed_sdpa,
    run_sft,
    tokenize_sft,
    use_packed_attention,
)

__all__ = [
    "DEFAULT_LORA_TARGETS",
    "DPO_BETA",
    "DPO_CHECK_MIN_MARGIN",
    "DPO_CHECK_PAIRS",
    "DPO_MICRO_BATCH",
    "GUARD_SEEDS",
    "MANIFEST_VERSION",
    "PACKED_ATTENTION",
    "SFT_CHECK_MIN",
    "SFT_CHECK_MIN_FALL",
    "SFT_CHECK_SHARE",
    "Example",
    "GuardReport",
    "Job",
    "LearningCheck",
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
    "check_indices",
    "check_no_leakage",
    "completion_loss",
    "cpu_training_args",
    "dataset_sha256",
    "get_runner",
    "held_back",
    "heldout_loss",
    "kinds",
    "library_versions",
    "lora_model",
    "loss_check",
    "micro_batch",
    "model_device",
    "packed_sdpa",
    "pair_tokens",
    "preference_check",
    "prompt_length",
    "protected_hashes",
    "protection",
    "reply_logps",
    "reply_text",
    "restored_threads",
    "reward_check",
    "run",
    "run_dpo",
    "run_grpo",
    "run_sft",
    "runner",
    "silence_printer",
    "thread_tuner",
    "tokenize_pair",
    "tokenize_sft",
    "trainer_callbacks",
    "training_args",
    "use_packed_attention",
    "user_text",
]
