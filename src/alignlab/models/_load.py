"""Loading model specs into a ``transformers`` causal LM and tokenizer.

Named models (:mod:`alignlab.models._catalogue`) and local ``.gguf`` files are
quantized GGUF.  ``transformers`` can read GGUF (``gguf_file=``) but
de-quantizing is slow (about a minute for the 491 MB ``qwen2.5-coder-0.5b`` on
this class of machine), so the first load converts it once to fp32
safetensors under the cache dir and every later load reads that directory:

- a named model converts into ``CACHE/models/NAME``, after its parts are
  checked against the catalogue's size and SHA-256 (a model in several parts
  is first streamed into one staging file under ``CACHE/models``);
- a GGUF file converts into ``CACHE/gguf/SHA256[:16]``, keyed by the file's
  content, after its header is checked (:func:`check_gguf_file`).

The conversion is staged in a PID-named scratch directory, its marker written
last, under a cross-process lock.  The GGUF ``quantization_config`` is dropped
from the cached config: with it, ``Trainer`` refuses to train.

Everything here runs offline: embedded and local models are read with
``local_files_only=True``; a hub id is read from the local HF cache first and
only falls back to the hub if the environment allows it.

:func:`load_model` puts the model on :func:`~alignlab.models.compute_device`
in :func:`~alignlab.models.compute_dtype` (fp32 on the CPU, bf16 on a GPU that
has it); the conversion above is always fp32 on the CPU, so the cached files
are the same wherever they were made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError
from alignlab.files import RunLock, atomic_write_text, scratch_dir, sha256_file, verify_hashes
from alignlab.models._catalogue import NAMED_MODELS, NamedModel
from alignlab.models._device import compute_device, compute_dtype
from alignlab.models._gguf import (
    assemble_parts,
    cached_gguf_sha256,
    check_gguf_file,
    gguf_sha256,
    hash_parts,
)
from alignlab.models._spec import ModelSpec, parse_spec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CONVERSION_MARKER = "alignlab-conversion.json"
"""Written last into a converted model directory: its presence means complete."""
WEIGHTS_HASH_FILE = ".alignlab-weights-sha256.json"
"""Sidecar in a weights directory caching :func:`weights_sha256`, keyed by size and mtime."""
ADAPTER_MANIFEST = "manifest.json"
"""Written by ``alignlab train`` next to an adapter: hashes of its files and of its base."""
CONVERSION_WAIT_S = 900.0
"""How long a process waits for another one converting the same model."""


def cache_dir() -> Path:
    """The alignlab cache directory (``$ALIGNLAB_CACHE`` or ``~/.cache/alignlab``)."""
    configured = os.environ.get("ALIGNLAB_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "alignlab"


def converted_dir(name: str) -> Path:
    """Where the fp32 safetensors copy of named model ``name`` lives."""
    return cache_dir() / "models" / name


def gguf_converted_dir(sha256: str) -> Path:
    """Where the fp32 safetensors copy of the GGUF file with this SHA-256 lives."""
    return cache_dir() / "gguf" / sha256[:16]


@dataclass
class LoadedModel:
    """A spec resolved to weights in memory."""

    spec: ModelSpec
    """The spec that was loaded."""
    model: PreTrainedModel
    """The causal LM, in eval mode, on :func:`~alignlab.models.compute_device` in
    :func:`~alignlab.models.compute_dtype` (the CPU and fp32 unless a GPU is available)."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer, with a pad token set."""
    weights_dir: Path | None
    """The directory the base weights were read from (None for hub ids)."""


def is_available_offline(spec_text: str) -> bool:
    """Whether a spec can be loaded without any network access.

    Args:
        spec_text: A model spec string.

    Returns:
        True if the weights are on disk (named model installed or converted,
        directory or GGUF file present).
    """
    try:
        spec = parse_spec(spec_text)
    except AlignlabError:
        return False
    if spec.kind == "embedded":
        return NAMED_MODELS[spec.base].part_paths() is not None or is_converted(
            converted_dir(spec.base)
        )
    if spec.kind == "local_dir":
        return Path(spec.base).is_dir()
    if spec.kind == "gguf_file":
        return Path(spec.base).is_file()
    return False


def is_converted(directory: Path) -> bool:
    """Whether ``directory`` holds a complete conversion (its marker is written last)."""
    return (directory / CONVERSION_MARKER).is_file()


_conversion_lock = threading.Lock()


