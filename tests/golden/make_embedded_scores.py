"""Pin the embedded model's scores on a small sample of every eval.

``python tests/golden/make_embedded_scores.py`` (run once, before a refactor,
from the old code) evaluates ``smollm2-135m`` on the first samples of each
generated eval's ``test`` split at seed 0 and writes every sample's chosen
answer and every metric to ``embedded_scores.json``.  The integration test
``tests/test_golden.py::test_embedded_scores_unchanged`` re-runs the same and
compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
LIMITS = {"cot_faithfulness": 6}
"""Samples per eval: cot_faithfulness generates reasoning (slow on a CPU)."""
DEFAULT_LIMIT = 24


def embedded_scores(log_dir: str) -> dict[str, Any]:
    """Per-sample answers and metrics of smollm2-135m on each eval's first test samples."""
    from inspect_ai import eval as inspect_eval

    from alignlab.evals import registered_evals
    from alignlab.models import DEFAULT_MAX_CONNECTIONS

    out: dict[str, Any] = {}
    for name, info in registered_evals().items():
        if name == "mwe":
            continue
        task = info.factory(split="test", seed=0)
        [log] = inspect_eval(
            task,
            model="alignlab/smollm2-135m",
            limit=LIMITS.get(name, DEFAULT_LIMIT),
            display="none",
            log_dir=log_dir,
            max_connections=DEFAULT_MAX_CONNECTIONS,
        )
        assert log.status == "success", log.error
        answers = {
            str(sample.id): next(iter(sample.scores.values())).answer
            for sample in log.samples or []
            if sample.scores
        }
        metrics = {
            metric: value.value
            for score in (log.results.scores if log.results else [])
            for metric, value in score.metrics.items()
        }
        out[name] = {"answers": answers, "metrics": metrics}
    return out


if __name__ == "__main__":
    result = embedded_scores(sys.argv[1] if len(sys.argv) > 1 else "/tmp/embedded-logs")
    (HERE / "embedded_scores.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    print({k: v["metrics"] for k, v in result.items()})
