"""A spec's reward models run end to end as cells on the tiny random model, and resume.

Only the plumbing is checked (a random 2-layer model's accuracy means nothing):
every reward-model cell finishes, the report's "Reward models" section shows
exactly the numbers the store holds, and a rerun recomputes no reward-model
cell (training or scoring would raise).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import alignlab.rewards
from alignlab.experiment import RewardResults, open_session, open_store, run_session
from alignlab.report import build_report
from alignlab.report._format import interval, num

SPEC = """\
version: 1
name: rm-cells
base: {base}
methods:
  - none
evals:
  - name: sycophancy
    splits: [test]
    args: {{n_claims: 2}}
reward_models:
  - name: classic
    params: {{threads: 1, batch_size: 2, n_items: 2, token_budget: 1500}}
  - name: classic
    label: classic_r4
    params: {{threads: 1, batch_size: 2, n_items: 2, token_budget: 1500, lora_r: 4}}
reward_eval:
  items: 2
  transforms: [polite_filler, master_key_colon]
  best_of_n: {{ns: [1, 2], prompts: 2, max_new_tokens: 4}}
"""


def test_reward_model_cells_run_report_and_resume(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(base=tiny_model_dir))
    session = open_session(spec, out=tmp_path / "run")
    plan = session.plan
    assert len(plan.rm_train_cells) == 2 and len(plan.rm_eval_cells) == 6
    summary = run_session(session)
    assert summary.failed == []
    n_cells = len(plan.records())
    assert summary.done == n_cells and summary.report is not None

    with open_store(session.db) as store:
        cells = {c.key: c for c in store.cells(plan.run_id)}
        assert all(c.state == "done" for c in cells.values())
        accuracy = {
            cells[m.cell_key].label: m
            for m in store.metrics(plan.run_id)
            if cells[m.cell_key].kind == "rm_accuracy" and m.metric == "accuracy"
        }
        pairs = store.reward_pairs(plan.run_id)
        drops = store.robustness_rows(plan.run_id)
        points = store.best_of_n_points(plan.run_id)
        comparisons = store.reward_comparisons(plan.run_id)
    assert set(accuracy) == {"classic", "classic_r4"}
    for label, estimate in accuracy.items():
        own = [p for p in pairs if cells[p.cell_key].label == label]
        hits = sum(p.chosen_reward > p.rejected_reward for p in own)
        assert estimate.n == len(own) > 0 and estimate.value == hits / len(own)
    assert {d.transform for d in drops} == {"polite_filler", "master_key_colon"}
    assert sorted(p.n for p in points) == [1, 1, 2, 2]
    assert all(p.kl == pytest.approx(0.0) for p in points if p.n == 1)
    (comparison,) = comparisons  # classic_r4 minus classic, on the same pairs
    assert (comparison.label, comparison.reference) == ("classic_r4", "classic")
    assert comparison.difference == pytest.approx(
        accuracy["classic_r4"].value - accuracy["classic"].value
    )

    html = summary.report.read_text()
    section = html[html.index('<section id="reward-models">') :]
    section = section[: section.index("</section>")]
    assert 'href="#reward-models"' in html
    for estimate in accuracy.values():
        assert f"{num(estimate.value)}</td>" in section
        assert interval(estimate.ci_low, estimate.ci_high) in section
    for drop in drops:
        assert num(drop.accuracy_drop, signed=True) in section
    assert num(comparison.difference, signed=True) in section
    assert '<svg id="best-of-n"' in section or re.search(r'<svg[^>]*id="best-of-n"', section)
    assert "<img" not in section and "src=" not in section  # inline SVG, nothing loaded

    # A rerun recomputes nothing: training or scoring a reward model now fails the test.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached reward-model cell was recomputed")

    monkeypatch.setattr(alignlab.rewards, "train_reward_model", refuse)
    monkeypatch.setattr(alignlab.rewards, "load_reward_model", refuse)
    again = run_session(open_session(spec, out=tmp_path / "run"))
    assert again.failed == [] and again.done == 0 and again.cached == n_cells


def test_a_run_without_reward_models_has_no_reward_section(tmp_path: Path) -> None:
    from alignlab.experiment import CellRecord, RunRecord

    run = RunRecord(
        run_id="r", name="n", spec_yaml="", spec_json={}, created_at="t", alignlab_version="0"
    )
    cells = [CellRecord(key="t", run_id="r", kind="train", label="none", inputs={})]
    html = build_report(run, cells, [], [], [], run_dir=tmp_path, rewards=RewardResults())
    assert "reward-models" not in html and "Reward models" not in html
