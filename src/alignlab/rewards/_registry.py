"""The reward-model registry: one module per kind, one decorator, nothing else to edit.

``@reward_model(config=MyConfig, load=my_loader, source="...")`` registers a
kind's *trainer*, a function ``(config, job) -> TrainOutcome`` that trains on
the gold-labelled pairs of :class:`RewardJob` and writes its weights into
``job.out_dir``; ``load`` turns a finished run back into a :class:`Scorer`.
The orchestration in :mod:`alignlab.rewards._train` owns everything kinds
share (parameters, the leakage guard, the token budget's pairs, the atomic
output directory, the manifest, the base-model check), so a kind that scores
differently, e.g. CLoud (Ankner et al. 2024, arXiv:2408.11791: write a
critique, then score), is one new module with its own trainer and loader.
:func:`registered_reward_models` imports every public module of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from alignlab._lookup import import_submodules, lookup, summary
from alignlab.rewards._config import RewardModelConfig
from alignlab.rewards._pairs import PreferencePair
from alignlab.training import Message, StepCallback, TrainingConfig, TrainOutcome

Trainer = TypeVar("Trainer", bound=Callable[..., Any])


@dataclass(frozen=True)
class RewardJob:
    """What a kind's trainer gets: guarded train pairs, the base, the shared settings."""

    pairs: Sequence[PreferencePair]
    """Gold-labelled ``train`` pairs in order, already checked by the leakage guard; the
    trainer keeps the leading ones that fit ``training.token_budget``."""
    base_weights: Path
    """Local weights directory of the base."""
    tokenizer: Any
    """The base's tokenizer (with its chat template)."""
    training: TrainingConfig
    """Shared training settings."""
    workdir: Path
    """Scratch directory for the trainer (removed before the run is published)."""
    out_dir: Path
    """Where the trainer saves what its loader needs (adapter, head, ...)."""
    on_step: StepCallback | None = None
    """Progress hook called after each optimiser step."""


class Scorer(Protocol):
    """A loaded reward model: one scalar reward per (prompt, response)."""

    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        """Rewards of ``responses[i]`` as the assistant's reply to ``prompts[i]``."""
        ...


Loader = Callable[[Any, Path, Path, TrainingConfig], Scorer]
"""``(config, run_dir, base_weights, training) -> Scorer``."""


@dataclass(frozen=True)
class RewardModelInfo:
    """A registered reward-model kind."""

    name: str
    """Registered name (``alignlab rm train NAME``)."""
    train: Callable[[Any, RewardJob], TrainOutcome]
    """Trains on the job's pairs and saves into ``job.out_dir``."""
    load: Loader
    """Loads a finished run for scoring."""
    config: type[RewardModelConfig]
    """The kind's own pydantic config class."""
    source: str
    """The paper the kind comes from."""
    description: str
    """First line of the trainer's docstring."""
    code_version: int = 1
    """Bumped by a developer when the kind's training changes."""


_KINDS: dict[str, RewardModelInfo] = {}


def reward_model(
    *,
    config: type[RewardModelConfig],
    load: Loader,
    source: str,
    code_version: int = 1,
) -> Callable[[Trainer], Trainer]:
    """Register a reward-model kind's trainer under its function name.

    Args:
        config: The kind's own pydantic config class.
        load: Turns a finished run into a :class:`Scorer`.
        source: The paper the kind comes from (shown by ``alignlab rm list``).
        code_version: Bump when the kind's training changes.

    Returns:
        A decorator that registers the trainer and returns it unchanged.
    """

    def register(trainer: Trainer) -> Trainer:
        _KINDS[trainer.__name__] = RewardModelInfo(
            name=trainer.__name__,
            train=trainer,
            load=load,
            config=config,
            source=source,
            description=summary(trainer),
            code_version=code_version,
        )
        return trainer

    return register


def registered_reward_models() -> dict[str, RewardModelInfo]:
    """Every reward-model kind in :mod:`alignlab.rewards` by name, sorted."""
    import alignlab.rewards as package

    import_submodules(package)
    return dict(sorted(_KINDS.items()))


def get_reward_model(name: str) -> RewardModelInfo:
    """The kind called ``name``; unknown names list the known ones."""
    return lookup(registered_reward_models(), name, "reward-model kind", known="kinds")


def unregister(name: str) -> None:
    """Remove a kind from the registry (tests and notebooks that register a toy kind)."""
    _KINDS.pop(name, None)
