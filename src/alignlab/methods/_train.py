"""Train one method on one base: validate, build data, train, write atomically.

The orchestration every method shares, so that variants differ only in the
method: the data goes to :func:`alignlab.training.run`, which guards it
against leakage and trains it with the method's kind, with the same LoRA
shape, seed, budget and CPU-tuned trainer arguments for every method.
The output directory gets ``adapter_model.safetensors``, ``adapter_config.json``
and ``manifest.json``, and it appears complete at once or not at all:

- the whole run holds :class:`~alignlab.files.RunLock` on the output directory,
  so a second writer is refused in one line naming the holder;
- adapter and manifest (which records every file's SHA-256) are written into a
  PID-named scratch directory next to the output, which is renamed into place
  last; on any exception (KeyboardInterrupt, SystemExit and, while training,
  SIGTERM included) the scratch directory is removed, and one a killed process
  left behind is removed by the next run;
- an output directory that is empty or holds only our unfinished run (adapter
  files, no manifest) is replaced; one holding a different finished run, or
  files alignlab did not write, is refused;
- rerunning a finished run verifies its files against the manifest, and
  non-finite adapter weights are never written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, MethodInfo, get_method
from alignlab.training import (
    MANIFEST_VERSION,
    GuardExemption,
    Manifest,
    StepCallback,
    TrainingConfig,
    library_versions,
    run,
    set_training_threads,
    split_training_params,
)

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_FILES = frozenset({ADAPTER_WEIGHTS, "adapter_config.json", "README.md"})
"""What ``save_pretrained`` writes: an output directory holding only these (and no
manifest) is an unfinished run of ours, which the next run replaces."""
TRAINER_DIR = ".trainer"
"""The trainer's working directory inside the scratch directory (removed before publishing)."""


def split_params(
    info: MethodInfo, params: Mapping[str, object]
) -> tuple[MethodConfig, TrainingConfig]:
    """Validate ``params`` into the method's config and the shared training config.

    Keys that name a :class:`TrainingConfig` field go there; the rest belong to
    the method.  The method's own :attr:`MethodInfo.training_defaults` fill the
    shared settings ``params`` leaves unset.

    Args:
        info: The method.
        params: ``key -> value`` (values already parsed, e.g. from YAML).

    Returns:
        ``(method_config, training_config)``.

    Raises:
        AlignlabError: On an unknown key (listing the valid ones) or a bad value.
    """
    return split_training_params(
        "method", info.name, info.config, {**info.training_defaults, **params}
    )


def _dump(model: BaseModel) -> dict[str, Any]:
    return json.loads(model.model_dump_json())  # type: ignore[no-any-return]


def _same_run(
    existing: Manifest, info: MethodInfo, config: MethodConfig, training: TrainingConfig, base: str
) -> bool:
    return (
        existing.method == info.name
        and existing.params == _dump(config)
        and existing.training == training
        and existing.base == base
    )


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest of a finished run in ``directory``, or None if there is none."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise AlignlabError(f"{path} is not a valid alignlab manifest: {message}") from None


def verify_run(directory: Path, manifest: Manifest) -> None:
    """Check that the files of a finished run are the ones its manifest vouches for.

    A version-1 manifest recorded no hashes: its run is accepted unverified.

    Raises:
        AlignlabError: Naming the first missing, truncated or changed file.
    """
    if manifest.version < 2:
        logger.warning("%s was written by an older alignlab: its files are not verified", directory)
        return
    if not manifest.files:
        raise AlignlabError(
            f"{directory / MANIFEST} lists no files; delete the directory and rerun"
        )
    verify_hashes(directory, manifest.files)


def _foreign_entry(out: Path) -> Path | None:
    """The first entry of ``out`` that an unfinished run of ours would not hold."""
    for entry in sorted(out.iterdir()):
        ours = entry.name in ADAPTER_FILES or entry.name.startswith(f".{MANIFEST}.tmp-")
        if not (ours and entry.is_file() and not entry.is_symlink()):
            return entry
    return None


def _check_replaceable(out: Path) -> None:
    """Refuse an output directory that holds something other than our unfinished run."""
    foreign = _foreign_entry(out)
    if foreign is not None:
        raise AlignlabError(
            f"{out} is not empty and has no manifest, and holds '{foreign.name}', which "
            "alignlab did not write; delete the directory or choose another --out"
        )


def _check_out_dir(
    out: Path, info: MethodInfo, config: MethodConfig, training: TrainingConfig, base: str
) -> Manifest | None:
    if not out.exists() and not out.is_symlink():
        return None
    if not out.is_dir() or out.is_symlink():
        raise AlignlabError(f"output path {out} exists and is not a directory")
    existing = read_manifest(out)
    if existing is not None:
        if _same_run(existing, info, config, training, base):
            verify_run(out, existing)
            return existing
        raise AlignlabError(
            f"{out} already holds a different run ({existing.method} on {existing.base}, "
            f"seed {existing.seed}); choose another --out or delete it"
        )
    _check_replaceable(out)  # empty, or our unfinished run: replaced when this one finishes
    return None


