"""The spec expands to a graph of cells: train (base, variant, seed), then eval each adapter.

Planning does no training and no scoring: it validates every cell's inputs
(method configs with defaults filled in, eval task arguments), hashes them into
content-addressed keys (:mod:`alignlab.experiment._keys`) and names each
cell's artefact inside the run directory.  ``alignlab run --dry-run`` prints
the plan and which cells the store already has.

Every variant, ``none`` included, gets a train cell (``none`` trains an
identity adapter in seconds), so every eval row loads its model the same way.

Reward models of the spec get an ``rm_train`` cell per base and seed (at the
profile's token budget, like methods) and, per scoring split, an
``rm_accuracy`` cell, an ``rm_robustness`` cell and an ``rm_best_of_n`` cell,
each keyed on its own settings, so changing the best-of-N sizes reruns only
the best-of-N cells.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from alignlab import __version__
from alignlab.experiment._keys import (
    base_weights_sha256,
    canonical_json,
    cell_key,
    eval_data_hashes,
)
from alignlab.experiment._records import CellKind, CellRecord
from alignlab.experiment._spec import (
    REPORT_SETTINGS,
    REWARD_SETTINGS,
    LoadedSpec,
    RewardModelEntry,
    Variant,
)

ADAPTERS_DIR = "adapters"
"""Run-directory subfolder holding one adapter directory per train cell."""
REWARD_MODELS_DIR = "reward_models"
"""Run-directory subfolder holding one reward-model directory per ``rm_train`` cell."""
RM_PAIR_SEED = 0
"""Seed of the evaluation pairs' item draw: every reward model is scored on the same pairs."""
LOGS_DIR = "logs"
"""Run-directory subfolder holding the ``.eval`` logs of eval cells."""
KEY_PREFIX_CHARS = 16
"""Characters of a key used in artefact names (unique enough within a run, readable)."""


@dataclass(frozen=True)
class Cell:
    """What every cell has: its key and the document the key hashes."""

    key: str
    """Content-addressed key."""
    inputs: dict[str, Any]
    """The hashed input document."""


@dataclass(frozen=True)
class TrainCell(Cell):
    """Train one method variant on one base with one seed."""

    base: str
    """Base model spec."""
    variant: Variant
    """Method variant (method, params, label)."""
    seed: int
    """Training seed."""
    params: dict[str, Any]
    """Everything passed to ``alignlab.methods.train`` (variant params, profile budget, seed)."""

    @property
    def adapter_dir(self) -> str:
        """The adapter's directory, relative to the run directory."""
        return f"{ADAPTERS_DIR}/{self.variant.method}-{self.key[:KEY_PREFIX_CHARS]}"


@dataclass(frozen=True)
class EvalCell(Cell):
    """Score one trained variant on one eval, split and format."""

    train: TrainCell
    """The train cell whose adapter it scores."""
    eval: str
    """Eval name."""
    split: str
    """Split."""
    format: str
    """``all`` or one format."""
    args: dict[str, Any]
    """Task arguments with defaults filled in (``split`` and ``format`` included)."""
    limit: int | None
    """Samples scored (the first ones), from the profile."""


@dataclass(frozen=True)
class RewardTrainCell(Cell):
    """Train one reward model (kind and params) on one base with one seed."""

    base: str
    """Base model spec."""
    entry: RewardModelEntry
    """The spec's reward-model entry."""
    seed: int
    """Training seed."""
    params: dict[str, Any]
    """Everything passed to ``alignlab.rewards.train_reward_model`` (entry params, budget, seed)."""

    @property
    def label(self) -> str:
        """The reward model's name in tables."""
        return self.entry.shown

    @property
    def rm_dir(self) -> str:
        """The reward model's directory, relative to the run directory."""
        return f"{REWARD_MODELS_DIR}/{self.entry.name}-{self.key[:KEY_PREFIX_CHARS]}"


@dataclass(frozen=True)
class RewardEvalCell(Cell):
    """Score one trained reward model on one split: accuracy, robustness or best-of-N."""

    train: RewardTrainCell
    """The ``rm_train`` cell whose reward model it scores."""
    kind: CellKind
    """``rm_accuracy``, ``rm_robustness`` or ``rm_best_of_n``."""
    split: str
    """Split of the gold-labelled pairs."""
    items: int
    """Eval items drawn per source eval to build the pairs."""
    limit: int | None
    """Pairs scored (the first ones), from the profile."""
    transforms: tuple[str, ...] = ()
    """``rm_robustness``: the transforms."""
    ns: tuple[int, ...] = ()
    """``rm_best_of_n``: the N of the curve."""
    prompts: int = 0
    """``rm_best_of_n``: free-text prompts."""
    max_new_tokens: int = 0
    """``rm_best_of_n``: longest sampled reply."""

    @property
    def what(self) -> str:
        """``accuracy``, ``robustness`` or ``best_of_n``."""
        return self.kind.removeprefix("rm_")


