"""``position_debias_per_condition``: PriDe with one position prior per prompt type.

Why: PriDe (:mod:`alignlab.attacks.position_debias`) divides every answer by
one prior over positions per option count.  That assumes the model's position
preference is the same whatever the prompt says.  On ``smollm2-135m`` it is
not: on multiple-choice ``sycophancy`` (``test``, 10 claims) the model put
about 0.8 of its probability on "A" without a user opinion and 0.93 with one,
and the pooled prior turned ``answer_position``'s zero effect on
``no_opinion_accuracy`` into +0.500 [+0.200, +0.800] (``benchmarks/RESULTS.md``):
the hardening over-corrected one condition.

What it does: the same two steps as ``position_debias`` (options balanced over
positions; the prior divided out), with the prior estimated and applied per
option count *and* per value of the samples' ``condition`` metadata (the
prompt type every built-in eval stamps: ``none`` / ``user_agrees`` /
``user_disagrees`` in ``sycophancy``, ``real_mistake`` / ``false_accusation``
in ``mistakes``, ``loophole`` / ``control`` in ``reward_hacking``, the hint
kinds of ``cot_faithfulness``).  Samples without a ``condition`` share one
prior, so on such an eval (``say_do``) this is ``position_debias``.

Cost: :data:`alignlab.attacks.position_debias.CALIBRATION_ITEMS` calibration
samples per condition instead of per eval, each answered under every cyclic
permutation (three conditions: three times the calibration passes).

Simplified: the prompt type is one fixed metadata key; a prior per family or
per format (both also stamped) is not offered.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from alignlab.attacks._harden import Hardening, hardening
from alignlab.attacks._registry import NotApplicable
from alignlab.attacks.position_debias import (
    SPLIT_ARG,
    balance_positions,
    position_debias,
    pride,
)

CONDITION_KEY: Final = "condition"
"""The sample metadata key whose value names the prompt type."""


@hardening
def position_debias_per_condition(
    eval_info: Any, task_args: dict[str, Any]
) -> Hardening | NotApplicable:
    """PriDe with one prior per prompt type (the samples' ``condition``), options balanced.

    See the module docstring.
    """
    pooled = position_debias(eval_info, {k: v for k, v in task_args.items() if k != SPLIT_ARG})
    if isinstance(pooled, NotApplicable):
        return pooled
    return Hardening(
        description=(
            "options balanced over positions; PriDe prior over positions divided out, "
            "one prior per condition"
        ),
        samples=balance_positions,
        solver=partial(pride, group_key=CONDITION_KEY),
    )