def _convert_once(target: Path, convert: Callable[[], None]) -> Path:
    """Run ``convert`` (which fills ``target``) unless ``target`` is already converted.

    One thread of this process and one process on this machine at a time: the
    others wait (up to :data:`CONVERSION_WAIT_S`) and then find it done.
    """
    with _conversion_lock:
        if is_converted(target):
            return target
        lock = _wait_for_lock(target)
        try:
            if not is_converted(target):  # another process may have finished meanwhile
                convert()
        finally:
            lock.release()
    return target


def ensure_embedded_weights(name: str) -> Path:
    """Return the safetensors directory for named model ``name``, converting once.

    The first call checks the parts' size and SHA-256 against the catalogue,
    then converts; later calls return the cached directory at once.

    Args:
        name: A named model, e.g. ``smollm2-135m`` or ``qwen2.5-coder-0.5b``.

    Returns:
        The directory holding ``config.json``, safetensors weights and tokenizer.

    Raises:
        AlignlabError: If the model is unknown, its parts are not installed,
            they fail verification, or the GGUF is unreadable.
    """
    target = converted_dir(name)
    if is_converted(target):
        return target
    entry, parts = _installed_parts(name)
    return _convert_once(target, lambda: _convert_named(entry, parts, target))


def _installed_parts(name: str) -> tuple[NamedModel, list[Path]]:
    """A named model's catalogue entry and the paths of its installed GGUF parts.

    Raises:
        AlignlabError: If the model is unknown or its parts are not installed.
    """
    entry = NAMED_MODELS.get(name)
    if entry is None:
        raise AlignlabError(f"unknown named model '{name}'; known: {', '.join(NAMED_MODELS)}")
    parts = entry.part_paths()
    if parts is None:
        raise AlignlabError(entry.not_installed_message())
    return entry, parts


def _check_parts(entry: NamedModel, digest: str, size: int) -> None:
    if digest == entry.gguf_sha256 and size == entry.gguf_bytes:
        return
    wrong = [
        f"{part.distribution} {installed}"
        for part in entry.parts
        if (installed := part.installed_version()) != part.version
    ]
    versions = f"; installed: {', '.join(wrong)}" if wrong else ""
    raise AlignlabError(
        f"model '{entry.name}' failed verification: its installed parts form {size:,} bytes "
        f"with SHA-256 {digest}, not {entry.gguf_bytes:,} bytes with SHA-256 "
        f"{entry.gguf_sha256}{versions}; reinstall: {entry.install_hint}"
    )


def verify_named_model(name: str) -> tuple[str, int]:
    """Check a named model's installed parts against the catalogue, without copying them.

    Args:
        name: A named model.

    Returns:
        ``(SHA-256, size)`` of the GGUF the parts form.

    Raises:
        AlignlabError: If the model is unknown, not installed, or its parts do not match.
    """
    entry, parts = _installed_parts(name)
    digest, size = hash_parts(parts)
    _check_parts(entry, digest, size)
    return digest, size


def _convert_named(entry: NamedModel, parts: list[Path], target: Path) -> None:
    """Verify a named model's parts and convert them into ``target``.

    A single part is verified and converted in place; several are streamed
    into one staging file next to ``target`` (removed afterwards, and by the
    next conversion if this process is killed).
    """
    source = ", ".join(entry.requirements)
    if len(parts) == 1:
        digest, size = hash_parts(parts)
        _check_parts(entry, digest, size)
        _convert_gguf_file(parts[0], target, source=source, source_sha256=digest)
        return
    with _staged_gguf(target) as gguf:
        logger.info("assembling %s from %d parts", entry.name, len(parts))
        digest, size = assemble_parts(parts, gguf)
        _check_parts(entry, digest, size)
        _convert_gguf(gguf, target, source=source, source_sha256=digest)


@contextlib.contextmanager
def _staged_gguf(target: Path) -> Iterator[Path]:
    """A path ``TARGET.gguf`` in a scratch directory next to ``target``, removed afterwards."""
    staging = scratch_dir(target.with_name(f"{target.name}.gguf"))
    try:
        yield staging / f"{target.name}.gguf"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _convert_gguf_file(gguf: Path, target: Path, *, source: str, source_sha256: str) -> None:
    """:func:`_convert_gguf`, through a ``*.gguf`` symlink if the file's name lacks that suffix.

    ``transformers`` reads a ``gguf_file`` as GGUF only when its name ends in ``.gguf``.
    """
    if gguf.name.endswith(".gguf"):
        _convert_gguf(gguf, target, source=source, source_sha256=source_sha256)
        return
    with _staged_gguf(target) as link:
        link.symlink_to(gguf)
        _convert_gguf(link, target, source=source, source_sha256=source_sha256)


