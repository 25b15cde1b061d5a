"""Training settings shared by every method, and the manifest written next to an adapter.

The shared :class:`TrainingConfig` is what makes variants comparable: same
LoRA shape, same seed, same token budget, same optimiser, whatever the method
and whatever the training kind.  A method's own knobs live in its own pydantic
config (:class:`alignlab.methods.MethodConfig`).  Both are validated by
pydantic, so the CLI, experiment specs and the Python API share one definition
of what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alignlab._errors import AlignlabError
from alignlab.training._guard import Contamination, GuardReport

MANIFEST_VERSION = 2
"""Current :class:`Manifest` schema version."""

DEFAULT_LORA_TARGETS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


class TrainingConfig(BaseModel):
    """Settings every method shares, so variants differ only in the method."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    seed: int = 0
    """Seed for data generation, LoRA initialisation and data order."""
    token_budget: int = Field(default=24_000, gt=0)
    """Training tokens (prompt + completion, no padding) per epoch; later examples are dropped."""
    epochs: int = Field(default=1, gt=0)
    """Passes over the budgeted examples."""
    learning_rate: float = Field(default=2e-4, gt=0, le=1.0)
    """AdamW learning rate (linear decay, no warm-up)."""
    batch_size: int = Field(default=8, gt=0)
    """Examples per optimiser step (packed without padding)."""
    max_length: int = Field(default=384, ge=16)
    """Longest example in tokens; longer ones are truncated."""
    lora_r: int = Field(default=16, gt=0)
    """LoRA rank."""
    lora_alpha: int = Field(default=32, gt=0)
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """LoRA dropout; 0 keeps training bit-deterministic."""
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    """Module names that get LoRA adapters."""
    threads: int | None = Field(default=None, gt=0)
    """torch threads; None uses every core."""
    tune_threads: bool = False
    """Re-measure every few steps whether 1 thread or all cores is faster, and switch.

    Faster on a busy shared CPU (there, two threads waiting on each other were up
    to 14x slower than one), but the adapter then depends on the machine's load:
    floating-point reductions split differently, so weights can differ from an
    untuned run in the sixth decimal.  Off (the default), same-seed runs on one
    machine are bit-identical.  Ignored when ``threads`` is set.
    """


class LossPoint(BaseModel):
    """One logged training step."""

    step: int
    """Optimiser step (1-based)."""
    loss: float
    """Training loss at that step."""


