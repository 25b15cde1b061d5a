"""Write the golden snapshot of every eval's samples and every model-free method's data.

Run once before a refactor (``python tests/golden/make_golden.py``); the test
``tests/test_golden.py`` then checks that generators still produce exactly
these samples (new metadata keys are allowed, old ones must keep their values)
and that methods still build exactly this training data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEEDS = (0, 1)


def sample_record(sample: Any) -> dict[str, Any]:
    if isinstance(sample.input, str):
        messages = [{"role": "user", "content": sample.input}]
    else:
        messages = [{"role": m.role, "content": m.text} for m in sample.input]
    return {
        "id": sample.id,
        "input": messages,
        "choices": [str(c) for c in sample.choices or []],
        "target": sample.target,
        "metadata": sample.metadata or {},
    }


def digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()


def eval_snapshot(metadata_keys: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Every generated eval's samples by ``eval|split|seed|args``.

    ``metadata_keys`` restricts each key's metadata to the given keys before
    hashing (so metadata added later does not change the digest).
    """
    from alignlab.evals import registered_evals

    out: dict[str, Any] = {}
    for name, info in registered_evals().items():
        if name == "mwe":
            continue  # reads a user's file; pinned by its own tests on the shared data
        variants: list[dict[str, Any]] = [{}]
        if name == "sycophancy":
            variants.append({"variant": "are_you_sure"})
        for split in info.splits:
            for seed in SEEDS:
                for extra in variants:
                    task = info.factory(split=split, seed=seed, **extra)
                    records = [sample_record(s) for s in task.dataset]
                    key = f"{name}|{split}|{seed}|{json.dumps(extra, sort_keys=True)}"
                    all_keys = sorted({k for r in records for k in r["metadata"]})
                    if metadata_keys is not None and key in metadata_keys:
                        for record in records:
                            record["metadata"] = {
                                k: v
                                for k, v in record["metadata"].items()
                                if k in metadata_keys[key]
                            }
                    out[key] = {
                        "n": len(records),
                        "metadata_keys": all_keys,
                        "sha256": digest(records),
                        "first": records[:3],
                    }
    return out


def method_snapshot() -> dict[str, Any]:
    """Each method's training data hash (methods that need the model itself are skipped)."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from alignlab.methods import BuildContext, dataset_sha256, registered_methods
    from alignlab.models import ensure_embedded_weights

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_embedded_weights("smollm2-135m")))
    out: dict[str, Any] = {}
    overrides = {
        "synthetic_data": {"filter_unknown": False},
        "regularized": {"filter_unknown": False},
    }
    for name, info in registered_methods().items():
        context = BuildContext(seed=0, token_budget=3000, base_spec="smollm2-135m")

        def tokenizer_only() -> Any:
            return SimpleNamespace(tokenizer=tokenizer, model=None)

        context.base_model = tokenizer_only  # type: ignore[method-assign]
        try:
            data = info.builder(info.config(**overrides.get(name, {})), context)
        except Exception as exc:  # needs the model itself, not just the tokenizer
            print("skipped", name, type(exc).__name__, exc)
            continue
        examples = getattr(data, "examples", data)
        if not isinstance(examples, list) or (examples and not hasattr(examples[0], "prompt")):
            prompts = getattr(data, "prompts", None)
            out[name] = {
                "kind": "rl",
                "repr_sha256": hashlib.sha256(repr(prompts).encode()).hexdigest(),
            }
            continue
        out[name] = {"n": len(examples), "sha256": dataset_sha256(examples)}
    return out


if __name__ == "__main__":
    snapshot = {"evals": eval_snapshot(), "methods": method_snapshot()}
    (HERE / "golden.json").write_text(json.dumps(snapshot, indent=1, sort_keys=True, default=str))
    print(len(snapshot["evals"]), "eval keys;", sorted(snapshot["methods"]))