def ensure_gguf_weights(gguf: Path) -> Path:
    """Return the safetensors directory for a local GGUF file, converting once.

    The cache is keyed by the file's SHA-256 (itself cached by path, size and
    mtime), so renaming or copying the file reuses the conversion.

    Args:
        gguf: A GGUF file.

    Returns:
        The converted directory, ``CACHE/gguf/SHA256[:16]``.

    Raises:
        AlignlabError: One line, if the file is not a GGUF, is truncated or
            corrupt, or has an architecture transformers cannot de-quantize.
    """
    gguf = gguf.expanduser().resolve()
    known = cached_gguf_sha256(gguf, cache_dir())
    if known is not None and is_converted(gguf_converted_dir(known)):
        return gguf_converted_dir(known)
    check_gguf_file(gguf)
    digest = gguf_sha256(gguf, cache_dir())
    target = gguf_converted_dir(digest)
    return _convert_once(
        target, lambda: _convert_gguf_file(gguf, target, source=str(gguf), source_sha256=digest)
    )


def local_weights_dir(spec: ModelSpec) -> Path | None:
    """The directory a local spec's base weights are read from, converting GGUF once.

    Args:
        spec: A parsed spec.

    Returns:
        The directory for named models, GGUF files and local directories;
        None for hub ids and Inspect strings.
    """
    if spec.kind == "embedded":
        return ensure_embedded_weights(spec.base)
    if spec.kind == "gguf_file":
        return ensure_gguf_weights(Path(spec.base))
    if spec.kind == "local_dir":
        return Path(spec.base)
    return None


def _wait_for_lock(target: Path) -> RunLock:
    """Take ``target``'s :class:`RunLock`, waiting while another process holds it."""
    lock = RunLock(target)
    deadline = time.monotonic() + CONVERSION_WAIT_S
    while True:
        try:
            lock.acquire()
        except AlignlabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return lock


