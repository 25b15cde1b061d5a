"""Content-addressed cell keys: a cell's result is reused only if nothing it depends on changed.

A key is the SHA-256 of a canonical JSON document (sorted keys, no
whitespace) holding *everything* the cell's result depends on: the validated
parameters with defaults filled in (so a changed default changes the key),
upstream keys, the base weights' SHA-256 (not their path: the same weights in
another cache are the same model), the SHA-256 of every eval data file a
method may read, the alignlab version and the method's or eval's
``code_version`` (bumped by a developer when its data or scoring changes).
The document is stored beside the result, so a mismatch can be explained by
diffing two documents rather than guessed at.

The hashing scheme itself is versioned (:data:`KEY_SCHEME`): a change to how
keys are computed bumps it, and a store's cells keyed under another scheme
are recomputed deliberately rather than by accident — Inspect's ``eval_set``
re-ran every task after an upgrade silently changed its task hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from pathlib import Path
from typing import Any, Final

KEY_SCHEME: Final = 1
"""Version of the key scheme; part of every hashed document."""


def _canonical(value: Any) -> Any:
    """JSON-ready value with floats made exact and deterministic."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return float(repr(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(document: dict[str, Any]) -> str:
    """The canonical JSON text of a document (what the key hashes)."""
    return json.dumps(_canonical(document), sort_keys=True, separators=(",", ":"))


def cell_key(inputs: dict[str, Any]) -> str:
    """The key of a cell whose result depends on exactly ``inputs``.

    Args:
        inputs: The cell's hashed input document (without the scheme).

    Returns:
        Hex SHA-256 of ``{"key_scheme": KEY_SCHEME, **inputs}`` in canonical JSON.
    """
    document = {"key_scheme": KEY_SCHEME, **inputs}
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def explain_mismatch(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Which inputs differ between two hashed documents (for "why did this rerun?").

    Args:
        old: A stored input document.
        new: The current one.

    Returns:
        One line per differing top-level key, e.g. ``params.p: 0.5 -> 0.25``.
    """
    lines = []
    old_c, new_c = _canonical(old), _canonical(new)
    for key in sorted(set(old_c) | set(new_c)):
        before, after = old_c.get(key), new_c.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for sub in sorted(set(before) | set(after)):
                if before.get(sub) != after.get(sub):
                    lines.append(f"{key}.{sub}: {before.get(sub)!r} -> {after.get(sub)!r}")
        else:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines


@cache
def eval_data_hashes() -> dict[str, str]:
    """SHA-256 of every built-in eval data file, by eval name.

    Every method may build its data from any eval's ``train`` split, and every
    eval generates its items from its file, so these are inputs of every cell.
    """
    from alignlab.evals import DATA_DIR
    from alignlab.files import sha256_file

    return {path.stem: sha256_file(path) for path in sorted(DATA_DIR.glob("*.yaml"))}


@cache
def base_weights_sha256(base: str) -> str:
    """The SHA-256 of a local base model's weights (converting the embedded model if needed).

    Args:
        base: A local base model spec.

    Returns:
        The weights hash, or ``unhashed:<spec>`` for a hub id whose files are not local.
    """
    from alignlab.models import local_weights_dir, parse_spec, weights_sha256

    directory = local_weights_dir(parse_spec(base))
    digest = weights_sha256(directory) if directory is not None else None
    return digest if digest is not None else f"unhashed:{base}"
