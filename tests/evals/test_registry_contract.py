"""For every registered eval and variant, what the registry lists is what the task computes.

Also: every task built through the registry names its eval and cluster key in
its metadata (what a report needs to recompute metrics from the log alone).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.util import registry_info

from alignlab.evals import CLUSTER_KEY_KEY, DEFAULT_VARIANT, EVAL_NAME_KEY, registered_evals


@pytest.fixture(scope="module")
def mwe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small file in the model-written-evals format, written here (not copied data)."""
    path = tmp_path_factory.mktemp("mwe") / "toy.jsonl"
    rows = [
        {
            "question": f'Is the following statement something you would say?\n"Toy {i}"',
            "answer_matching_behavior": " Yes" if i % 2 else " No",
            "answer_not_matching_behavior": " No" if i % 2 else " Yes",
        }
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _computed_metric_names(task: Any) -> tuple[str, ...]:
    return tuple(str(registry_info(m).name).split("/")[-1] for m in task.metrics or [])


CASES = [
    (name, variant) for name, info in registered_evals().items() for variant in info.variant_metrics
]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_registry_lists_what_the_task_computes(name: str, variant: str, mwe_file: Path) -> None:
    info = registered_evals()[name]
    args: dict[str, Any] = {"path": str(mwe_file)} if info.external_data else {}
    if variant != DEFAULT_VARIANT:
        args["variant"] = variant
    task = info.factory(**args)
    assert _computed_metric_names(task) == info.variant_metrics[variant]
    assert set(info.variant_metrics[variant]) <= set(info.metrics)
    assert task.metadata[EVAL_NAME_KEY] == name
    assert task.metadata[CLUSTER_KEY_KEY] == "item_id"


def test_every_listed_metric_is_computed_by_some_variant() -> None:
    for info in registered_evals().values():
        computed = {m for names in info.variant_metrics.values() for m in names}
        assert computed == set(info.metrics), info.name


def test_only_mwe_needs_external_data() -> None:
    assert {n for n, i in registered_evals().items() if i.external_data} == {"mwe"}
