"""Record a model's residual stream on chat prompts, with forward hooks.

What a white-box measurement (a linear probe, a steering vector, a
representation-similarity check) needs first: for each prompt, the hidden
state each decoder layer writes to the residual stream.  A forward hook on
every requested decoder layer keeps two vectors per prompt and layer:

- ``last``: the state at the *last prompt token*.  Prompts are rendered with
  the tokenizer's chat template with the assistant's turn opened
  (:func:`~alignlab.models.chat_prompt_ids`, the provider's own rendering), so
  this is the position from which the model would write its first reply
  token: the token itself is the same in every prompt, and only the context
  makes the states differ.
- ``mean``: the mean over every prompt token (chat-template tokens included).

Layer ``i`` is the output of decoder layer ``i`` (0-based), i.e. Hugging
Face's ``hidden_states[i + 1]``; the last layer's output is taken *before* the
model's final norm.  The embedding output is not recorded.

Simplified: prompts run one at a time (no padding, so no attention-mask
bookkeeping; a probe needs hundreds of prompts, not thousands), and the
forward pass stops once the deepest requested layer has run (the later layers
and the LM head are skipped).  Hooks are removed when recording ends, also
when the forward raises.  Vectors come back as fp32 numpy arrays whatever the
model's dtype.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from alignlab._errors import AlignlabError
from alignlab.models._chat import chat_prompt_ids

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

Prompt = str | Sequence[Mapping[str, str]]
"""A user message, or a conversation as ``[{"role": ..., "content": ...}]`` dicts."""

POSITIONS: Final = ("last", "mean")
"""Token positions recorded per prompt: the last prompt token, the mean over all of them."""

_LAYER_LIST_NAMES: Final = ("layers", "h", "blocks")
"""Attribute names decoder-layer lists go by (Llama/Qwen/Mistral, GPT-2, others)."""


@dataclass(frozen=True)
class Activations:
    """Residual-stream vectors of a list of prompts."""

    layers: tuple[int, ...]
    """The decoder layers recorded (0-based), in the order of the arrays' second axis."""
    last: NDArray[np.float32]
    """``(n_prompts, n_layers, hidden_size)``: the state at the last prompt token."""
    mean: NDArray[np.float32]
    """``(n_prompts, n_layers, hidden_size)``: the mean state over the prompt's tokens."""
    n_tokens: tuple[int, ...]
    """Prompt length in tokens, per prompt."""

    def at(self, position: str) -> NDArray[np.float32]:
        """The array of one position (``last`` or ``mean``)."""
        if position not in POSITIONS:
            choices = ", ".join(POSITIONS)
            raise AlignlabError(f"unknown position '{position}'; choose one of {choices}")
        return self.last if position == "last" else self.mean


def decoder_layers(model: Any) -> Any:
    """The model's list of decoder layers (a ``torch.nn.ModuleList``).

    Found as the module list whose length is the config's ``num_hidden_layers``
    (preferring one named ``layers``, ``h`` or ``blocks``), so it works for the
    usual causal LMs and for a PEFT-wrapped one alike.

    Args:
        model: A Hugging Face causal LM.

    Returns:
        The module list.

    Raises:
        AlignlabError: If no such list exists.
    """
    import torch

    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    candidates = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers
    ]
    for name, module in candidates:
        if name.rsplit(".", 1)[-1] in _LAYER_LIST_NAMES:
            return module
    if candidates:
        return candidates[0][1]
    raise AlignlabError(
        f"cannot find the decoder layers of {type(model).__name__} "
        f"(no module list of num_hidden_layers={n_layers} modules)"
    )


def layer_count(model: Any) -> int:
    """How many decoder layers the model has."""
    return len(decoder_layers(model))


