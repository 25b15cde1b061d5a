"""The experiment spec: one YAML file describes a whole experiment.

```yaml
version: 1
name: demo
base: smollm2-135m            # or bases: [a, b]
seeds: [0]
profile: quick                # quick | full
methods:
  - none
  - sft_control
  - name: reward_misspecification
    params: {p: [0.0, 0.5, 1.0]}   # a list is a sweep: three variants
evals:
  - name: sycophancy
    splits: [test, heldout]
    args: {n_claims: 50}
  - mistakes
references: [none, sft_control]  # what every method is compared with
robustness: benchmarks/results/robustness.json  # optional: verdicts per eval metric
rank_on: robust               # all (default) | robust: rank methods on robust metrics only
reward_models:                # optional: reward models trained per base and seed
  - classic
  - name: cloud
    params: {lm_weight: 1.25}
reward_eval:                  # optional: how they are scored (these are the defaults)
  splits: [heldout]
  robustness: true            # the accuracy drop under every transform (or `transforms:`)
  best_of_n: {ns: [1, 2, 4, 8], prompts: 4, max_new_tokens: 24}   # null: no best-of-N
```

Validation happens in two steps, both before any work: pydantic checks the
shape (unknown keys, wrong types), then :func:`load_spec` checks the names
against the registries (methods, their parameters for every sweep point,
evals, splits, formats, task arguments).  Either way the error is one line
naming the file, the line and the key.

Sweeps: a list value is a sweep, except for a parameter whose own type is a
list or tuple (e.g. ``pessimization``'s ``sources``), where a list *of lists*
is a sweep.  The sweep expands to the cartesian product of its lists.

``robustness`` and ``rank_on`` change only the report (its "Method ranking"
and "Robustness" sections), never a result, so they are not part of the run
id: the file is read and checked when the spec is loaded, and copied into the
run directory when the run starts (see :mod:`alignlab.experiment._ranking`).

Profiles set what a run costs: ``quick`` trains every method on a small token
budget and scores a prefix of every eval (for a first look and for demos);
``full`` uses the methods' and evals' own defaults.  A method's explicit
``token_budget`` parameter wins over the profile.

Reward models (:mod:`alignlab.rewards`) are trained at the same profile budget
as the methods, so a ``classic`` and a ``cloud`` entry are compared at matched
training tokens, then scored on gold-labelled pairs of ``reward_eval.splits``
(``heldout`` by default; the profile's eval limit caps the pairs): pairwise
accuracy, the robustness table and a best-of-N curve.  A spec without
``reward_models`` has the run id it had before they existed.
"""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alignlab._errors import AlignlabError
from alignlab.experiment._ledger import Assumption, Prediction, SpecNames, Theory
from alignlab.yamlfile import line_of, validate_yaml_text

if TYPE_CHECKING:
    from alignlab.attacks import RobustnessFile

SPEC_VERSION: Final = 1
"""The spec schema version this alignlab reads."""

ProfileName = Literal["quick", "full"]
RankOn = Literal["all", "robust"]
"""Which metrics the report ranks methods on: every metric with a direction, or robust ones."""
REPORT_SETTINGS: Final = frozenset({"robustness", "rank_on"})
"""Spec keys that change only the report, never a result: not part of the run id."""


@dataclass(frozen=True)
class Profile:
    """What a budget profile sets."""

    token_budget: int | None
    """Training tokens per method (None: the shared default)."""
    eval_limit: int | None
    """Samples scored per eval cell, the first ones (None: all)."""


PROFILES: Final[dict[str, Profile]] = {
    "quick": Profile(token_budget=2_000, eval_limit=30),
    "full": Profile(token_budget=None, eval_limit=None),
}
"""``quick`` is sized so ``examples/demo.yaml`` runs in minutes on a 2-core CPU."""

