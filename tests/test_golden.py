"""The refactors keep every eval's samples and every method's data exactly as they were.

``tests/golden/golden.json`` was written by ``tests/golden/make_golden.py`` from
the code before the eval scaffold and data files existed.  Generators must
still produce the same samples (ids, messages, choices, targets, and every old
metadata value; new metadata keys are allowed) and methods must still build the
same training data, so no benchmark number can move because of a refactor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN_DIR))
import make_golden  # noqa: E402

GOLDEN: dict[str, Any] = json.loads((GOLDEN_DIR / "golden.json").read_text())


def _restricted(snapshot: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k in keys}


@pytest.fixture(scope="module")
def current_evals() -> dict[str, Any]:
    return make_golden.eval_snapshot(
        metadata_keys={key: entry["metadata_keys"] for key, entry in GOLDEN["evals"].items()}
    )


def test_every_golden_eval_key_is_still_generated(current_evals: dict[str, Any]) -> None:
    assert set(GOLDEN["evals"]) <= set(current_evals)


@pytest.mark.parametrize("key", sorted(GOLDEN["evals"]))
def test_eval_samples_unchanged(key: str, current_evals: dict[str, Any]) -> None:
    old, new = GOLDEN["evals"][key], current_evals[key]
    assert new["n"] == old["n"]
    assert set(old["metadata_keys"]) <= set(new["metadata_keys"])
    assert new["first"] == old["first"]
    assert new["sha256"] == old["sha256"]


def test_method_data_unchanged() -> None:
    current = make_golden.method_snapshot()
    assert set(GOLDEN["methods"]) <= set(current)
    for name, old in GOLDEN["methods"].items():
        assert current[name] == old, name


@pytest.mark.integration
def test_embedded_scores_unchanged(tmp_path: Path) -> None:
    """smollm2-135m's answers and metrics on each eval's first test samples, as before."""
    import make_embedded_scores

    pinned = json.loads((GOLDEN_DIR / "embedded_scores.json").read_text())
    current = make_embedded_scores.embedded_scores(str(tmp_path))
    assert set(pinned) <= set(current)
    for name, old in pinned.items():
        assert current[name]["answers"] == old["answers"], name
        for metric, value in old["metrics"].items():
            new = current[name]["metrics"][metric]
            assert new == pytest.approx(value, nan_ok=True, abs=1e-9), (name, metric)