def check_layers(layers: Sequence[int] | None, n_layers: int) -> tuple[int, ...]:
    """The layers asked for, checked against the model's depth (None: every layer).

    Args:
        layers: 0-based decoder layer indices, or None.
        n_layers: The model's number of decoder layers.

    Returns:
        The sorted distinct layers.

    Raises:
        AlignlabError: For an empty list or a layer out of range.
    """
    if layers is None:
        return tuple(range(n_layers))
    if not layers:
        raise AlignlabError("no layers asked for")
    bad = [layer for layer in layers if not 0 <= layer < n_layers]
    if bad:
        raise AlignlabError(
            f"layer {bad[0]} is out of range: the model has {n_layers} decoder layers "
            f"(0-{n_layers - 1})"
        )
    return tuple(sorted(set(layers)))


class _DeepestLayerDone(Exception):
    """Raised by the deepest hook: nothing after it is needed."""


@contextlib.contextmanager
def residual_hooks(
    model: Any, layers: Sequence[int], *, stop_after_deepest: bool = False
) -> Iterator[dict[int, list[torch.Tensor]]]:
    """Forward hooks that collect each requested decoder layer's output hidden state.

    While the context is open, every forward pass appends, per layer, the
    layer's output (``(batch, seq, hidden)``, detached) to the yielded dict's
    list; the hooks are removed on exit, whatever happened inside.

    Args:
        model: A Hugging Face causal LM.
        layers: 0-based decoder layer indices (checked by :func:`check_layers`).
        stop_after_deepest: Raise an internal exception from the deepest
            layer's hook, ending the forward there (:func:`record_residual_stream`
            catches it).

    Yields:
        ``{layer: [hidden states, one per forward pass]}``.
    """
    modules = decoder_layers(model)
    wanted = check_layers(layers, len(modules))
    captured: dict[int, list[torch.Tensor]] = {layer: [] for layer in wanted}
    deepest = max(wanted)

    def hook_for(layer: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            captured[layer].append(hidden.detach())
            if stop_after_deepest and layer == deepest:
                raise _DeepestLayerDone

        return hook

    handles = [modules[layer].register_forward_hook(hook_for(layer)) for layer in wanted]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _as_ids(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> list[int]:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return chat_prompt_ids(tokenizer, messages)


def record_residual_stream(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Prompt],
    layers: Sequence[int] | None = None,
) -> Activations:
    """Each decoder layer's output at the last prompt token and its mean over the prompt.

    Args:
        model: A Hugging Face causal LM (e.g. ``load_model(spec).model``).
        tokenizer: Its tokenizer.
        prompts: User messages or conversations; each is rendered with the chat
            template, the assistant's turn opened, as the provider renders it.
        layers: 0-based decoder layers to record (None: every layer).

    Returns:
        The vectors, fp32, one per prompt, layer and position.

    Raises:
        AlignlabError: For no prompts, an empty prompt or a layer out of range.
    """
    import torch

    if not prompts:
        raise AlignlabError("no prompts to record")
    wanted = check_layers(layers, layer_count(model))
    device = next(model.parameters()).device
    hidden_size = int(model.config.hidden_size)
    last = np.zeros((len(prompts), len(wanted), hidden_size), dtype=np.float32)
    mean = np.zeros_like(last)
    lengths: list[int] = []
    with residual_hooks(model, wanted, stop_after_deepest=True) as captured, torch.inference_mode():
        for row, prompt in enumerate(prompts):
            ids = _as_ids(tokenizer, prompt)
            if not ids:
                raise AlignlabError(f"prompt {row} is empty after tokenisation")
            for outputs in captured.values():
                outputs.clear()
            with contextlib.suppress(_DeepestLayerDone):
                model(input_ids=torch.tensor([ids], device=device), use_cache=False)
            for column, layer in enumerate(wanted):
                [hidden] = captured[layer]
                states = hidden[0].float()
                last[row, column] = states[-1].cpu().numpy()
                mean[row, column] = states.mean(dim=0).cpu().numpy()
            lengths.append(len(ids))
    return Activations(layers=wanted, last=last, mean=mean, n_tokens=tuple(lengths))
