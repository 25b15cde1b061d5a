"""Train one reward-model kind on one base, write it atomically; load it back for scoring.

The orchestration every kind shares, written like methods' (see
:mod:`alignlab.methods` and ``docs/reliability.md``): parameters are split into
the kind's own config and the shared :class:`~alignlab.training.TrainingConfig`;
the gold-labelled ``train`` pairs are built and passed through the leakage
guard (:func:`alignlab.training.check_no_leakage`) before any model is built;
the kind trains into a PID-named scratch directory next to ``--out`` under a
:class:`~alignlab.files.RunLock`, the manifest (recording every file's SHA-256
and the base's weights hash) is written last and the directory renamed into
place, so ``--out`` appears complete or not at all.  Loading checks the files
against the manifest and refuses a base whose weights differ from the ones
the reward model was trained on, in one line.

Simplified against methods: an existing ``--out`` that holds anything but the
same finished run is refused (methods also replace their own unfinished runs).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from alignlab._errors import AlignlabError
from alignlab.files import (
    atomic_write_text,
    build_run_dir,
    file_hashes,
    fsync_dir,
    fsync_tree,
    verify_hashes,
)
from alignlab.rewards._config import (
    RM_MANIFEST,
    RM_MANIFEST_VERSION,
    RewardManifest,
    RewardModelConfig,
)
from alignlab.rewards._pairs import guarded_examples, preference_pairs
from alignlab.rewards._registry import RewardJob, RewardModelInfo, Scorer, get_reward_model
from alignlab.training import (
    StepCallback,
    TrainingConfig,
    check_no_leakage,
    library_versions,
    one_line_error,
    set_training_threads,
    split_training_params,
)

PAIR_TOKENS_ESTIMATE: Final = 200
"""Rough tokens of one pair (prompt twice, both replies) at the SmolLM2 tokenizer; sizes the
draw of eval items so that every family has pairs left after the budget cut."""
MIN_PAIR_ITEMS: Final = 16
"""Fewest eval items drawn per source eval, so a tiny budget still sees every family."""
TRAINER_DIR: Final = ".trainer"
"""The trainer's working directory inside the scratch directory (removed before publishing)."""


