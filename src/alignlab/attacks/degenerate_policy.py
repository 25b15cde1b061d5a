"""``degenerate_policy``: null models that answer without any disposition.

A metric that a policy with no disposition scores as well-aligned as the model
measures something other than the disposition (Zheng et al. 2024: a constant
"null model" reply reached 86.5% length-controlled win rate on AlpacaEval 2.0,
arXiv:2410.07137).  Each policy answers every item by a fixed rule over what
the item shows, without reading the question:

- ``always_first`` / ``always_last``: the first / last option (the position
  prior small models showed: smollm2-135m and Qwen2.5-Coder-0.5B answered "A");
- ``agree_with_user`` / ``disagree_with_user``: the option siding with the
  user's stated opinion, or against it (items whose metadata names the
  user's side, ``user_letter``; others get the first option);
- ``refuse``: no answer at all (as a reply that matches no option);
- ``uniform``: an option drawn uniformly at random (a hash of the sample id).

Beside them runs ``target``: every item answered with its target option, the
ideal answerer.  It is not a null policy but the reference the verdicts judge
null policies against (:data:`alignlab.attacks.REFERENCE_VARIANT`): a metric is
gameable by a null policy when the policy scores as aligned as the ideal
answerer, whatever the model does (judged against the model instead, every
metric of a model that answers by position would look gameable).

Simplified: the policies read the eval's structured metadata (which option
sides with the user) rather than the text, which is what a policy keyed on
surface cues would learn to do; they never call the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from inspect_ai.model import ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

from alignlab.attacks._registry import REFERENCE_VARIANT, AttackVariant, NotApplicable, attack
from alignlab.protocol import LETTERS

USER_SIDE_KEY = "user_letter"
"""Sample metadata naming the option that sides with the user (None: no opinion)."""

Rule = Callable[[TaskState], str | None]


def _first(state: TaskState) -> str | None:
    return LETTERS[0]


def _last(state: TaskState) -> str | None:
    return LETTERS[max(len(state.choices) - 1, 0)]


def _with_user(state: TaskState) -> str | None:
    side = state.metadata.get(USER_SIDE_KEY)
    return str(side) if side else LETTERS[0]


def _against_user(state: TaskState) -> str | None:
    side = state.metadata.get(USER_SIDE_KEY)
    if not side:
        return LETTERS[0]
    others = [letter for letter in LETTERS[: len(state.choices)] if letter != side]
    return others[0] if others else str(side)


def _refuse(state: TaskState) -> str | None:
    return None


def _target(state: TaskState) -> str | None:
    return state.target.text or None


def _uniform(state: TaskState) -> str | None:
    digest = hashlib.sha256(str(state.sample_id).encode()).digest()
    return LETTERS[int.from_bytes(digest[:8], "big") % max(len(state.choices), 1)]


POLICIES: dict[str, tuple[Rule, str]] = {
    "always_first": (_first, "the first option, always"),
    "always_last": (_last, "the last option, always"),
    "agree_with_user": (_with_user, "the option siding with the user's stated opinion"),
    "disagree_with_user": (_against_user, "an option against the user's stated opinion"),
    "refuse": (_refuse, "no answer"),
    "uniform": (_uniform, "an option drawn uniformly (hash of the sample id)"),
    REFERENCE_VARIANT: (_target, "the target option, always (the ideal answerer: a reference)"),
}
"""Policy name -> (rule, description)."""
OPINION_POLICIES = ("agree_with_user", "disagree_with_user")


@solver
def policy_answer(policy: str) -> Solver:
    """Answer with ``policy``'s option letter (or nothing), never calling the model.

    Args:
        policy: A key of :data:`POLICIES`.

    Returns:
        A solver whose output is the chosen letter, with the chosen index in the
        output metadata (what the eval scorers read for free-text items too).
    """
    rule = POLICIES[policy][0]

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        letter = rule(state)
        state.output = ModelOutput.from_content(model="policy", content=letter or "")
        if letter is not None:
            state.output.metadata = {"choice_index": LETTERS.index(letter)}
        else:  # a reply that names no option: no answer, for lettered and free-text items
            state.output.metadata = {"reply_index": None}
        return state

    return solve


def _has_opinions(eval_info: Any) -> bool:
    """Whether the eval's items name a user side (a ``user_letter`` in their metadata)."""
    task = eval_info.factory(**({"path": ""} if eval_info.external_data else {}))
    return any(USER_SIDE_KEY in (sample.metadata or {}) for sample in list(task.dataset)[:50])


@attack
def degenerate_policy(eval_info: Any) -> list[AttackVariant] | NotApplicable:
    """Null models: which metrics does a policy with no disposition score as well as the model?

    Policies: always the first or last option, always with or against the
    user, no answer, uniform (see the module docstring).
    """
    if eval_info.external_data:
        return NotApplicable("reads a user's file: run it on the file with the CLI's -T path")
    policies = [
        name for name in POLICIES if name not in OPINION_POLICIES or _has_opinions(eval_info)
    ]
    return [
        AttackVariant(
            name=name,
            description=POLICIES[name][1],
            solver=_policy_solver(name),
            replaces_model=True,
        )
        for name in policies
    ]


def _policy_solver(name: str) -> Callable[[], Solver]:
    return lambda: policy_answer(name)
