"""A reward model's own settings, and the manifest written next to its weights.

The shared :class:`alignlab.training.TrainingConfig` (LoRA shape, seed, token
budget, optimiser) is the same for every reward-model kind and every method,
so a classic and a CLoud reward model trained with the same settings are
compared at matched training tokens; a kind's own knobs live in its own
config, a subclass of :class:`RewardModelConfig` (which holds the data
settings every kind shares: which pair families, how many eval items).
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from alignlab.rewards._pairs import PAIR_FAMILIES, PairFamily
from alignlab.training import GuardReport, LearningCheck, LossPoint, TrainingConfig

RM_MANIFEST_VERSION: Final = 1
"""Current :class:`RewardManifest` schema version."""

RM_MANIFEST: Final = "rm_manifest.json"
"""The manifest's file name: written last; a directory without it is not a finished run."""


class RewardModelConfig(BaseModel):
    """Base class of every reward-model kind's own configuration (extra keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    families: tuple[PairFamily, ...] = Field(default=PAIR_FAMILIES, min_length=1)
    """Gold-labelled pair families to train on (see :mod:`alignlab.rewards._pairs`)."""
    n_items: int = Field(default=0, ge=0)
    """Eval items drawn per source eval; 0 sizes the draw to the token budget."""


class RewardManifest(BaseModel):
    """What a trained reward model is and how to reproduce it (``rm_manifest.json``).

    Written last, atomically, after every other file of the run, whose SHA-256
    it records in :attr:`files`.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = RM_MANIFEST_VERSION
    """Schema version."""
    kind: str
    """Registered reward-model kind (``classic``, ...)."""
    params: dict[str, object]
    """The kind's own configuration, validated."""
    training: TrainingConfig
    """Shared training settings (same meaning as for methods)."""
    base: str
    """Base model spec as given."""
    base_weights: str
    """Resolved local weights directory of the base."""
    base_weights_sha256: str | None
    """Hash of the base's weight files: scoring on other weights is refused."""
    families: list[str]
    """Pair families trained on."""
    dataset_sha256: str
    """Hash of the exact training pairs (after the budget cut)."""
    n_pairs: int = Field(ge=0)
    """Training pairs used."""
    tokens_seen: int = Field(ge=0)
    """Tokens processed (``classic``: per pair the prompt with each reply, times epochs, as
    ``dpo``; ``cloud``: its critiques and their generation too; see each kind's module)."""
    loss_curve: list[LossPoint]
    """Loss at every optimiser step."""
    wall_time_s: float
    """Wall-clock seconds of data building plus training."""
    library_versions: dict[str, str]
    """torch, transformers, peft, trl, alignlab versions."""
    created_at: str
    """UTC timestamp, ISO 8601."""
    device: str
    """Where it was trained (``cpu``, ``cuda:0``)."""
    leakage_guard: GuardReport
    """Evals whose test/heldout prompts the training pairs were checked against."""
    learning_check: LearningCheck | None = None
    """Whether training moved the kind's own objective (see the kind's module)."""
    notes: list[str] = Field(default_factory=list)
    """What the run reported while building data or training."""
    files: dict[str, str] = Field(default_factory=dict)
    """SHA-256 of every other file of the run, by relative path."""
