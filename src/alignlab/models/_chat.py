"""A conversation as the prompt token ids a local model reads.

One function, shared by the Inspect provider (what a model answers) and the
activation recorder (what a probe reads), so both see exactly the same tokens:
the tokenizer's chat template with the assistant's turn opened, or, for a
tokenizer without a template, the messages' texts joined by blank lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def chat_prompt_ids(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Mapping[str, str]]
) -> list[int]:
    """Token ids of the chat-templated prompt, ready for the assistant's turn.

    Args:
        tokenizer: The model's tokenizer.
        messages: ``[{"role": ..., "content": ...}]`` with roles system, user or assistant.

    Returns:
        Prompt token ids.
    """
    dicts = [{"role": m["role"], "content": m["content"]} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    text = "\n\n".join(d["content"] for d in dicts) + "\n\n"
    return list(tokenizer(text)["input_ids"])
