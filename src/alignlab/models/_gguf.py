"""GGUF files before conversion: header checks, cached file hashes, assembling parts.

- :func:`check_gguf_file`: a file is a complete GGUF whose architecture
  ``transformers`` can de-quantize, or a one-line :class:`AlignlabError` says why not.
- :func:`gguf_sha256`: a GGUF file's SHA-256, cached by path, size and mtime
  under the cache directory, so a 500 MB file is hashed once, not on every load.
- :func:`hash_parts` / :func:`assemble_parts`: a named model's parts, hashed
  in place or streamed into one file while hashing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from alignlab._errors import AlignlabError
from alignlab.files import HASH_CHUNK_BYTES, atomic_write_text

GGUF_MAGIC = b"GGUF"
"""The first four bytes of every GGUF file."""

_NOT_ARCHITECTURES = frozenset({"general", "tokenizer"})
# keys of transformers' GGUF config mapping that are not architectures

_TRANSFORMERS_RENAMES = (
    ("qwen2moe", "qwen2_moe"),
    ("qwen3moe", "qwen3_moe"),
    ("gpt-oss", "gpt_oss"),
    ("minimax-m2", "minimax_m2"),
)
# GGUF architecture names transformers renames before its support check
# (``load_gguf_checkpoint`` in ``transformers.modeling_gguf_pytorch_utils``)


def transformers_gguf_architectures() -> frozenset[str]:
    """The architectures the installed ``transformers`` can de-quantize from GGUF.

    Read from ``transformers.modeling_gguf_pytorch_utils.GGUF_SUPPORTED_ARCHITECTURES``
    (the list its GGUF loader checks), less the non-architecture keys it contains.
    """
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return frozenset(GGUF_SUPPORTED_ARCHITECTURES) - _NOT_ARCHITECTURES


def _transformers_name(architecture: str) -> str:
    if "t5" in architecture:
        return "t5"
    for needle, name in _TRANSFORMERS_RENAMES:
        if needle in architecture:
            return name
    return architecture


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_gguf_file(path: Path) -> str:
    """Check that ``path`` is a complete GGUF file that ``transformers`` can de-quantize.

    Reads the header with the ``gguf`` package (memory-mapped: nothing is
    de-quantized) and checks the magic bytes, that every tensor's data lies
    within the file, and ``general.architecture``.

    Args:
        path: The GGUF file.

    Returns:
        Its ``general.architecture``.

    Raises:
        AlignlabError: One line: not a GGUF file, truncated or corrupt, or an
            architecture transformers cannot de-quantize (naming it).
    """
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
        size = path.stat().st_size
    except OSError as exc:
        raise AlignlabError(f"cannot read GGUF file '{path}': {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise AlignlabError(f"'{path}' is not a GGUF file: it does not start with 'GGUF'")
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as exc:
        raise AlignlabError(
            f"GGUF file '{path}' is truncated or corrupt: {_first_line(exc)}"
        ) from None
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    field = reader.get_field("general.architecture")
    architecture = str(field.contents()) if field is not None else None
    del reader  # closes the memory map
    if end > size:
        raise AlignlabError(
            f"GGUF file '{path}' is truncated: its tensors end at byte {end:,}, "
            f"the file has {size:,}"
        )
    if architecture is None:
        raise AlignlabError(f"GGUF file '{path}' has no general.architecture in its header")
    supported = transformers_gguf_architectures()
    if architecture not in supported and _transformers_name(architecture) not in supported:
        raise AlignlabError(
            f"GGUF architecture '{architecture}' cannot be de-quantized by transformers "
            f"(supported: {', '.join(sorted(supported))})"
        )
    return architecture


def _hash_record_path(cache: Path, path: Path) -> Path:
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return cache / "gguf" / "hashes" / f"{key}.json"


def _stat_key(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached_gguf_sha256(path: Path, cache: Path) -> str | None:
    """The recorded SHA-256 of ``path`` if it has not changed since (size and mtime), else None."""
    try:
        record = json.loads(_hash_record_path(cache, path).read_text())
        key = _stat_key(path)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or {k: record.get(k) for k in key} != key:
        return None
    digest = record.get("sha256")
    return digest if isinstance(digest, str) else None


def gguf_sha256(path: Path, cache: Path) -> str:
    """SHA-256 of a GGUF file, cached under ``cache`` by absolute path, size and mtime.

    Args:
        path: An absolute path to the file.
        cache: The alignlab cache directory.

    Returns:
        The hex digest.
    """
    cached = cached_gguf_sha256(path, cache)
    if cached is not None:
        return cached
    key = _stat_key(path)
    digest, _ = hash_parts([path])
    record_path = _hash_record_path(cache, path)
    with contextlib.suppress(OSError):  # an unwritable cache: hash again next time
        record_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record_path, json.dumps({**key, "sha256": digest}))
    return digest


def hash_parts(parts: Iterable[Path]) -> tuple[str, int]:
    """SHA-256 and size of the concatenation of ``parts``, read in place.

    Returns:
        ``(hex digest, total bytes)``.
    """
    digest = hashlib.sha256()
    total = 0
    for part in parts:
        with part.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
                total += len(chunk)
    return digest.hexdigest(), total


def assemble_parts(parts: Iterable[Path], out: Path) -> tuple[str, int]:
    """Concatenate ``parts`` into ``out``, hashing on the way.

    Returns:
        ``(hex digest, total bytes)`` of what was written.
    """
    digest = hashlib.sha256()
    total = 0
    with out.open("wb") as sink:
        for part in parts:
            with part.open("rb") as handle:
                while chunk := handle.read(HASH_CHUNK_BYTES):
                    digest.update(chunk)
                    sink.write(chunk)
                    total += len(chunk)
        sink.flush()
        os.fsync(sink.fileno())
    return digest.hexdigest(), total
