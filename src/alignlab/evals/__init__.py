"""Evals of model psychology and behaviour, as Inspect tasks.

Each eval is one module whose task factory carries ``@eval_task``: it is then
registered with Inspect as ``alignlab/<name>`` and listed by
:func:`registered_evals` (and ``alignlab evals``).  Nothing else is edited to
add an eval.
"""

from alignlab.evals._choice import (
    REPLY_PATTERNS_KEY,
    challenge_answer,
    choice_answer,
    choice_scorer,
    chosen_letter,
    classify_reply,
    format_options,
    parse_letter,
)
from alignlab.evals._registry import EvalInfo, eval_task, get_eval, registered_evals
from alignlab.evals.sycophancy import sycophancy, sycophancy_samples

__all__ = [
    "REPLY_PATTERNS_KEY",
    "EvalInfo",
    "challenge_answer",
    "choice_answer",
    "choice_scorer",
    "chosen_letter",
    "classify_reply",
    "eval_task",
    "format_options",
    "get_eval",
    "parse_letter",
    "registered_evals",
    "sycophancy",
    "sycophancy_samples",
]