def _convert_gguf(
    gguf: Path, target: Path, *, source: str | None = None, source_sha256: str | None = None
) -> None:
    """De-quantize a GGUF file to an fp32 safetensors directory, atomically.

    The copy is staged in a PID-named scratch directory next to ``target``
    (so the next conversion removes what a killed one left behind), the
    marker is written last, and the directory is renamed into place.

    Args:
        gguf: The GGUF file (already checked by the caller).
        target: The directory to create.
        source: What to record as the source in the marker (default: the file's path).
        source_sha256: The GGUF's SHA-256, recorded in the marker if given.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info(
        "converting %s (%d MB) to fp32 safetensors (once; about a minute per 500 MB)",
        gguf.name,
        gguf.stat().st_size >> 20,
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:
        raise AlignlabError(f"cannot read GGUF weights {gguf}: {_first_line(exc)}") from None
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.load_state_dict(quantized.state_dict())
    del quantized
    staging = scratch_dir(target)
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        key, digest = _weights_record(staging)
        marker = {
            "version": 1,
            "source": source if source is not None else str(gguf),
            "source_bytes": gguf.stat().st_size,
            "source_sha256": source_sha256,
            "weights_key": key,
            "weights_sha256": digest,
        }
        atomic_write_text(staging / CONVERSION_MARKER, json.dumps(marker))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _weight_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))


def _weights_key(files: list[Path]) -> dict[str, list[int]]:
    key = {}
    for path in files:
        stat = path.stat()
        key[path.name] = [stat.st_size, stat.st_mtime_ns]
    return key


def _weights_record(directory: Path) -> tuple[dict[str, list[int]], str | None]:
    files = _weight_files(directory)
    if not files:
        return {}, None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name} {sha256_file(path)}\n".encode())
    return _weights_key(files), digest.hexdigest()


def _cached_weights_hash(record_path: Path, key: dict[str, list[int]]) -> str | None:
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("weights_key") != key:
        return None
    digest = record.get("weights_sha256")
    return digest if isinstance(digest, str) else None


def weights_sha256(weights_dir: Path) -> str | None:
    """A hash of a model directory's weight files: the same weights give the same hash anywhere.

    SHA-256 over the names and SHA-256s of the sorted ``*.safetensors`` files
    (``*.bin`` if there are none).  Hashing a 500 MB model takes a second or
    two, so the result is cached, keyed by each file's size and mtime, in the
    embedded model's conversion marker or in a sidecar file
    (:data:`WEIGHTS_HASH_FILE`) that is written when the directory is writable.

    Args:
        weights_dir: A local model directory.

    Returns:
        The hex digest, or None if the directory holds no weight files.
    """
    files = _weight_files(weights_dir)
    if not files:
        return None
    key = _weights_key(files)
    for record_path in (weights_dir / CONVERSION_MARKER, weights_dir / WEIGHTS_HASH_FILE):
        cached = _cached_weights_hash(record_path, key)
        if cached is not None:
            return cached
    key, digest = _weights_record(weights_dir)
    record = {"weights_key": key, "weights_sha256": digest}
    with contextlib.suppress(OSError):  # a read-only directory: hash again next time
        atomic_write_text(weights_dir / WEIGHTS_HASH_FILE, json.dumps(record))
    return digest


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _load_base(spec: ModelSpec, dtype: torch.dtype) -> tuple[Any, Any, Path | None]:
    """The base model (in ``dtype``, on the CPU), its tokenizer and its weights directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights_dir: Path | None
    if spec.kind in ("embedded", "gguf_file"):
        weights_dir = local_weights_dir(spec)
        assert weights_dir is not None
        source = str(weights_dir)
    elif spec.kind == "local_dir":
        weights_dir = Path(spec.base)
        if not (weights_dir / "config.json").is_file():
            raise AlignlabError(f"'{weights_dir}' is not a model directory: no config.json")
        source = str(weights_dir)
    elif spec.kind == "hub":
        weights_dir = None
        source = spec.base
    else:
        raise AlignlabError(
            f"'{spec.raw}' is an Inspect model string: alignlab cannot load its weights"
        )
    local_only = spec.kind != "hub" or _hub_offline()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            source, local_files_only=local_only, dtype=dtype
        )
    except OSError as exc:
        if spec.kind == "hub" and local_only is False:
            raise AlignlabError(f"cannot load hub model '{source}': {_first_line(exc)}") from None
        if spec.kind == "hub":
            raise AlignlabError(
                f"hub model '{source}' is not in the local cache and HF_HUB_OFFLINE is set"
            ) from None
        raise AlignlabError(
            f"missing or corrupt weights in '{source}': {_first_line(exc)}"
        ) from None
    except Exception as exc:
        raise AlignlabError(
            f"missing or corrupt weights in '{source}': {_first_line(exc)}"
        ) from None
    return model, tokenizer, weights_dir


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_adapter_base(adapter_dir: Path) -> str | None:
    """The base model an adapter says it was trained on, if it says.

    Args:
        adapter_dir: A PEFT adapter directory.

    Returns:
        ``base_model_name_or_path`` from ``adapter_config.json``, or None.

    Raises:
        AlignlabError: If the directory or its config is missing or unreadable.
    """
    config_path = adapter_dir / "adapter_config.json"
    if not adapter_dir.is_dir():
        raise AlignlabError(f"adapter directory '{adapter_dir}' does not exist")
    if not config_path.is_file():
        raise AlignlabError(f"'{adapter_dir}' is not a PEFT adapter: no adapter_config.json")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlignlabError(f"corrupt adapter config '{config_path}': {exc}") from None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    return str(base) if base else None


def _same_base(declared: str, spec: ModelSpec, weights_dir: Path | None) -> bool:
    candidates = {spec.base}
    if weights_dir is not None:
        candidates.add(str(weights_dir))
        candidates.add(str(weights_dir.resolve()))
    return declared in candidates or str(Path(declared).expanduser()) in candidates


def read_adapter_manifest(adapter_dir: Path) -> dict[str, Any] | None:
    """The raw ``manifest.json`` alignlab wrote next to an adapter, or None without one.

    Read as plain JSON: :class:`alignlab.training.Manifest` lives above this package.

    Raises:
        AlignlabError: If the manifest exists but is not a JSON object.
    """
    path = adapter_dir / ADAPTER_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AlignlabError(f"corrupt adapter manifest '{path}': {_first_line(exc)}") from None
    if not isinstance(manifest, dict):
        raise AlignlabError(f"corrupt adapter manifest '{path}': not a JSON object")
    return manifest


def _check_adapter_files(adapter_dir: Path, manifest: dict[str, Any]) -> None:
    files = manifest.get("files")
    version = manifest.get("version")
    if isinstance(version, int) and version >= 2:
        if not isinstance(files, dict) or not files:
            raise AlignlabError(
                f"corrupt adapter manifest '{adapter_dir / ADAPTER_MANIFEST}': it lists no files"
            )
        verify_hashes(adapter_dir, {str(k): str(v) for k, v in files.items()})
    else:  # version 1 vouched for no file
        logger.info("%s has a version-1 manifest: its files are not verified", adapter_dir)


