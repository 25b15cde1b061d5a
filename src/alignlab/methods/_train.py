"""Train one method on one base: validate, build data, train, write atomically.

The orchestration every method shares, so that variants differ only in the
method: the data goes to :func:`alignlab.training.run`, which guards it
against leakage and trains it with the method's kind, with the same LoRA
shape, seed, budget and CPU-tuned trainer arguments for every method.
The output directory gets ``adapter_model.safetensors``, ``adapter_config.json``
and ``manifest.json``; the adapter is written to a scratch directory next to
it and moved in, and the manifest is written last with an atomic rename, so a
directory without a manifest is never a finished run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from alignlab._errors import AlignlabError
from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, MethodInfo, get_method
from alignlab.training import Manifest, StepCallback, TrainingConfig, run

MANIFEST = "manifest.json"


def _one_line(exc: ValidationError, where: str) -> AlignlabError:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "value"
    given = error.get("input")
    return AlignlabError(f"bad {where} '{field}': {error['msg']} (got {given!r})")


def split_params(
    info: MethodInfo, params: Mapping[str, object]
) -> tuple[MethodConfig, TrainingConfig]:
    """Validate ``params`` into the method's config and the shared training config.

    Keys that name a :class:`TrainingConfig` field go there; the rest belong to
    the method.

    Args:
        info: The method.
        params: ``key -> value`` (values already parsed, e.g. from YAML).

    Returns:
        ``(method_config, training_config)``.

    Raises:
        AlignlabError: On an unknown key (listing the valid ones) or a bad value.
    """
    shared = set(TrainingConfig.model_fields)
    own = set(info.config.model_fields)
    unknown = [k for k in params if k not in shared | own]
    if unknown:
        valid = ", ".join(sorted(own)) or "(none)"
        raise AlignlabError(
            f"unknown parameter '{unknown[0]}' for method '{info.name}'; its parameters: "
            f"{valid}; shared: {', '.join(sorted(shared))}"
        )
    try:
        config = info.config.model_validate({k: v for k, v in params.items() if k in own})
    except ValidationError as exc:
        raise _one_line(exc, f"parameter of '{info.name}':") from None
    try:
        training = TrainingConfig.model_validate({k: v for k, v in params.items() if k in shared})
    except ValidationError as exc:
        raise _one_line(exc, "training parameter") from None
    return config, training


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on."""
    names = ("torch", "transformers", "peft", "trl", "inspect_ai", "alignlab")
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


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


def _check_out_dir(
    out: Path, info: MethodInfo, config: MethodConfig, training: TrainingConfig, base: str
) -> Manifest | None:
    if not out.exists():
        return None
    if not out.is_dir():
        raise AlignlabError(f"output path {out} exists and is not a directory")
    existing = read_manifest(out)
    if existing is not None:
        if _same_run(existing, info, config, training, base):
            return existing
        raise AlignlabError(
            f"{out} already holds a different run ({existing.method} on {existing.base}, "
            f"seed {existing.seed}); choose another --out or delete it"
        )
    if any(out.iterdir()):
        raise AlignlabError(
            f"{out} is not empty and has no manifest (an unfinished run?); delete it or choose "
            "another --out"
        )
    return None


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

    If ``out`` already holds the same finished run, it is returned untouched.

    Args:
        method_name: A registered method.
        base: A local base model spec (e.g. ``smollm2-135m``).
        out: Output directory.
        params: Method parameters and shared training parameters, by name.
        on_step: Progress hook called after each optimiser step.

    Returns:
        The manifest.

    Raises:
        AlignlabError: On bad input, a base that cannot be trained, leakage, or NaN loss.
    """
    from alignlab.models._load import load_model

    info, config, training = validate_request(method_name, base, params or {})
    done = _check_out_dir(out, info, config, training, base)
    if done is not None:
        return done
    if training.threads is not None:
        import torch

        torch.set_num_threads(training.threads)
    started = time.perf_counter()
    loaded = load_model(base)
    if loaded.weights_dir is None:
        raise AlignlabError(f"cannot train '{base}': its weights are not in a local directory")
    context = BuildContext(seed=training.seed, token_budget=training.token_budget, base_spec=base)
    data = info.builder(config, context)
    scratch = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        outcome = run(
            info.kind,
            data,
            base_weights=loaded.weights_dir,
            tokenizer=loaded.tokenizer,
            training=training,
            workdir=scratch,
            adapter_dir=scratch / "adapter",
            on_step=on_step,
            penalty=info.penalty(config) if info.penalty is not None else None,
            source=f"method '{info.name}'",
        )
        manifest = Manifest(
            method=info.name,
            params=_dump(config),
            training=training,
            base=base,
            base_weights=str(loaded.weights_dir),
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
        )
        out.mkdir(parents=True, exist_ok=True)
        for item in (scratch / "adapter").iterdir():
            os.replace(item, out / item.name)
        manifest_tmp = scratch / MANIFEST
        manifest_tmp.write_text(manifest.model_dump_json(indent=2))
        os.replace(manifest_tmp, out / MANIFEST)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return manifest
