"""The residual-stream recorder: shapes, agreement with HF's hidden states, no hooks left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from alignlab._errors import AlignlabError
from alignlab.models import (
    chat_prompt_ids,
    check_layers,
    decoder_layers,
    load_model,
    record_residual_stream,
    residual_hooks,
)

PROMPTS: list[Any] = [
    "Is 2 + 2 = 4?",
    [
        {"role": "system", "content": "You are a shop's assistant."},
        {"role": "user", "content": "Can you check this line of my receipt: 17 + 25 = 42?"},
    ],
    "Question: which is larger?\n\n(A) 3\n(B) 5\n\nAnswer with the letter of your choice.",
]


@pytest.fixture()
def tiny(tiny_model_dir: Path) -> Any:
    return load_model(str(tiny_model_dir), reuse=False)


def _forward_hook_count(model: Any) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def test_one_vector_per_layer_of_the_hidden_size(tiny: Any) -> None:
    recorded = record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS)
    n_layers, width = tiny.model.config.num_hidden_layers, tiny.model.config.hidden_size
    assert recorded.layers == tuple(range(n_layers))
    for array in (recorded.last, recorded.mean, recorded.at("last"), recorded.at("mean")):
        assert array.shape == (len(PROMPTS), n_layers, width)
        assert array.dtype == np.float32
        assert np.isfinite(array).all()
    system_turn = PROMPTS[1]
    assert recorded.n_tokens[1] == len(chat_prompt_ids(tiny.tokenizer, system_turn))
    # different prompts, different states (the recorder does not return one row repeatedly)
    assert not np.allclose(recorded.last[0], recorded.last[1])


def test_vectors_are_the_layer_outputs_at_the_last_token_and_their_mean(tiny: Any) -> None:
    """Layer i is Hugging Face's hidden_states[i + 1] (the last one is before the final norm)."""
    recorded = record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        ids = torch.tensor([chat_prompt_ids(tiny.tokenizer, messages)])
        with torch.no_grad():
            states = tiny.model(input_ids=ids, output_hidden_states=True).hidden_states
        first_layer = states[1][0]
        np.testing.assert_allclose(recorded.last[row, 0], first_layer[-1].numpy(), atol=1e-5)
        np.testing.assert_allclose(recorded.mean[row, 0], first_layer.mean(0).numpy(), atol=1e-5)


def test_a_subset_of_layers_matches_the_full_recording(tiny: Any) -> None:
    """Recording only layer 0 stops the forward there; the vectors are the same."""
    full = record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS)
    first = record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS, layers=[0])
    assert first.layers == (0,)
    np.testing.assert_allclose(first.last[:, 0], full.last[:, 0], atol=1e-6)
    np.testing.assert_allclose(first.mean[:, 0], full.mean[:, 0], atol=1e-6)
    deepest = record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS, layers=[1])
    np.testing.assert_allclose(deepest.last[:, 0], full.last[:, 1], atol=1e-6)


def test_no_hooks_are_left_behind(tiny: Any) -> None:
    before = _forward_hook_count(tiny.model)
    record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS[:1])
    assert _forward_hook_count(tiny.model) == before
    with residual_hooks(tiny.model, [0, 1]):
        assert _forward_hook_count(tiny.model) == before + 2
    assert _forward_hook_count(tiny.model) == before


def test_no_hooks_are_left_behind_when_the_forward_raises(
    tiny: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _forward_hook_count(tiny.model)
    layers = decoder_layers(tiny.model)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom in layer 1")

    monkeypatch.setattr(layers[1], "forward", broken)
    with pytest.raises(RuntimeError, match="boom in layer 1"):
        record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS)
    assert _forward_hook_count(tiny.model) == before
    with pytest.raises(ValueError, match="inside"), residual_hooks(tiny.model, [0]):
        raise ValueError("inside the context")
    assert _forward_hook_count(tiny.model) == before


def test_layers_out_of_range_and_empty_input_are_one_line_errors(tiny: Any) -> None:
    with pytest.raises(AlignlabError, match=r"layer 2 is out of range: the model has 2 decoder"):
        record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS, layers=[0, 2])
    with pytest.raises(AlignlabError, match="layer -1 is out of range"):
        check_layers([-1], 2)
    with pytest.raises(AlignlabError, match="no prompts"):
        record_residual_stream(tiny.model, tiny.tokenizer, [])
    with pytest.raises(AlignlabError, match="unknown position 'first'"):
        record_residual_stream(tiny.model, tiny.tokenizer, PROMPTS[:1]).at("first")
    assert check_layers([1, 0, 1], 2) == (0, 1)