def _check_base(
    adapter_dir: Path, manifest: dict[str, Any] | None, spec: ModelSpec, weights_dir: Path | None
) -> None:
    recorded = manifest.get("base_weights_sha256") if manifest is not None else None
    actual = weights_sha256(weights_dir) if weights_dir is not None and recorded else None
    if isinstance(recorded, str) and actual is not None:
        if recorded != actual:
            trained_on = manifest.get("base") if manifest is not None else None
            raise AlignlabError(
                f"adapter '{adapter_dir}' was trained on '{trained_on}', whose weights differ "
                f"from those of '{spec.base}' (base weights SHA-256 {recorded[:12]}, "
                f"not {actual[:12]})"
            )
        return
    # no manifest (e.g. a third-party PEFT adapter) or none that records the weights
    declared = read_adapter_base(adapter_dir)
    if declared is not None and not _same_base(declared, spec, weights_dir):
        raise AlignlabError(
            f"adapter '{adapter_dir}' was trained on '{declared}', not on '{spec.base}'"
        )


def _check_finite(peft_model: Any, adapter_dir: Path) -> None:
    import torch

    for name, parameter in peft_model.named_parameters():
        # adapter parameters carry the adapter's name: lora_A.default.weight, ...
        if ".default." in name and not bool(torch.isfinite(parameter).all()):
            raise AlignlabError(
                f"adapter '{adapter_dir}' has NaN or infinite weights ({name}); "
                "it is unusable: retrain it"
            )


def _apply_adapter(model: Any, spec: ModelSpec, weights_dir: Path | None) -> Any:
    from peft import PeftModel

    assert spec.adapter is not None
    read_adapter_base(spec.adapter)  # the directory and its config exist and parse
    manifest = read_adapter_manifest(spec.adapter)
    if manifest is not None:
        _check_adapter_files(spec.adapter, manifest)
    _check_base(spec.adapter, manifest, spec, weights_dir)
    try:
        peft_model = PeftModel.from_pretrained(model, str(spec.adapter), is_trainable=False)
    except RuntimeError as exc:
        # size mismatches land here when the adapter belongs to another architecture
        raise AlignlabError(
            f"adapter '{spec.adapter}' does not fit base '{spec.base}': {_first_line(exc)}"
        ) from None
    except Exception as exc:
        raise AlignlabError(f"corrupt adapter '{spec.adapter}': {_first_line(exc)}") from None
    _check_finite(peft_model, spec.adapter)
    return peft_model


_model_cache: dict[str, LoadedModel] = {}
_model_cache_lock = threading.Lock()


def load_model(spec_text: str, *, reuse: bool = True) -> LoadedModel:
    """Load a model spec into memory.

    Args:
        spec_text: A model spec string (see :mod:`alignlab.models._spec`).
        reuse: Return the already-loaded model for the same spec if there is one,
            so several Inspect tasks in one process share weights.

    Returns:
        The loaded model and tokenizer, on :func:`~alignlab.models.compute_device`
        in :func:`~alignlab.models.compute_dtype`.

    Raises:
        AlignlabError: For unknown specs, missing or corrupt weights or adapters,
            adapters trained on another base, and a bad ``ALIGNLAB_DEVICE``.
    """
    spec = parse_spec(spec_text)
    with _model_cache_lock:
        if reuse and spec.raw in _model_cache:
            return _model_cache[spec.raw]
        device = compute_device()
        model, tokenizer, weights_dir = _load_base(spec, compute_dtype(device))
        if spec.adapter is not None:
            model = _apply_adapter(model, spec, weights_dir)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if device.type != "cpu":  # loaded on the CPU: the adapter's checks ran there
            model = model.to(device)
        model.eval()
        loaded = LoadedModel(spec=spec, model=model, tokenizer=tokenizer, weights_dir=weights_dir)
        if reuse:
            _model_cache[spec.raw] = loaded
        return loaded


def release_model(spec_text: str) -> bool:
    """Drop a loaded model from the in-process cache so its memory can be freed.

    The experiment runner calls this after scoring an adapter: every
    ``BASE+ADAPTER`` spec loads its own copy of the base weights (2.5 GB in
    fp32 for a 0.5B model), and an experiment scores many adapters in one
    process.

    Args:
        spec_text: The spec it was loaded under.

    Returns:
        Whether a cached model was dropped.
    """
    import gc

    with _model_cache_lock:
        dropped = _model_cache.pop(spec_text, None) is not None
    if dropped:
        gc.collect()
    return dropped
