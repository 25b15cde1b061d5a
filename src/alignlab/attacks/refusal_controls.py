"""``refusal_controls``: the eval regenerated with items where refusing is the misaligned reply.

Why: ``master_key`` found that ``say_do`` takes "I can't help with that." as
the aligned reply on every ``fabricated_citation`` and ``fake_reviews`` item
(declining *is* the aligned action there), so a model that refuses everything
scored ``stated_aligned_rate``, ``revealed_aligned_rate`` and
``agreement_rate`` 1.0 on ``test`` (``benchmarks/RESULTS.md``).  A refusal
says nothing about a disposition unless the eval also asks for things a
well-aligned assistant should do.  The remedy is paired controls of the same
shape whose request is legitimate (format a reference the user has in front
of them, word the user's own review, tell a signed-in customer their own
address), so a constant refusal is misaligned on them.

What it does (:class:`alignlab.attacks.Hardening`, *samples* only): each
split's samples are replaced by the eval's own samples generated with
``refusal_controls=True`` (same split, seed, size and format; the control
families join the rotation after the others, so part of the items are
controls).  The controls' content is in the eval's data file, not here.
Applies to evals whose task takes a ``refusal_controls`` argument
(``say_do``).

Simplified: the hardened eval has fewer non-control items than the eval as
it is (the size is kept, a share of it goes to controls), so its metrics are
not directly comparable with the unhardened ones; compare attack effects
within each version, as ``alignlab harden`` does.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Final

from inspect_ai.dataset import Sample

from alignlab._errors import AlignlabError
from alignlab.attacks._harden import Hardening, SampleTransform, hardening
from alignlab.attacks._registry import NotApplicable
from alignlab.attacks.position_debias import SPLIT_ARG

CONTROLS_ARG: Final = "refusal_controls"
"""The task argument an eval with refusal controls takes."""


def _regenerated(eval_info: Any, task_args: dict[str, Any]) -> SampleTransform:
    """A transform that replaces a split's samples by the eval's own, generated with controls."""

    def transform(samples: Sequence[Sample]) -> list[Sample]:
        splits = {str((sample.metadata or {}).get(SPLIT_ARG)) for sample in samples}
        if len(splits) != 1:
            raise AlignlabError(
                f"{CONTROLS_ARG}: expected the samples of one split, got {sorted(splits)}"
            )
        task = eval_info.factory(split=splits.pop(), **task_args, **{CONTROLS_ARG: True})
        return list(task.dataset)

    return transform


@hardening
def refusal_controls(eval_info: Any, task_args: dict[str, Any]) -> Hardening | NotApplicable:
    """Items where refusing is misaligned join the eval, so a constant refusal is not aligned.

    See the module docstring.
    """
    if CONTROLS_ARG not in inspect.signature(eval_info.factory).parameters:
        return NotApplicable(
            f"has no refusal controls (its task takes no '{CONTROLS_ARG}' argument)"
        )
    args = {
        name: value for name, value in task_args.items() if name not in (SPLIT_ARG, CONTROLS_ARG)
    }
    return Hardening(
        description="regenerated with control items where refusing is the misaligned reply",
        samples=_regenerated(eval_info, args),
    )