def _check_finite(adapter_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file

    for name, tensor in load_file(str(adapter_dir / ADAPTER_WEIGHTS)).items():
        if not bool(torch.isfinite(tensor).all()):
            raise AlignlabError(
                f"training produced NaN or infinite adapter weights ({name}); nothing was "
                "written (try a lower learning_rate)"
            )


def _publish(scratch: Path, out: Path) -> None:
    """Rename the finished ``scratch`` to ``out``, replacing an empty or unfinished ``out``."""
    fsync_tree(scratch)
    fsync_dir(scratch)
    if out.exists():
        _check_replaceable(out)  # again: only we write to ``out``, but a user might
        shutil.rmtree(out)
    os.rename(scratch, out)
    fsync_dir(out.parent)


def validate_request(
    method_name: str, base: str, params: Mapping[str, object]
) -> tuple[MethodInfo, MethodConfig, TrainingConfig]:
    """Check a training request without doing any work (the CLI calls this first).

    Args:
        method_name: A registered method.
        base: The base model spec.
        params: Method and shared training parameters.

    Returns:
        The method, its validated config, and the shared training config.

    Raises:
        AlignlabError: On an unknown method or parameter, a bad value, or an untrainable base.
    """
    from alignlab.models import parse_spec

    info = get_method(method_name)
    config, training = split_params(info, params)
    spec = parse_spec(base)
    if not spec.is_local:
        raise AlignlabError(
            f"cannot train '{base}': it is an API model; training needs local weights "
            "(e.g. smollm2-135m or a model directory)"
        )
    if spec.adapter is not None:
        raise AlignlabError(f"cannot train on '{base}': train on a base without an adapter")
    return info, config, training


def train(
    method_name: str,
    base: str,
    out: Path,
    params: Mapping[str, object] | None = None,
    on_step: StepCallback | None = None,
) -> Manifest:
    """Train ``method_name`` on ``base`` and write the adapter and manifest to ``out``.

    If ``out`` already holds the same finished run, its files are verified
    against its manifest and it is returned untouched.  ``out`` appears
    complete (adapter and manifest) at once, or not at all.

    Args:
        method_name: A registered method.
        base: A local base model spec (e.g. ``smollm2-135m``).
        out: Output directory.
        params: Method parameters and shared training parameters, by name.
        on_step: Progress hook called after each optimiser step.

    Returns:
        The manifest.

    Raises:
        AlignlabError: On bad input, a base that cannot be trained, leakage, NaN loss
            or weights, another process writing ``out``, an ``out`` that holds
            something else or a finished run whose files changed, or a full disk.
    """
    info, config, training = validate_request(method_name, base, params or {})
    return build_run_dir(
        out,
        finished=lambda: _check_out_dir(out, info, config, training, base),
        build=lambda scratch: _train_into(scratch, info, config, training, base, on_step),
        publish=_publish,
    )


def _train_into(
    scratch: Path,
    info: MethodInfo,
    config: MethodConfig,
    training: TrainingConfig,
    base: str,
    on_step: StepCallback | None,
) -> Manifest:
    """Train and write adapter plus manifest into ``scratch`` (nothing else)."""
    from alignlab.models import load_model, weights_sha256

    set_training_threads(training)
    started = time.perf_counter()
    loaded = load_model(base)
    if loaded.weights_dir is None:
        raise AlignlabError(f"cannot train '{base}': its weights are not in a local directory")
    context = BuildContext(seed=training.seed, token_budget=training.token_budget, base_spec=base)
    data = info.builder(config, context)
    exemption = (
        None
        if context.contamination is None
        else GuardExemption(info.name, context.contamination, context.acknowledged)
    )
    workdir = scratch / TRAINER_DIR
    workdir.mkdir()
    outcome = run(
        info.kind,
        data,
        base_weights=loaded.weights_dir,
        tokenizer=loaded.tokenizer,
        training=training,
        workdir=workdir,
        adapter_dir=scratch,
        on_step=on_step,
        penalty=info.penalty(config) if info.penalty is not None else None,
        source=f"method '{info.name}'",
        exemption=exemption,
    )
    shutil.rmtree(workdir)
    _check_finite(scratch)
    manifest = Manifest(
        version=MANIFEST_VERSION,
        method=info.name,
        params=_dump(config),
        training=training,
        base=base,
        base_weights=str(loaded.weights_dir),
        base_weights_sha256=weights_sha256(loaded.weights_dir),
        seed=training.seed,
        dataset_sha256=outcome.dataset_sha256,
        n_examples=outcome.n_examples,
        tokens_seen=outcome.tokens_seen,
        loss_curve=outcome.loss_curve,
        wall_time_s=round(time.perf_counter() - started, 2),
        library_versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=context.notes,
        leakage_guard=outcome.leakage_guard,
        device=outcome.device,
        learning_check=outcome.learning_check,
        contaminated_with=context.contamination,
        files=file_hashes(scratch, exclude=frozenset({MANIFEST})),
    )
    atomic_write_text(scratch / MANIFEST, manifest.model_dump_json(indent=2))
    return manifest