@dataclass(frozen=True)
class Plan:
    """Every cell of one experiment, in dependency order."""

    run_id: str
    """SHA-256 of the validated spec: the same spec finds its run again."""
    loaded: LoadedSpec
    """The validated spec."""
    train_cells: list[TrainCell] = field(default_factory=list)
    """Train cells, in spec order (base, variant, seed)."""
    eval_cells: list[EvalCell] = field(default_factory=list)
    """Eval cells, grouped by the train cell they score."""
    rm_train_cells: list[RewardTrainCell] = field(default_factory=list)
    """Reward-model train cells (base, entry, seed), in spec order."""
    rm_eval_cells: list[RewardEvalCell] = field(default_factory=list)
    """Reward-model eval cells, grouped by the ``rm_train`` cell they score."""

    def records(self) -> list[CellRecord]:
        """The cells as store records (state ``queued``)."""
        records = [
            CellRecord(
                key=cell.key,
                run_id=self.run_id,
                kind="train",
                label=cell.variant.label,
                inputs=cell.inputs,
                artifact=cell.adapter_dir,
            )
            for cell in self.train_cells
        ]
        records += [
            CellRecord(
                key=cell.key,
                run_id=self.run_id,
                kind="eval",
                label=cell.train.variant.label,
                inputs=cell.inputs,
                upstream=cell.train.key,
            )
            for cell in self.eval_cells
        ]
        records += [
            CellRecord(
                key=cell.key,
                run_id=self.run_id,
                kind="rm_train",
                label=cell.label,
                inputs=cell.inputs,
                artifact=cell.rm_dir,
            )
            for cell in self.rm_train_cells
        ]
        records += [
            CellRecord(
                key=cell.key,
                run_id=self.run_id,
                kind=cell.kind,
                label=cell.train.label,
                inputs=cell.inputs,
                upstream=cell.train.key,
            )
            for cell in self.rm_eval_cells
        ]
        return records


def run_id_of(loaded: LoadedSpec) -> str:
    """The run id of a spec: SHA-256 of its validated form (formatting and comments don't count).

    The ledger sections (assumptions, theories, predictions) are left out: adding a
    prediction to a spec does not make it another experiment.  So are the report's
    settings (``robustness``, ``rank_on``): they change how results are ranked,
    not the results.  Nor are the reward-model settings of a spec without reward models
    (so such a spec keeps the run id it had before reward models existed).
    """
    from alignlab.experiment._ledger import LEDGER_SECTIONS

    excluded = set(LEDGER_SECTIONS | REPORT_SETTINGS)
    if not loaded.spec.reward_models:
        excluded |= REWARD_SETTINGS
    document = loaded.spec.model_dump(mode="json", exclude=excluded)
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _training_params(loaded: LoadedSpec, variant: Variant, seed: int) -> dict[str, Any]:
    params = dict(variant.params)
    budget = loaded.profile.token_budget
    if budget is not None and "token_budget" not in params:
        params["token_budget"] = budget
    params["seed"] = seed
    return params


def _train_inputs(base: str, variant: Variant, params: dict[str, Any]) -> dict[str, Any]:
    from alignlab.methods import get_method, split_params

    info = get_method(variant.method)
    config, training = split_params(info, params)
    return {
        "kind": "train",
        "alignlab_version": __version__,
        "base": base,
        "base_weights_sha256": base_weights_sha256(base),
        "method": variant.method,
        "method_code_version": info.code_version,
        "seed": training.seed,
        "params": config.model_dump(mode="json"),
        "training": training.model_dump(mode="json"),
        "eval_data_sha256": eval_data_hashes(),
    }