def pair_items(token_budget: int, n_families: int) -> int:
    """Eval items to draw per source eval so the interleaved pairs fill ``token_budget``."""
    return max(MIN_PAIR_ITEMS, token_budget // (PAIR_TOKENS_ESTIMATE * max(1, n_families)))


def split_rm_params(
    info: RewardModelInfo, params: Mapping[str, object]
) -> tuple[RewardModelConfig, TrainingConfig]:
    """Validate ``params`` into the kind's config and the shared training config.

    Raises:
        AlignlabError: On an unknown key (listing the valid ones) or a bad value.
    """
    return split_training_params("reward model", info.name, info.config, params)


def validate_rm_request(
    kind: str, base: str, params: Mapping[str, object]
) -> tuple[RewardModelInfo, RewardModelConfig, TrainingConfig]:
    """Check a training request without doing any work (the CLI calls this first).

    Raises:
        AlignlabError: On an unknown kind or parameter, a bad value, or an untrainable base.
    """
    from alignlab.models import parse_spec

    info = get_reward_model(kind)
    config, training = split_rm_params(info, params)
    spec = parse_spec(base)
    if not spec.is_local:
        raise AlignlabError(f"cannot train a reward model on '{base}': it needs local weights")
    if spec.adapter is not None:
        raise AlignlabError(f"cannot train a reward model on '{base}': give a base without adapter")
    return info, config, training


def _dump(model: BaseModel) -> dict[str, Any]:
    return dict(model.model_dump(mode="json"))


def read_rm_manifest(directory: Path) -> RewardManifest:
    """The manifest of the finished reward model in ``directory``.

    Raises:
        AlignlabError: If the directory is missing, holds no manifest, or an invalid one.
    """
    path = directory / RM_MANIFEST
    if not directory.is_dir():
        raise AlignlabError(f"reward model directory '{directory}' does not exist")
    if not path.is_file():
        raise AlignlabError(
            f"'{directory}' is not a finished reward model: no {RM_MANIFEST} "
            "(train one with `alignlab rm train`)"
        )
    try:
        return RewardManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise AlignlabError(f"{path} is not a valid reward-model manifest: {message}") from None


def _check_out(
    out: Path, kind: str, params: dict[str, Any], training: TrainingConfig, base: str
) -> RewardManifest | None:
    """The same finished run already in ``out`` (verified), None for a free ``out``; else refuse."""
    if not out.exists() and not out.is_symlink():
        return None
    if not out.is_dir() or out.is_symlink():
        raise AlignlabError(f"output path {out} exists and is not a directory")
    if (out / RM_MANIFEST).is_file():
        existing = read_rm_manifest(out)
        same = (existing.kind, existing.params, existing.training, existing.base)
        if same == (kind, params, training, base):
            verify_hashes(out, existing.files)
            return existing
        raise AlignlabError(
            f"{out} already holds a different reward model ({existing.kind} on {existing.base}, "
            f"seed {existing.training.seed}); "
            "choose another --out or delete it"
        )
    if any(out.iterdir()):
        raise AlignlabError(f"{out} is not empty and holds no reward model; choose another --out")
    return None


def _publish(scratch: Path, out: Path) -> None:
    fsync_tree(scratch)
    fsync_dir(scratch)
    if out.exists():
        out.rmdir()  # empty: checked under the lock
    os.rename(scratch, out)
    fsync_dir(out.parent)


def train_reward_model(
    kind: str,
    base: str,
    out: Path,
    params: Mapping[str, object] | None = None,
    on_step: StepCallback | None = None,
) -> RewardManifest:
    """Train reward-model ``kind`` on ``base``; write its weights and manifest to ``out``.

    If ``out`` already holds the same finished run, its files are verified and
    its manifest returned; ``out`` appears complete at once, or not at all.

    Args:
        kind: A registered kind (``classic``, ...).
        base: A local base model spec (e.g. ``smollm2-135m``).
        out: Output directory.
        params: The kind's parameters and shared training parameters, by name.
        on_step: Progress hook called after each optimiser step.

    Returns:
        The manifest.

    Raises:
        AlignlabError: On bad input, leakage, a NaN loss, another process writing
            ``out``, an ``out`` holding something else, or a full disk.
    """
    info, config, training = validate_rm_request(kind, base, params or {})
    return build_run_dir(
        out,
        finished=lambda: _check_out(out, info.name, _dump(config), training, base),
        build=lambda scratch: _train_into(scratch, info, config, training, base, on_step),
        publish=_publish,
    )


def _base_weights(base: str) -> Path:
    from alignlab.models import local_weights_dir, parse_spec

    weights = local_weights_dir(parse_spec(base))
    if weights is None or not weights.is_dir():
        raise AlignlabError(f"base '{base}' has no local weights directory")
    return weights


def _train_into(
    scratch: Path,
    info: RewardModelInfo,
    config: RewardModelConfig,
    training: TrainingConfig,
    base: str,
    on_step: StepCallback | None,
) -> RewardManifest:
    from transformers import AutoTokenizer

    from alignlab.models import weights_sha256

    set_training_threads(training)
    started = time.perf_counter()
    weights = _base_weights(base)
    families: list[str] = list(config.families)
    n_items = config.n_items or pair_items(training.token_budget, len(families))
    pairs = preference_pairs("train", n_items, training.seed, families)
    report = check_no_leakage(guarded_examples(pairs))
    workdir = scratch / TRAINER_DIR
    workdir.mkdir()
    tokenizer = AutoTokenizer.from_pretrained(str(weights))
    job = RewardJob(pairs, weights, tokenizer, training, workdir, scratch, on_step)
    outcome = info.train(config, job)
    shutil.rmtree(workdir)
    manifest = RewardManifest(
        version=RM_MANIFEST_VERSION,
        kind=info.name,
        params=_dump(config),
        training=training,
        base=base,
        base_weights=str(weights),
        base_weights_sha256=weights_sha256(weights),
        families=families,
        dataset_sha256=outcome.dataset_sha256,
        n_pairs=outcome.n_examples,
        tokens_seen=outcome.tokens_seen,
        loss_curve=outcome.loss_curve,
        wall_time_s=round(time.perf_counter() - started, 2),
        library_versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        device=outcome.device,
        leakage_guard=report,
        learning_check=outcome.learning_check,
        notes=[f"drew {n_items} eval items per source eval; built {len(pairs)} train pairs"],
        files=file_hashes(scratch, exclude=frozenset({RM_MANIFEST})),
    )
    atomic_write_text(scratch / RM_MANIFEST, manifest.model_dump_json(indent=2))
    return manifest


@dataclass(frozen=True)
class LoadedRewardModel:
    """A trained reward model ready to score."""

    directory: Path
    """Its run directory."""
    manifest: RewardManifest
    """What it is."""
    scorer: Scorer
    """Scores (prompt, response) pairs."""


def load_reward_model(directory: Path, base: str | None = None) -> LoadedRewardModel:
    """Load a finished reward model, checking its files and its base.

    Args:
        directory: The run directory (``alignlab rm train ... --out``).
        base: The base to score on (default: the one it was trained on); its
            weights must be the ones the reward model was trained on.

    Returns:
        The loaded reward model.

    Raises:
        AlignlabError: On a missing or invalid run, changed files, an unknown kind,
            or a base whose weights differ from the training base's.
    """
    manifest = read_rm_manifest(directory)
    verify_hashes(directory, manifest.files)
    info = get_reward_model(manifest.kind)
    spec = base or manifest.base
    weights = _base_weights(spec)
    from alignlab.models import weights_sha256

    found = weights_sha256(weights)
    if found != manifest.base_weights_sha256:
        raise AlignlabError(
            f"reward model {directory} was trained on '{manifest.base}' "
            f"(weights {str(manifest.base_weights_sha256)[:12]}); '{spec}' has other weights "
            f"({str(found)[:12]}): score it on the base it was trained on"
        )
    try:
        config = info.config.model_validate(manifest.params)
    except ValidationError as exc:
        raise one_line_error(exc, f"recorded parameter of '{info.name}':") from None
    scorer = info.load(config, directory, weights, manifest.training)
    return LoadedRewardModel(directory, manifest, scorer)
