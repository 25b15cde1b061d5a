"""Shared fixtures: the real embedded model's directory and a tiny random Llama.

A session-wide check also makes sure no test leaves a registration behind:
after the last test, the method and eval registries hold exactly what the
modules of :mod:`alignlab.methods` and :mod:`alignlab.evals` register.

The tiny model uses the real SmolLM2 tokenizer (so chat templates, EOS and
option tokenisation are the real thing) with 2 layers of width 64, randomly
initialised from a fixed seed: fast enough for unit tests, real enough that
shapes and code paths match the embedded model.

The suite runs on the CPU even on a machine with CUDA (``ALIGNLAB_DEVICE=cpu``
for the whole session): golden answers, bit-identical reruns and numbers
computed by hand are fp32 CPU facts.  Tests marked ``cuda`` opt in to the GPU
and are skipped without one (``tests/test_cuda.py``).
"""

from __future__ import annotations

import shutil
import socket
import sys
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


def _leftover_registrations(package: str, table: str, entry: str) -> list[str]:
    """What tests left in ``package``'s registry: names from elsewhere, or built-ins removed.

    Built-in means registered by a public module of ``package``; ``table`` is the
    registry dict in ``package._registry`` and ``entry`` the info field holding
    the registered function.  Only what is already imported is looked at, so a
    session that never touched a registry pays nothing.
    """
    registry = sys.modules.get(f"{package}._registry")
    if registry is None:
        return []

    def builtin(module: str) -> bool:
        parent, _, leaf = module.rpartition(".")
        return parent == package and not leaf.startswith("_")

    origins = {
        name: getattr(info, entry).__module__ for name, info in getattr(registry, table).items()
    }
    problems = [
        f"{name} (from {origin})" for name, origin in origins.items() if not builtin(origin)
    ]
    removed = {module for module in sys.modules if builtin(module)} - set(origins.values())
    problems += [f"{module}'s registration removed" for module in sorted(removed)]
    return problems


@pytest.fixture(scope="session", autouse=True)
def registries_left_as_found() -> Iterator[None]:
    """Fails the session if a test registers a method or eval without removing it.

    A test that registers one uses a fixture that unregisters it afterwards
    (``alignlab.methods.unregister``, ``alignlab.evals.unregister``).
    """
    yield
    leftovers = _leftover_registrations(
        "alignlab.methods", "_METHODS", "builder"
    ) + _leftover_registrations("alignlab.evals", "_EVALS", "factory")
    assert not leftovers, f"registries changed by tests: {', '.join(leftovers)}"


@pytest.fixture(scope="session", autouse=True)
def cpu_unless_a_test_asks() -> Iterator[None]:
    """Pins the session to the CPU (see the module docstring); ``cuda`` tests set it back."""
    from alignlab.models import DEVICE_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEVICE_ENV, "cpu")
        yield


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
