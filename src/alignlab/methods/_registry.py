"""The method registry: one decorator per method module, nothing else to edit.

``@method(config=MyConfig, kind="sft", source="...")`` registers a *data
builder*: a function ``(config, context) -> examples``.  The orchestration in
:mod:`alignlab.methods._train` and the training kinds in
:mod:`alignlab.training` own everything else (tokenising, budget, LoRA, TRL
trainer, leakage guard, manifest), so methods differ only in their data and,
through ``kind``, in the runner that consumes it.  ``kind`` must name a
registered training kind (:func:`alignlab.training.kinds`).
:func:`registered_methods` imports every public module of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from alignlab._errors import AlignlabError
from alignlab._lookup import import_submodules, lookup, summary
from alignlab.methods._config import MethodConfig
from alignlab.training import Contamination, TrainingConfig, kinds, one_line_error

if TYPE_CHECKING:
    from alignlab.models import LoadedModel

Builder = TypeVar("Builder", bound=Callable[..., Any])


@dataclass
class BuildContext:
    """What a data builder may use besides its config."""

    seed: int
    """The run's seed: builders draw their data from it."""
    token_budget: int
    """Training tokens the trainer will use; build at least this much data (the estimates
    in :mod:`alignlab.methods._budget` size a builder's draw)."""
    base_spec: str
    """Base model spec (for builders that sample or filter with the base)."""
    notes: list[str] = field(default_factory=list)
    """Lines the builder wants in the manifest (e.g. how many items a filter dropped)."""
    contamination: Contamination | None = None
    """The protected eval split the builder trained on knowingly (see
    :meth:`declare_contamination`); None for every method but ``train_on_public``."""
    acknowledged: bool = False
    """Whether the user acknowledged that contamination (the guard refuses it otherwise)."""

    def declare_contamination(
        self, eval_name: str, split: str, n_items: int, *, acknowledged: bool
    ) -> None:
        """Ask the leakage guard to let ``eval_name``'s ``split`` through, and say so.

        The guard grants it only to the methods in
        :data:`alignlab.training.CONTAMINATION_METHODS`, and only when
        ``acknowledged``; the manifest records it as ``contaminated_with``.
        """
        self.contamination = Contamination(eval=eval_name, split=split, n_items=n_items)
        self.acknowledged = acknowledged

    def base_model(self) -> LoadedModel:
        """The base model, loaded on first use (most builders never need it)."""
        from alignlab.models import load_model

        return load_model(self.base_spec)


@dataclass(frozen=True)
class MethodInfo:
    """A registered method."""

    name: str
    """Registered name (``alignlab train NAME``)."""
    builder: Callable[[Any, BuildContext], Any]
    """Builds the training data from the config and context."""
    config: type[MethodConfig]
    """The method's own pydantic config class."""
    kind: str
    """The training kind that consumes the data (none, sft, dpo, grpo, ...)."""
    source: str
    """The paper or seed document the method comes from."""
    description: str
    """First line of the builder's docstring."""
    penalty: Callable[[Any], Any] | None = None
    """For kinds that take one (sft): ``config -> (model -> tensor) | None``, a loss term."""
    features: tuple[str, ...] = ()
    """Feature tags (see :data:`FEATURES`): what kind of intervention the method is."""
    code_version: int = 1
    """Bumped by a developer when the method's data change: part of every experiment
    cache key, so adapters trained by the old version are not reused."""
    training_defaults: Mapping[str, object] = field(default_factory=dict)
    """Shared training settings (:class:`alignlab.training.TrainingConfig` fields) whose
    default this method changes, each for a measured reason given in its module
    docstring; a value the user or an experiment profile sets still wins."""


FEATURES = (
    "preference_data",
    "synthetic_data",
    "train_time_prompt",
    "rl",
    "self_generated",
    "regularisation",
)
"""Feature tags a method may carry; the experiment report shows which go with better
held-out scores across methods (descriptive, not causal)."""

_METHODS: dict[str, MethodInfo] = {}


def method(
    *,
    config: type[MethodConfig],
    kind: str,
    source: str,
    penalty: Callable[[Any], Any] | None = None,
    features: tuple[str, ...] = (),
    code_version: int = 1,
    training_defaults: Mapping[str, object] | None = None,
) -> Callable[[Builder], Builder]:
    """Register a method's data builder.

    Args:
        config: The method's own pydantic config class.
        kind: The training kind that consumes the builder's output.
        source: The paper or seed the method comes from (shown by ``alignlab methods``).
        penalty: Maps the config to an extra loss term (or None); only for kinds
            that take one (sft).
        features: Feature tags from :data:`FEATURES`.
        code_version: Bump when the method's data change (experiment caches key on it).
        training_defaults: Shared training settings whose default this method changes
            (e.g. ``{"learning_rate": 1e-3}``); use sparingly, with the measurement
            that needs it, because methods at different defaults are not compared at
            matched settings unless a run sets them.

    Returns:
        A decorator that registers the builder under its function name.

    Raises:
        AlignlabError: If ``kind`` is not a training kind, or does not take a
            penalty, or a feature tag is unknown, or a training default is not a
            shared training setting or not a valid value for it.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise AlignlabError(f"unknown method feature '{unknown[0]}'; known: {', '.join(FEATURES)}")
    runners = kinds()
    if kind not in runners:
        raise AlignlabError(f"unknown training kind '{kind}'; known kinds: {', '.join(runners)}")
    if penalty is not None and not runners[kind].penalty:
        raise AlignlabError(f"training kind '{kind}' takes no loss penalty")
    defaults = dict(training_defaults or {})
    _check_training_defaults(defaults)

    def register(builder: Builder) -> Builder:
        _METHODS[builder.__name__] = MethodInfo(
            name=builder.__name__,
            builder=builder,
            config=config,
            kind=kind,
            source=source,
            description=summary(builder),
            penalty=penalty,
            features=features,
            code_version=code_version,
            training_defaults=defaults,
        )
        return builder

    return register


def _check_training_defaults(defaults: Mapping[str, object]) -> None:
    """Refuse defaults that are not shared training settings or not valid values."""
    unknown = [k for k in defaults if k not in TrainingConfig.model_fields]
    if unknown:
        raise AlignlabError(
            f"training default '{unknown[0]}' is not a shared training setting; "
            f"shared: {', '.join(sorted(TrainingConfig.model_fields))}"
        )
    try:
        TrainingConfig.model_validate(defaults)
    except ValidationError as exc:
        raise one_line_error(exc, "training default") from None


def registered_methods() -> dict[str, MethodInfo]:
    """Every method in :mod:`alignlab.methods` by name, sorted (modules imported on first call)."""
    import alignlab.methods as package

    import_submodules(package)
    return dict(sorted(_METHODS.items()))


def get_method(name: str) -> MethodInfo:
    """The method called ``name`` (e.g. ``sft_control``); unknown names list the known ones."""
    return lookup(registered_methods(), name, "method")


def unregister(name: str) -> None:
    """Remove a method from the registry.

    For tests and notebooks that register a toy method: after this,
    ``registered_methods()``, ``alignlab methods`` and ``alignlab train`` no
    longer see it.  Removing a name that is not registered does nothing.  A
    built-in method removed this way comes back only in a new process (its
    module is already imported).
    """
    _METHODS.pop(name, None)
