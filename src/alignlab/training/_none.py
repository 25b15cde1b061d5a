"""The ``none`` kind: no training, an identity adapter.

The fresh LoRA adapter :func:`alignlab.training.run` builds has B matrices of
zero, so saving it untrained gives an adapter that computes exactly the base
model while having the same structure and loading path as every trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignlab.training._common import TrainOutcome
from alignlab.training._examples import Example
from alignlab.training._runners import Job, runner


def _no_examples(data: Any) -> Sequence[Example] | None:
    return [] if data is None or (isinstance(data, list | tuple) and not data) else None


@runner("none", expects="no data (an empty list)", guarded=_no_examples)
def _train_none(job: Job) -> TrainOutcome:
    return TrainOutcome(tokens_seen=0, n_examples=0, dataset_sha256="")
