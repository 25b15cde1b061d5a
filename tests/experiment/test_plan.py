"""Plans and cache keys: what changes a key, and what does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alignlab.experiment import _keys, cell_key, explain_mismatch, load_spec_text, make_plan

SPEC = """\
version: 1
name: keys
base: {base}
methods:
  - none
  - name: reward_misspecification
    params: {{p: [0.0, 0.5]}}
evals:
  - name: sycophancy
    splits: [test, heldout]
    args: {{n_claims: 10}}
"""


@pytest.fixture()
def spec_text(tiny_model_dir: object) -> str:
    return SPEC.format(base=tiny_model_dir)


def _keys_of(text: str) -> dict[str, str]:
    plan = make_plan(load_spec_text(text, "s"))
    keys = {f"train {c.variant.label}": c.key for c in plan.train_cells}
    keys.update({f"eval {c.train.variant.label} {c.split}": c.key for c in plan.eval_cells})
    return keys


def test_plan_shape(spec_text: str) -> None:
    plan = make_plan(load_spec_text(spec_text, "s"))
    assert [c.variant.label for c in plan.train_cells] == [
        "none",
        "reward_misspecification[p=0.0]",
        "reward_misspecification[p=0.5]",
    ]
    assert len(plan.eval_cells) == 3 * 2
    assert {c.train.key for c in plan.eval_cells} == {c.key for c in plan.train_cells}
    assert all(c.params["token_budget"] == 2_000 for c in plan.train_cells)  # quick profile
    assert all(c.limit == 30 for c in plan.eval_cells)
    records = plan.records()
    assert [r.state for r in records] == ["queued"] * len(records)


def test_keys_are_stable_and_a_parameter_change_reruns_only_its_dependents(spec_text: str) -> None:
    first, again = _keys_of(spec_text), _keys_of(spec_text)
    assert first == again
    changed = _keys_of(spec_text.replace("p: [0.0, 0.5]", "p: [0.0, 0.25]"))
    same = {k for k in first if k in changed and first[k] == changed[k]}
    assert same == {
        "train none",
        "eval none test",
        "eval none heldout",
        "train reward_misspecification[p=0.0]",
        "eval reward_misspecification[p=0.0] test",
        "eval reward_misspecification[p=0.0] heldout",
    }


def test_formatting_and_comments_do_not_change_the_run(spec_text: str) -> None:
    plan = make_plan(load_spec_text(spec_text, "s"))
    reformatted = "# a comment\n" + spec_text.replace("{p: [0.0, 0.5]}", "\n      p: [0.0, 0.5]")
    assert make_plan(load_spec_text(reformatted, "s")).run_id == plan.run_id


def test_code_version_bump_changes_every_dependent_key(
    spec_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignlab.evals import _registry

    before = _keys_of(spec_text)
    info = _registry._EVALS["sycophancy"]
    monkeypatch.setitem(
        _registry._EVALS, "sycophancy", replace(info, code_version=info.code_version + 1)
    )
    after = _keys_of(spec_text)
    assert all(before[k] == after[k] for k in before if k.startswith("train"))
    assert all(before[k] != after[k] for k in before if k.startswith("eval"))


def test_eval_data_change_changes_train_and_eval_keys(
    spec_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _keys_of(spec_text)
    hashes = dict(_keys.eval_data_hashes())
    hashes["sycophancy"] = "0" * 64
    monkeypatch.setattr(_keys, "eval_data_hashes", lambda: hashes)
    monkeypatch.setattr("alignlab.experiment._plan.eval_data_hashes", lambda: hashes)
    after = _keys_of(spec_text)
    assert all(before[k] != after[k] for k in before)


def test_key_scheme_is_part_of_the_key_and_mismatches_are_explained() -> None:
    inputs = {"kind": "train", "params": {"p": 0.5}}
    assert cell_key(inputs) == cell_key(dict(inputs))
    assert cell_key(inputs) != cell_key({"kind": "train", "params": {"p": 0.25}})
    assert explain_mismatch(inputs, {"kind": "train", "params": {"p": 0.25}}) == [
        "params.p: 0.5 -> 0.25"
    ]
