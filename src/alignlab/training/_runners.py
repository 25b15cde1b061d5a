"""Training kinds: one runner per kind, and the one entry point that guards and dispatches.

A *kind* says how a method's data is trained: ``none`` (an identity adapter),
``sft``, ``dpo``, ``grpo``.  Each kind is one module of this package whose
train function carries ``@runner("kind", expects=..., guarded=...)``; the
module says what data the kind trains on and which examples of it the leakage
guard must see.  :func:`kinds` imports every module of the package, so adding
KTO or ORPO is one new file.

:func:`run` is the only way in, for every kind: it checks the data's type,
runs the leakage guard once (:func:`~alignlab.training.check_no_leakage`),
builds a fresh LoRA model of the base on :func:`alignlab.models.compute_device`
(the GPU when there is one), calls the kind's runner and saves the adapter.
No runner calls the guard itself; a runner creates its tensors on the model's
device and takes its trainer arguments from
:func:`~alignlab.training.training_args`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alignlab._errors import AlignlabError
from alignlab._lookup import import_submodules, lookup
from alignlab.models import compute_device
from alignlab.training._common import (
    Penalty,
    StepCallback,
    TrainOutcome,
    lora_model,
    model_device,
)
from alignlab.training._config import TrainingConfig
from alignlab.training._examples import Example
from alignlab.training._guard import GuardExemption, check_no_leakage


@dataclass(frozen=True)
class Job:
    """Everything a runner gets: the model to train, the data and the shared settings."""

    model: Any
    """A PEFT model: the base with fresh LoRA adapters (trained in place)."""
    tokenizer: Any
    """The base's tokenizer."""
    data: Any
    """What the method's builder returned (its type already checked against the kind)."""
    training: TrainingConfig
    """Shared training settings."""
    workdir: Path
    """Scratch directory for the trainer."""
    on_step: StepCallback | None = None
    """Progress hook called after each optimiser step."""
    penalty: Penalty | None = None
    """Extra loss term (only for kinds registered with ``penalty=True``)."""


TrainFunction = Callable[[Job], TrainOutcome]
Guarded = Callable[[Any], Sequence[Example] | None]
"""``data -> examples the leakage guard checks``, or None when ``data`` is not of the kind."""


@dataclass(frozen=True)
class Runner:
    """A registered training kind."""

    kind: str
    """Name methods give as ``kind``."""
    train: TrainFunction
    """Trains ``job.model`` in place and reports what it trained on."""
    expects: str
    """What a builder of this kind returns, in words (for error messages)."""
    guarded: Guarded
    """The examples in the data that the leakage guard checks (None: wrong data type)."""
    penalty: bool = False
    """Whether the kind adds a method's penalty term to its loss."""


_RUNNERS: dict[str, Runner] = {}


def runner(
    kind: str, *, expects: str, guarded: Guarded, penalty: bool = False
) -> Callable[[TrainFunction], TrainFunction]:
    """Register a training kind's runner.

    Args:
        kind: The kind's name (what ``@method(kind=...)`` refers to).
        expects: What a builder of this kind must return, in words.
        guarded: Maps the builder's data to the examples the leakage guard checks,
            or to None if the data is not of this kind.
        penalty: Whether the runner honours ``Job.penalty``.

    Returns:
        A decorator that registers the function and returns it unchanged.
    """

    def register(train: TrainFunction) -> TrainFunction:
        _RUNNERS[kind] = Runner(kind, train, expects, guarded, penalty)
        return train

    return register


def kinds() -> dict[str, Runner]:
    """Every registered training kind, importing this package's modules on first call.

    Returns:
        Runners by kind, sorted by kind.
    """
    import alignlab.training as package

    import_submodules(package, public_only=False)
    return dict(sorted(_RUNNERS.items()))


def get_runner(kind: str) -> Runner:
    """Look up one training kind.

    Raises:
        AlignlabError: If there is no such kind (the message lists the known ones).
    """
    return lookup(kinds(), kind, "training kind", known="kinds")


def run(
    kind: str,
    data: Any,
    *,
    base_weights: Path,
    tokenizer: Any,
    training: TrainingConfig,
    workdir: Path,
    adapter_dir: Path,
    on_step: StepCallback | None = None,
    penalty: Penalty | None = None,
    source: str = "the data builder",
    exemption: GuardExemption | None = None,
) -> TrainOutcome:
    """Guard ``data``, train a fresh LoRA of ``base_weights`` on it, save the adapter.

    The one entry point for every kind: the data's type is checked, the leakage
    guard runs (once) before any model is built, and the outcome carries the
    guard's report of which evals it checked and skipped.

    Args:
        kind: A registered training kind (see :func:`kinds`).
        data: What the method's builder returned.
        base_weights: Local weights directory of the base.
        tokenizer: The base's tokenizer.
        training: Shared training settings.
        workdir: Scratch directory for the trainer.
        adapter_dir: Where the trained adapter is saved (``save_pretrained``).
        on_step: Progress hook called after each optimiser step.
        penalty: Extra loss term, for kinds that take one.
        source: Who built ``data``, for error messages (e.g. ``method 'dpo'``).
        exemption: The one protected eval split the guard lets through (a
            contamination run, :data:`~alignlab.training.CONTAMINATION_METHODS` only).

    Returns:
        Tokens seen, examples used, data hash, loss curve, the guard's report and
        the device trained on (``cpu`` or ``cuda:0``).

    Raises:
        AlignlabError: On an unknown kind, data of the wrong type, a penalty the kind
            does not take, leakage, a broken eval, a NaN loss, or a bad ``ALIGNLAB_DEVICE``.
    """
    entry = get_runner(kind)
    if penalty is not None and not entry.penalty:
        raise AlignlabError(f"{source}: training kind '{kind}' takes no loss penalty")
    examples = entry.guarded(data)
    if examples is None:
        raise AlignlabError(
            f"{source} must build {entry.expects} for kind '{kind}' (got {type(data).__name__})"
        )
    device = compute_device()  # a bad ALIGNLAB_DEVICE fails before the guard's work
    report = check_no_leakage(examples, exemption)
    model = lora_model(base_weights, training, device)
    job = Job(model, tokenizer, data, training, workdir, on_step, penalty)
    outcome = entry.train(job)
    model.save_pretrained(str(adapter_dir))
    return replace(outcome, leakage_guard=report, device=str(model_device(model)))
