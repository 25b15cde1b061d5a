"""Shared fixtures: the real embedded model's directory and a tiny random Llama.

The tiny model uses the real SmolLM2 tokenizer (so chat templates, EOS and
option tokenisation are the real thing) with 2 layers of width 64, randomly
initialised from a fixed seed: fast enough for unit tests, real enough that
shapes and code paths match the embedded model.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from alignlab.models import ensure_embedded_weights

    return ensure_embedded_weights("smollm2-135m")


def build_tiny_model(target: Path, tokenizer_source: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target


@pytest.fixture(scope="session")
def tiny_model_dir(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", smollm2_dir)


@pytest.fixture()
def tiny_model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy that a test may corrupt."""
    target = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model_dir, target)
    return target


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every non-loopback socket connection raise; yields the attempted addresses."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def is_loopback(address: object) -> bool:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            return host.startswith("127.") or host in ("::1", "localhost")
        return True  # unix sockets

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not is_loopback(address):
            attempts.append(address)
            raise OSError(f"network access blocked in tests: {address}")
        real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not is_loopback(address):
            attempts.append(address)
            raise OSError(f"network access blocked in tests: {address}")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield attempts
