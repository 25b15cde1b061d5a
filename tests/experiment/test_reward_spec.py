"""Reward models in a spec: validated before any work, planned as cells keyed on their settings."""

from __future__ import annotations

import pytest

from alignlab import AlignlabError
from alignlab.experiment import load_spec_text, make_plan
from alignlab.experiment._plan import run_id_of

BASE = """\
version: 1
name: t
base: smollm2-135m
methods:
  - none
evals:
  - name: sycophancy
    splits: [test]
"""
GOOD = (
    BASE
    + """\
reward_models:
  - classic
  - name: cloud
    params: {lm_weight: 1.25}
reward_eval:
  splits: [heldout]
  transforms: [polite_filler]
  best_of_n: {ns: [1, 2, 4], prompts: 2}
"""
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  - classic", "  - clasic"), r"^spec\.yaml:10: reward_models\.0: unknown reward-model"),
        (
            ("{lm_weight: 1.25}", "{lm_weight: -1}"),
            r"^spec\.yaml:12: reward_models\.1\.params: bad parameter of 'cloud'",
        ),
        (
            ("{lm_weight: 1.25}", "{lm_wait: 1}"),
            r"^spec\.yaml:12: reward_models\.1\.params: unknown parameter 'lm_wait'",
        ),
        (
            ("{lm_weight: 1.25}", "{seed: 3}"),
            r"^spec\.yaml:12: reward_models\.1\.params: give seeds as the spec's 'seeds'",
        ),
        (
            ("splits: [heldout]", "splits: [train]"),
            r"^spec\.yaml:14: reward_eval\.splits\.0: reward models are scored on test or heldout",
        ),
        (
            ("[polite_filler]", "[polite, polite_filler]"),
            r"^spec\.yaml:15: reward_eval\.transforms\.0: unknown transform 'polite'",
        ),
        (
            ("ns: [1, 2, 4]", "ns: [0, 2]"),
            r"^spec\.yaml:16: reward_eval\.best_of_n\.ns: .*N >= 1, got 0",
        ),
        (
            ("  - name: cloud\n    params: {lm_weight: 1.25}", "  - classic"),
            r"^spec\.yaml:11: reward_models\.1: reward model 'classic' appears twice",
        ),
        (("reward_eval:", "reward_eval:\n  colour: red"), r"^spec\.yaml:14: reward_eval\.colour"),
    ],
)
def test_bad_reward_model_input_is_one_line_with_line_and_key(
    change: tuple[str, str], message: str
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(AlignlabError, match=message) as info:
        load_spec_text(text, "spec.yaml")
    assert "\n" not in str(info.value)


def test_a_spec_without_reward_models_keeps_its_run_id_and_has_no_rm_cells() -> None:
    plain = load_spec_text(BASE, "spec.yaml")
    plan = make_plan(plain)
    assert plan.rm_train_cells == [] and plan.rm_eval_cells == []
    dump = plain.spec.model_dump(mode="json")
    assert "reward_models" in dump  # present in the model, left out of the run id:
    with_rm = load_spec_text(GOOD, "spec.yaml")
    assert run_id_of(plain) != run_id_of(with_rm)
    unchanged = load_spec_text(BASE + "reward_eval: {splits: [test]}\n", "spec.yaml")
    assert run_id_of(unchanged) == run_id_of(plain)


def test_rm_cells_are_planned_per_kind_and_keyed_on_their_own_settings() -> None:
    plan = make_plan(load_spec_text(GOOD, "spec.yaml"))
    assert [c.label for c in plan.rm_train_cells] == ["classic", "cloud"]
    assert all(c.params["token_budget"] == 2_000 for c in plan.rm_train_cells)  # quick profile
    kinds = [(c.train.label, c.kind, c.split) for c in plan.rm_eval_cells]
    assert kinds == [
        (label, kind, "heldout")
        for label in ("classic", "cloud")
        for kind in ("rm_accuracy", "rm_robustness", "rm_best_of_n")
    ]
    records = {r.key: r for r in plan.records()}
    assert {records[c.key].kind for c in plan.rm_eval_cells} == {
        "rm_accuracy",
        "rm_robustness",
        "rm_best_of_n",
    }
    changed = make_plan(load_spec_text(GOOD.replace("ns: [1, 2, 4]", "ns: [1, 2]"), "spec.yaml"))
    before = {(c.train.label, c.kind): c.key for c in plan.rm_eval_cells}
    after = {(c.train.label, c.kind): c.key for c in changed.rm_eval_cells}
    assert [k for k in before if before[k] != after[k]] == [
        ("classic", "rm_best_of_n"),
        ("cloud", "rm_best_of_n"),
    ]
    assert [c.key for c in plan.rm_train_cells] == [c.key for c in changed.rm_train_cells]