def _bound_args(eval_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Task arguments with the factory's defaults filled in (so a changed default changes keys)."""
    from alignlab.evals import check_task_args, get_eval

    info = get_eval(eval_name)
    checked = check_task_args(info, args)
    signature = inspect.signature(info.factory)
    bound = {
        name: param.default
        for name, param in signature.parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    bound.update(checked)
    return bound


def _external_file_hash(args: dict[str, Any]) -> str | None:
    """SHA-256 of a user's data file (``mwe``'s ``path``): its content is an input too."""
    from pathlib import Path

    from alignlab.files import sha256_file

    path = args.get("path")
    if isinstance(path, str) and Path(path).is_file():
        return sha256_file(Path(path))
    return None


def make_plan(loaded: LoadedSpec) -> Plan:
    """Expand a validated spec into its cells.

    Args:
        loaded: The validated spec (:func:`alignlab.experiment.load_spec`).

    Returns:
        The plan: train cells, then eval cells grouped by train cell.

    Raises:
        AlignlabError: If a cell's inputs are invalid (already checked by the
            spec loader, so this means a registry changed in between) or the
            spec expands to zero cells.
    """
    from alignlab._errors import AlignlabError
    from alignlab.evals import get_eval

    spec = loaded.spec
    plan = Plan(run_id=run_id_of(loaded), loaded=loaded)
    for base in spec.bases:
        for variant in loaded.variants:
            for seed in spec.seeds:
                params = _training_params(loaded, variant, seed)
                inputs = _train_inputs(base, variant, params)
                plan.train_cells.append(
                    TrainCell(
                        key=cell_key(inputs),
                        inputs=inputs,
                        base=base,
                        variant=variant,
                        seed=seed,
                        params=params,
                    )
                )
    for train in plan.train_cells:
        for entry in spec.evals:
            info = get_eval(entry.name)
            formats = ["all"] if entry.formats == "all" else list(entry.formats)
            for split in entry.splits:
                for fmt in formats:
                    args = dict(entry.args)
                    args["split"] = split
                    if "format" in inspect.signature(info.factory).parameters:
                        args["format"] = fmt
                    bound = _bound_args(entry.name, args)
                    inputs = {
                        "kind": "eval",
                        "alignlab_version": __version__,
                        "upstream": train.key,
                        "eval": entry.name,
                        "eval_code_version": info.code_version,
                        "split": split,
                        "format": fmt,
                        "args": bound,
                        "limit": loaded.profile.eval_limit,
                        "eval_data_sha256": eval_data_hashes().get(entry.name),
                        "external_file_sha256": _external_file_hash(bound),
                    }
                    plan.eval_cells.append(
                        EvalCell(
                            key=cell_key(inputs),
                            inputs=inputs,
                            train=train,
                            eval=entry.name,
                            split=split,
                            format=fmt,
                            args=bound,
                            limit=loaded.profile.eval_limit,
                        )
                    )
    _plan_reward_models(loaded, plan)
    if not plan.train_cells or not plan.eval_cells:
        raise AlignlabError(f"the spec '{spec.name}' expands to zero cells")
    return plan


def _rm_train_inputs(base: str, entry: RewardModelEntry, params: dict[str, Any]) -> dict[str, Any]:
    from alignlab.rewards import validate_rm_request

    info, config, training = validate_rm_request(entry.name, base, params)
    return {
        "kind": "rm_train",
        "alignlab_version": __version__,
        "base": base,
        "base_weights_sha256": base_weights_sha256(base),
        "reward_model": entry.name,
        "reward_model_code_version": info.code_version,
        "seed": training.seed,
        "params": config.model_dump(mode="json"),
        "training": training.model_dump(mode="json"),
        "eval_data_sha256": eval_data_hashes(),
    }


def _plan_reward_models(loaded: LoadedSpec, plan: Plan) -> None:
    """Append the spec's reward-model cells to ``plan`` (none without ``reward_models``)."""
    from alignlab.rewards import TRANSFORMS

    spec = loaded.spec
    settings = spec.reward_eval
    budget = loaded.profile.token_budget
    for base in spec.bases:
        for entry in spec.reward_models:
            for seed in spec.seeds:
                params = dict(entry.params)
                if budget is not None and "token_budget" not in params:
                    params["token_budget"] = budget
                params["seed"] = seed
                inputs = _rm_train_inputs(base, entry, params)
                plan.rm_train_cells.append(
                    RewardTrainCell(
                        key=cell_key(inputs),
                        inputs=inputs,
                        base=base,
                        entry=entry,
                        seed=seed,
                        params=params,
                    )
                )
    transforms = tuple(settings.transforms) or tuple(TRANSFORMS)
    bon = settings.best_of_n
    kinds: list[CellKind] = ["rm_accuracy"]
    if settings.robustness:
        kinds.append("rm_robustness")
    if bon is not None:
        kinds.append("rm_best_of_n")
    for train in plan.rm_train_cells:
        for split in settings.splits:
            for kind in kinds:
                eval_inputs: dict[str, Any] = {
                    "kind": kind,
                    "alignlab_version": __version__,
                    "upstream": train.key,
                    "split": split,
                    "items": settings.items,
                    "pair_seed": RM_PAIR_SEED,
                    "limit": loaded.profile.eval_limit,
                    "eval_data_sha256": eval_data_hashes(),
                }
                extra: dict[str, Any] = {}
                if kind == "rm_robustness":
                    extra = {"transforms": transforms}
                elif kind == "rm_best_of_n" and bon is not None:
                    extra = {
                        "ns": tuple(bon.ns),
                        "prompts": bon.prompts,
                        "max_new_tokens": bon.max_new_tokens,
                    }
                eval_inputs.update(
                    {k: list(v) if isinstance(v, tuple) else v for k, v in extra.items()}
                )
                plan.rm_eval_cells.append(
                    RewardEvalCell(
                        key=cell_key(eval_inputs),
                        inputs=eval_inputs,
                        train=train,
                        kind=kind,
                        split=split,
                        items=settings.items,
                        limit=loaded.profile.eval_limit,
                        **extra,
                    )
                )