DEFAULT_REFERENCES: Final = ("none", "sft_control")
"""Every method is compared with these (those of them the spec has)."""
DEFAULT_SPLITS: Final = ("test", "heldout")
"""Eval splits when an eval entry names none: the reported split and the generalisation one."""
REWARD_SETTINGS: Final = frozenset({"reward_models", "reward_eval"})
"""Spec keys about reward models: in the run id only when the spec has reward models."""
DEFAULT_RM_SPLITS: Final = ("heldout",)
"""Splits reward models are scored on unless ``reward_eval.splits`` says otherwise."""
DEFAULT_RM_ITEMS: Final = 16
"""Eval items drawn per source eval for the evaluation pairs (the profile limit cuts them)."""
DEFAULT_BON_NS: Final = (1, 2, 4, 8)
"""Best-of-N sizes by default: small enough for a CPU."""
DEFAULT_BON_PROMPTS: Final = 4
"""Free-text prompts of the best-of-N curve by default."""
DEFAULT_BON_MAX_TOKENS: Final = 24
"""Longest sampled best-of-N reply by default, in tokens."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodEntry(_Strict):
    """One method of the spec, possibly a sweep over its parameters."""

    name: str
    """A registered method (``alignlab methods``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Method and shared training parameters; list values sweep (see the module docstring)."""
    label: str | None = Field(default=None, min_length=1)
    """Name of the variant in tables (default: the method's name); swept parameters are
    appended as ``label[k=v]``.  Needed when one method appears twice unswept."""


class EvalEntry(_Strict):
    """One eval of the spec: which splits and formats, with which task arguments."""

    name: str
    """A registered eval (``alignlab evals``)."""
    splits: list[str] = Field(default_factory=lambda: list(DEFAULT_SPLITS), min_length=1)
    """Splits to score; ``train`` is allowed but methods train on it, so it measures fit."""
    formats: list[str] | Literal["all"] = "all"
    """``all`` (one cell with the eval's formats mixed) or a list (one cell per format)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Task arguments (as ``-T key=value``); not ``split`` or ``format``."""

    @field_validator("args")
    @classmethod
    def _no_split_or_format(cls, args: dict[str, Any]) -> dict[str, Any]:
        for reserved in ("split", "format"):
            if reserved in args:
                raise ValueError(f"give '{reserved}' as the entry's {reserved}s, not in args")
        return args


class RewardModelEntry(_Strict):
    """One reward model of the spec: a kind with its parameters (no sweeps)."""

    name: str
    """A registered reward-model kind (``alignlab rm list``: ``classic``, ``cloud``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The kind's and the shared training parameters (``token_budget`` defaults to the
    profile's, ``seed`` comes from ``seeds``)."""
    label: str | None = Field(default=None, min_length=1)
    """Name in tables (default: the kind's name); needed when one kind appears twice."""

    @property
    def shown(self) -> str:
        """The entry's name in tables."""
        return self.label or self.name


class BestOfNSettings(_Strict):
    """The best-of-N curve of every reward model: ``ns`` replies from the base, picked by it."""

    ns: list[int] = Field(default_factory=lambda: list(DEFAULT_BON_NS), min_length=1)
    """The N of the curve (each at least 1); ``max(ns)`` replies are drawn per prompt."""
    prompts: int = Field(default=DEFAULT_BON_PROMPTS, ge=1)
    """Free-text prompts (the first of the split's pairs, one per distinct prompt)."""
    max_new_tokens: int = Field(default=DEFAULT_BON_MAX_TOKENS, ge=1)
    """Longest sampled reply in tokens."""

    @field_validator("ns")
    @classmethod
    def _positive(cls, ns: list[int]) -> list[int]:
        for n in ns:
            if n < 1:
                raise ValueError(f"best-of-N needs every N >= 1, got {n}")
        return sorted(set(ns))


class RewardEvalSettings(_Strict):
    """How the spec's reward models are scored (the same for every one, so they compare)."""

    splits: list[str] = Field(default_factory=lambda: list(DEFAULT_RM_SPLITS), min_length=1)
    """Splits whose gold-labelled pairs score them (``test``, ``heldout``)."""
    items: int = Field(default=DEFAULT_RM_ITEMS, ge=1)
    """Eval items drawn per source eval to build the pairs (the profile limit cuts the pairs)."""
    robustness: bool = True
    """Measure the accuracy drop under rewrites that keep the gold label."""
    transforms: list[str] = Field(default_factory=list)
    """Which transforms (empty: every one of :data:`alignlab.rewards.TRANSFORMS`)."""
    best_of_n: BestOfNSettings | None = Field(default_factory=BestOfNSettings)
    """The best-of-N curve; ``null`` leaves it out."""


class ExperimentSpec(_Strict):
    """A whole experiment (see the module docstring for the YAML)."""

    version: Literal[1]
    """Spec schema version."""
    name: str = Field(min_length=1)
    """A short name for the run (shown in the report)."""
    bases: list[str] = Field(min_length=1)
    """Base model specs (``alignlab models``); ``base:`` is accepted for one."""
    methods: list[MethodEntry] = Field(min_length=1)
    """Methods; a bare name is a method with default parameters."""
    evals: list[EvalEntry] = Field(min_length=1)
    """Evals; a bare name scores ``test`` and ``heldout``."""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    """Training seeds; every method variant is trained once per seed."""
    profile: ProfileName = "quick"
    """Budget profile (see :data:`PROFILES`)."""
    references: list[str] = Field(default_factory=lambda: list(DEFAULT_REFERENCES))
    """Method variants every other variant is compared with (those present in the spec)."""
    out: str | None = None
    """Run directory (relative paths are relative to the working directory); the
    CLI's ``--out`` wins; default ``runs/<name>``."""
    robustness: str | None = Field(default=None, min_length=1)
    """A robustness file (:class:`alignlab.attacks.RobustnessFile`, e.g. what the
    robustness benchmark writes to ``benchmarks/results/robustness.json``);
    relative paths are relative to the working directory.  Its verdicts are
    copied into the run directory when the run starts and shown in the report.
    Not part of the run id."""
    rank_on: RankOn = "all"
    """``all``: the report ranks methods on every metric with an aligned direction;
    ``robust``: only on those whose verdict in ``robustness`` is ``robust`` (needs
    ``robustness``).  Not part of the run id."""
    assumptions: list[Assumption] = Field(default_factory=list)
    """Assumptions the spec's theories make (appended to the prediction ledger)."""
    theories: list[Theory] = Field(default_factory=list)
    """Theories the spec's predictions belong to (appended to the prediction ledger)."""
    predictions: list[Prediction] = Field(default_factory=list)
    """Predictions about this experiment's results, appended to the run's ledger
    when ``alignlab run`` starts, before any cell runs (see
    :mod:`alignlab.experiment._ledger`).  Not part of the run id."""
    reward_models: list[RewardModelEntry] = Field(default_factory=list)
    """Reward models trained once per base and seed at the profile's budget; a bare name
    is a kind with default parameters."""
    reward_eval: RewardEvalSettings = Field(default_factory=RewardEvalSettings)
    """How the reward models are scored (ignored without ``reward_models``)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "base" in data:
            if "bases" in data:
                raise ValueError("give either 'base' or 'bases', not both")
            data["bases"] = [data.pop("base")]
        for key in ("methods", "evals", "reward_models"):
            if isinstance(data.get(key), list):
                data[key] = [{"name": v} if isinstance(v, str) else v for v in data[key]]
        return data


@dataclass(frozen=True)
class Variant:
    """One point of a method's sweep: what a train cell trains."""

    method: str
    """Registered method name."""
    params: dict[str, Any]
    """Parameters of this point (as given, one value each)."""
    label: str
    """``method`` or ``method[k=v,...]`` (the name in tables and reports)."""


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with its source text, its sweep expanded."""

    spec: ExperimentSpec
    """The validated spec."""
    text: str
    """The YAML as written."""
    path: Path | None
    """The file it came from."""
    variants: tuple[Variant, ...]
    """Every method variant (sweeps expanded), in spec order."""
    robustness: RobustnessFile | None = None
    """The spec's robustness file, read and validated (None without one)."""
    robustness_sha256: str | None = None
    """SHA-256 of the robustness file's bytes as read."""

    @property
    def profile(self) -> Profile:
        """The spec's budget profile."""
        return PROFILES[self.spec.profile]


def _is_sequence_type(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence_type(arg) for arg in typing.get_args(annotation))
    return annotation in (list, tuple, set, frozenset)


def _format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def expand_sweep(
    method: str,
    params: Mapping[str, Any],
    field_types: Mapping[str, Any],
    label: str | None = None,
) -> list[Variant]:
    """The variants a method entry stands for (the cartesian product of its sweeps).

    Args:
        method: The method name.
        params: The entry's parameters as written.
        field_types: Parameter name -> annotation (to tell a sweep from a list-typed value).
        label: The variant's base name (default: the method's name).

    Returns:
        One variant per point; the swept parameters (only those) appear in its label.
    """
    axes: list[tuple[str, list[Any]]] = []
    swept: set[str] = set()
    for key, value in params.items():
        list_typed = _is_sequence_type(field_types.get(key))
        is_sweep = isinstance(value, list) and (
            not list_typed or (bool(value) and all(isinstance(v, list) for v in value))
        )
        if is_sweep:
            swept.add(key)
            axes.append((key, list(value)))
        else:
            axes.append((key, [value]))
    variants = []
    for point in itertools.product(*(values for _, values in axes)):
        chosen = {key: value for (key, _), value in zip(axes, point, strict=True)}
        shown = sorted((k, v) for k, v in chosen.items() if k in swept)
        name = label or method
        if shown:
            name += "[" + ",".join(f"{k}={_format_value(v)}" for k, v in shown) + "]"
        variants.append(Variant(method=method, params=chosen, label=name))
    return variants


class _SpecError(Exception):
    def __init__(self, location: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.location = location


def _check_members(
    location: tuple[int | str, ...],
    given: list[str],
    allowed: tuple[str, ...],
    eval_name: str,
    what: str,
) -> None:
    """Every value of an eval entry's ``splits`` (or ``formats``) must be one the eval has."""
    for position, value in enumerate(given):
        if value not in allowed:
            raise _SpecError(
                (*location, position),
                f"eval '{eval_name}' has no {what} '{value}'; its {what}s: {', '.join(allowed)}",
            )


def _check_names(spec: ExperimentSpec) -> tuple[Variant, ...]:
    """Registry checks; raises _SpecError with the location of the offending key."""
    from alignlab.evals import check_task_args, get_eval, registered_evals
    from alignlab.methods import TrainingConfig, registered_methods, split_params
    from alignlab.models import parse_spec

    for index, base in enumerate(spec.bases):
        try:
            parsed = parse_spec(base)
        except AlignlabError as exc:
            raise _SpecError(("bases", index), str(exc)) from None
        if not parsed.is_local or parsed.adapter is not None:
            raise _SpecError(
                ("bases", index), f"base '{base}' must be a local model without an adapter"
            )
    methods = registered_methods()
    variants: list[Variant] = []
    for index, entry in enumerate(spec.methods):
        if entry.name not in methods:
            known = ", ".join(methods)
            raise _SpecError(
                ("methods", index, "name"), f"unknown method '{entry.name}'; known: {known}"
            )
        info = methods[entry.name]
        field_types = {
            **{k: f.annotation for k, f in TrainingConfig.model_fields.items()},
            **{k: f.annotation for k, f in info.config.model_fields.items()},
        }
        expanded = expand_sweep(entry.name, entry.params, field_types, entry.label)
        if not expanded:
            raise _SpecError(("methods", index, "params"), "a sweep here expands to no variant")
        for variant in expanded:
            try:
                split_params(info, variant.params)
            except AlignlabError as exc:
                raise _SpecError(("methods", index, "params"), str(exc)) from None
        variants.extend(expanded)
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise _SpecError(
            ("methods",),
            f"method variant '{duplicates[0]}' appears twice; give one of them a 'label'",
        )
    evals = registered_evals()
    for index, eval_entry in enumerate(spec.evals):
        if eval_entry.name not in evals:
            known = ", ".join(evals)
            raise _SpecError(
                ("evals", index, "name"), f"unknown eval '{eval_entry.name}'; known: {known}"
            )
        eval_info = get_eval(eval_entry.name)
        _check_members(
            ("evals", index, "splits"),
            eval_entry.splits,
            eval_info.splits,
            eval_entry.name,
            "split",
        )
        if eval_entry.formats != "all":
            _check_members(
                ("evals", index, "formats"),
                eval_entry.formats,
                eval_info.formats,
                eval_entry.name,
                "format",
            )
        try:
            check_task_args(eval_info, {**eval_entry.args, "split": eval_entry.splits[0]})
        except AlignlabError as exc:
            raise _SpecError(("evals", index, "args"), str(exc)) from None
    _check_reward_models(spec)
    _check_ledger_sections(spec, variants)
    return tuple(variants)


def _check_reward_models(spec: ExperimentSpec) -> None:
    """Reward-model kinds, their parameters, the scoring splits and transforms."""
    if not spec.reward_models:
        return
    from alignlab.rewards import EVAL_SPLITS, check_transforms, validate_rm_request

    labels: set[str] = set()
    for index, entry in enumerate(spec.reward_models):
        try:
            validate_rm_request(entry.name, spec.bases[0], {**entry.params, "seed": spec.seeds[0]})
        except AlignlabError as exc:
            where = "params" if entry.params and "reward-model kind" not in str(exc) else "name"
            raise _SpecError(("reward_models", index, where), str(exc)) from None
        if "seed" in entry.params:
            raise _SpecError(
                ("reward_models", index, "params"), "give seeds as the spec's 'seeds', not here"
            )
        if entry.shown in labels:
            raise _SpecError(
                ("reward_models", index),
                f"reward model '{entry.shown}' appears twice; give one of them a 'label'",
            )
        labels.add(entry.shown)
    settings = spec.reward_eval
    for position, split in enumerate(settings.splits):
        if split not in EVAL_SPLITS:
            raise _SpecError(
                ("reward_eval", "splits", position),
                f"reward models are scored on {' or '.join(EVAL_SPLITS)}, not '{split}'",
            )
    for position, name in enumerate(settings.transforms):
        try:
            check_transforms([name])
        except AlignlabError as exc:
            raise _SpecError(("reward_eval", "transforms", position), str(exc)) from None


def _check_ledger_sections(spec: ExperimentSpec, variants: list[Variant]) -> None:
    """Predictions name the spec's variants, evals, splits, metrics and theories."""
    assumptions: set[str] = set()
    for index, assumption in enumerate(spec.assumptions):
        if assumption.id in assumptions:
            raise _SpecError(("assumptions", index, "id"), f"assumption '{assumption.id}' twice")
        assumptions.add(assumption.id)
    theories: set[str] = set()
    for index, theory in enumerate(spec.theories):
        if theory.name in theories:
            raise _SpecError(("theories", index, "name"), f"theory '{theory.name}' twice")
        theories.add(theory.name)
        for position, used in enumerate(theory.assumptions):
            if used not in assumptions:
                known = ", ".join(sorted(assumptions)) or "none"
                raise _SpecError(
                    ("theories", index, "assumptions", position),
                    f"unknown assumption '{used}'; the spec's assumptions: {known}",
                )
    if not spec.predictions:
        return
    names = SpecNames.of(spec, variants)
    for index, prediction in enumerate(spec.predictions):
        if prediction.theory not in theories:
            known = ", ".join(sorted(theories)) or "none"
            raise _SpecError(
                ("predictions", index, "theory"),
                f"unknown theory '{prediction.theory}'; the spec's theories: {known}",
            )
        problem = names.problem(prediction)
        if problem is not None:
            raise _SpecError(("predictions", index, problem[0]), problem[1])


def _check_ranking(spec: ExperimentSpec) -> tuple[RobustnessFile | None, str | None]:
    """Read the spec's robustness file; ``rank_on: robust`` needs one.

    Returns:
        The file and the SHA-256 of its bytes (both None without one).
    """
    import hashlib

    from alignlab.attacks import parse_robustness

    if spec.robustness is None:
        if spec.rank_on == "robust":
            raise _SpecError(
                ("rank_on",), "'robust' needs a robustness file (add 'robustness: PATH')"
            )
        return None, None
    path = Path(spec.robustness)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _SpecError(("robustness",), f"cannot read robustness file {path}: {reason}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _SpecError(("robustness",), f"{path}: not UTF-8 text") from None
    try:
        robustness = parse_robustness(text, str(path))
    except AlignlabError as exc:
        raise _SpecError(("robustness",), str(exc)) from None
    return robustness, hashlib.sha256(data).hexdigest()


def load_spec_text(text: str, where: str = "spec", path: Path | None = None) -> LoadedSpec:
    """Validate a spec given as YAML text.

    Args:
        text: The YAML.
        where: What to call it in errors (usually the file path).
        path: The file it came from, if any.

    Returns:
        The validated spec with its variants.

    Raises:
        AlignlabError: ``WHERE:LINE: key: problem`` for the first problem found.
    """
    spec = validate_yaml_text(text, where, ExperimentSpec)
    try:
        variants = _check_names(spec)
        robustness, robustness_sha256 = _check_ranking(spec)
    except _SpecError as exc:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        location = _source_location(text, exc.location)
        line = line_of(root, location)
        key = ".".join(str(p) for p in location)
        at = f"{where}:{line}" if line is not None else where
        raise AlignlabError(f"{at}: {key}: {exc}") from None
    return LoadedSpec(
        spec=spec,
        text=text,
        path=path,
        variants=variants,
        robustness=robustness,
        robustness_sha256=robustness_sha256,
    )


def _source_location(text: str, location: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Map a location in the validated spec back to the YAML (``base:`` vs ``bases:``)."""
    raw = yaml.safe_load(text)
    if location and location[0] == "bases" and isinstance(raw, dict) and "base" in raw:
        return ("base",)
    if len(location) >= 3 and location[2] == "name" and isinstance(raw, dict):
        entries = raw.get(str(location[0]))
        if isinstance(entries, list) and isinstance(entries[int(location[1])], str):
            return location[:2]  # a bare name
    return location


def load_spec(path: Path) -> LoadedSpec:
    """Read and validate a spec file (see :func:`load_spec_text`).

    Raises:
        AlignlabError: If the file cannot be read or is invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignlabError(f"cannot read experiment spec {path}: {exc}") from None
    return load_spec_text(text, str(path), path)