class LearningCheck(BaseModel):
    """Whether training moved the method's own training signal the way it should.

    A variant that learned nothing makes every comparison with it meaningless, so
    each training kind measures its objective on its own data before and after
    training (``none`` trains nothing and has no check):

    - ``sft``: mean completion loss (nats per token) on a held-back slice of the
      budgeted examples, which is not trained on; passed when it falls (by more
      than rounding: ``SFT_CHECK_MIN_FALL``).
    - ``dpo``: implicit-reward preference accuracy on train pairs (up to
      ``DPO_CHECK_PAIRS``, drawn by the seed), the share whose margin (policy
      minus reference log-ratio, chosen minus rejected) is positive, ties counting
      half; the untrained adapter is the identity, so every margin starts at 0 and
      ``before`` is 0.5.  Passed when ``after`` > 0.5 and the mean margin is
      positive (above ``DPO_CHECK_MIN_MARGIN``).
    - ``grpo``: mean reward of replies sampled for the same train prompts
      (``GRPO_CHECK_PROMPTS``, drawn by the seed) with the same sampling seed
      before and after training; passed when it rises with a one-sided
      Mann-Whitney p below ``GRPO_CHECK_MAX_P``.

    A failed check does not fail the run; the CLI and the manifest show it.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    """Training kind that ran the check (``sft``, ``dpo``, ``grpo``)."""
    metric: str
    """What was measured, e.g. ``heldout_completion_loss``."""
    before: float
    """The metric before training."""
    after: float
    """The metric after training."""
    passed: bool
    """Whether the metric moved the way learning moves it."""
    detail: str = ""
    """What it was measured on, in words (and why it failed, when it did)."""

    def line(self) -> str:
        """One line for people: ``passed (metric 0.690 -> 0.412; detail)`` or ``FAILED (...)``."""
        verdict = "passed" if self.passed else "FAILED"
        detail = f"; {self.detail}" if self.detail else ""
        return f"{verdict} ({self.metric} {self.before:.3f} -> {self.after:.3f}{detail})"


class Manifest(BaseModel):
    """Everything needed to know what an adapter is and to reproduce it.

    Written last, atomically: a directory without a manifest is not a finished run.
    Version 2 added :attr:`files`, :attr:`device` and :attr:`base_weights_sha256`;
    a version-1 manifest still reads (those fields empty) but vouches for no file.
    """

    version: int = MANIFEST_VERSION
    """Manifest schema version (1: no file hashes; 2: :attr:`files` vouches for the run)."""
    method: str
    """Registered method name."""
    params: dict[str, object]
    """The method's own configuration, validated."""
    training: TrainingConfig
    """Shared training settings."""
    base: str
    """Base model spec as given."""
    base_weights: str
    """Resolved local weights directory of the base."""
    base_weights_sha256: str | None = None
    """Hash of the base's weight files (see :func:`alignlab.models.weights_sha256`): an
    adapter loads on any copy of the same weights, wherever it lives (None in version 1)."""
    seed: int
    """Same as ``training.seed``; repeated for quick reading."""
    dataset_sha256: str
    """Hash of the exact training examples (after the budget cut)."""
    n_examples: int
    """Training examples (or prompts for RL) used."""
    tokens_seen: int
    """Tokens processed by training: budgeted example tokens times epochs (RL: prompt + sampled)."""
    loss_curve: list[LossPoint]
    """Loss at every optimiser step."""
    wall_time_s: float
    """Wall-clock seconds of data building plus training."""
    library_versions: dict[str, str]
    """torch, transformers, peft, trl, alignlab versions."""
    created_at: str
    """UTC timestamp, ISO 8601."""
    notes: list[str] = Field(default_factory=list)
    """What the method reported while building data (e.g. filtered counts)."""
    leakage_guard: GuardReport | None = None
    """Evals the leakage guard checked the data against, and those it skipped and why
    (None in manifests written before the guard reported)."""
    device: str | None = None
    """Where the adapter was trained, e.g. ``cpu`` or ``cuda:0`` (None in version 1)."""
    learning_check: LearningCheck | None = None
    """Whether the variant learned what it was taught (see :class:`LearningCheck`); None
    for the ``none`` kind, runs too small to hold data back, and manifests written
    before the check existed."""
    contaminated_with: Contamination | None = None
    """The eval split this run trained on knowingly (``train_on_public`` only): its
    scores on that split are not evidence of anything.  None: no eval item was trained on."""
    files: dict[str, str] = Field(default_factory=dict)
    """SHA-256 of every file of the run but ``manifest.json``, by relative path; checked
    when the run is reused or its adapter loaded (empty in version 1: unverified)."""


OwnConfig = TypeVar("OwnConfig", bound=BaseModel)


def one_line_error(exc: ValidationError, where: str) -> AlignlabError:
    """A pydantic error as one line: ``bad WHERE 'field': message (got value)``."""
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "value"
    return AlignlabError(f"bad {where} '{field}': {error['msg']} (got {error.get('input')!r})")


def split_training_params(
    what: str, name: str, own_type: type[OwnConfig], params: Mapping[str, object]
) -> tuple[OwnConfig, TrainingConfig]:
    """Validate ``params`` into a kind's own config and the shared :class:`TrainingConfig`.

    Keys that name a ``TrainingConfig`` field go there; the rest belong to the
    kind (a method, a reward model).

    Args:
        what: What the kind is, for messages (``method``, ``reward model``).
        name: The kind's name.
        own_type: Its config class.
        params: Parameters by name.

    Raises:
        AlignlabError: On an unknown key (listing the valid ones) or a bad value.
    """
    shared, own = set(TrainingConfig.model_fields), set(own_type.model_fields)
    unknown = [k for k in params if k not in shared | own]
    if unknown:
        raise AlignlabError(
            f"unknown parameter '{unknown[0]}' for {what} '{name}'; its parameters: "
            f"{', '.join(sorted(own)) or '(none)'}; shared: {', '.join(sorted(shared))}"
        )
    try:
        config = own_type.model_validate({k: v for k, v in params.items() if k in own})
    except ValidationError as exc:
        raise one_line_error(exc, f"parameter of '{name}':") from None
    try:
        training = TrainingConfig.model_validate({k: v for k, v in params.items() if k in shared})
    except ValidationError as exc:
        raise one_line_error(exc, "training parameter") from None
    return config, training
