"""Write a tiny random Llama as a real GGUF file, the way llama.cpp's converter would.

Two layers of width 64 and a byte-level BPE vocabulary of 262 tokens (three
ChatML specials, the 256 GPT-2 byte symbols and three merges), in F32: a
~370 KB file that ``transformers`` loads with ``gguf_file=`` into exactly the
weights it was written from (q/k are permuted as llama.cpp does and
``transformers`` reverses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HEADS, KV_HEADS, WIDTH = 4, 2, 64
_LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def _permute(weights: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    shape = weights.shape
    return (
        weights.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def tiny_llama(seed: int = 0) -> Any:
    """The random HF model the GGUF is written from."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = len(SPECIALS) + 256 + len(MERGES)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=WIDTH,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def write_tiny_gguf(out: Path, seed: int = 0, architecture: str = "llama") -> Any:
    """Write the tiny Llama to ``out`` as GGUF; returns the HF model it holds."""
    import gguf

    model = tiny_llama(seed)
    tokens = SPECIALS + _byte_symbols() + [m.replace(" ", "") for m in MERGES]
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_name("tiny llama")
    writer.add_context_length(2048)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(2)
    writer.add_feed_forward_length(128)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(WIDTH // HEADS)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, tensor in model.state_dict().items():
        weights = tensor.detach().numpy()
        if name == "lm_head.weight":  # tied to the embeddings
            continue
        if name == "model.embed_tokens.weight":
            gguf_name = "token_embd.weight"
        elif name == "model.norm.weight":
            gguf_name = "output_norm.weight"
        else:
            _, _, layer, *rest = name.split(".")
            module = ".".join(rest[:-1])
            gguf_name = f"blk.{layer}.{_LAYER_TENSORS[module]}.weight"
            if module == "self_attn.q_proj":
                weights = _permute(weights, HEADS)
            elif module == "self_attn.k_proj":
                weights = _permute(weights, KV_HEADS)
        writer.add_tensor(gguf_name, np.ascontiguousarray(weights, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def write_header_only_gguf(out: Path, architecture: str) -> None:
    """A GGUF with metadata and no tensors, for header checks."""
    import gguf

    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_name("header only")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
