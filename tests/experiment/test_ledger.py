"""The prediction ledger: hash chain, forecast vs post-hoc, resolution, scoring, bad input."""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.experiment import (
    LEDGER_FILE,
    Assumption,
    CellRecord,
    ComparisonRecord,
    LedgerEntry,
    MetricRecord,
    Prediction,
    Theory,
    append_to_ledger,
    load_spec_text,
    open_session,
    open_store,
    read_ledger,
    register,
    run_session,
    score_ledger,
    score_run,
    verify_ledger,
)
from alignlab.experiment._ledger import GENESIS, is_post_hoc, measure, resolve
from alignlab.experiment._plan import run_id_of
from alignlab.report import build_report
from tests.report._records import make_run
from tests.test_cli import ALIGNLAB

RUN_ID = "cd" * 32


def _directional(**change: object) -> Prediction:
    fields: dict[str, object] = {
        "type": "directional",
        "theory": "targeted",
        "author": "alice",
        "probability": 0.7,
        "claim": "dpo lowers sycophancy by more than 0.1",
        "method": "dpo",
        "eval": "sycophancy",
        "split": "heldout",
        "metric": "sycophancy_rate",
        "direction": "down",
        "min_change": 0.1,
    }
    return Prediction.model_validate({**fields, **change})


def _pairwise(**change: object) -> Prediction:
    fields: dict[str, object] = {
        "type": "pairwise",
        "theory": "inertia",
        "author": "bob",
        "probability": 0.3,
        "claim": "dpo beats sft_control",
        "method": "dpo",
        "other": "sft_control",
        "eval": "sycophancy",
        "split": "heldout",
        "metric": "sycophancy_rate",
        "better": "lower",
    }
    return Prediction.model_validate({**fields, **change})


def _interval(**change: object) -> Prediction:
    fields: dict[str, object] = {
        "type": "interval",
        "theory": "targeted",
        "author": "alice",
        "probability": 0.6,
        "claim": "the base's no-opinion accuracy is middling",
        "method": "none",
        "eval": "sycophancy",
        "split": "heldout",
        "metric": "no_opinion_accuracy",
        "low": 0.3,
        "high": 0.7,
    }
    return Prediction.model_validate({**fields, **change})


BODIES = [
    Assumption(id="moves", text="Small budgets move small models."),
    Assumption(id="inert", text="Small budgets move nothing."),
    Theory(name="targeted", assumptions=("moves",)),
    Theory(name="inertia", assumptions=("inert",)),
    _directional(),
    _pairwise(),
    _interval(),
]


@pytest.fixture()
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "run" / LEDGER_FILE
    append_to_ledger(path, BODIES)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


# -- the hash chain -------------------------------------------------------------


def test_chain_verifies_and_appends_are_idempotent(ledger: Path) -> None:
    entries = read_ledger(ledger)
    assert [e.kind for e in entries] == ["assumption"] * 2 + ["theory"] * 2 + ["prediction"] * 3
    assert [e.index for e in entries] == list(range(7))
    assert entries[0].prev_sha256 == GENESIS
    assert all(b.prev_sha256 == a.sha256 for a, b in itertools.pairwise(entries))
    assert verify_ledger(ledger) == entries[-1].sha256
    before = ledger.read_bytes()
    assert append_to_ledger(ledger, BODIES) == []  # the same content is not appended twice
    assert ledger.read_bytes() == before
    (new,) = append_to_ledger(ledger, [_directional(probability=0.6)], source="cli")
    assert new.index == 7 and new.prev_sha256 == entries[-1].sha256 and new.source == "cli"
    assert verify_ledger(ledger, head=entries[-1].sha256[:12]) == new.sha256


def test_an_edited_entry_is_detected(ledger: Path) -> None:
    lines = _lines(ledger)
    document = json.loads(lines[4])
    document["body"]["probability"] = 0.95
    lines[4] = json.dumps(document, sort_keys=True) + "\n"
    ledger.write_text("".join(lines))
    with pytest.raises(
        AlignlabError, match=r"ledger\.jsonl:5: entry 4 .*edited after it was written"
    ):
        verify_ledger(ledger)


def test_an_edited_and_resigned_entry_breaks_the_next_link(ledger: Path) -> None:
    lines = _lines(ledger)
    entry = LedgerEntry.model_validate_json(lines[4])
    body = entry.body.model_copy(update={"probability": 0.95})
    forged = entry.model_copy(update={"body": body})
    forged = forged.model_copy(update={"sha256": forged.computed_sha256()})
    lines[4] = json.dumps(forged.model_dump(mode="json"), sort_keys=True) + "\n"
    ledger.write_text("".join(lines))
    with pytest.raises(AlignlabError, match=r"ledger\.jsonl:6: .*removed, inserted or moved"):
        verify_ledger(ledger)


def test_a_removed_entry_is_detected(ledger: Path) -> None:
    lines = _lines(ledger)
    del lines[3]
    ledger.write_text("".join(lines))
    with pytest.raises(
        AlignlabError, match=r"ledger\.jsonl:4: entry 4 .*removed, inserted or moved"
    ):
        verify_ledger(ledger)


def test_reordered_entries_are_detected(ledger: Path) -> None:
    lines = _lines(ledger)
    lines[4], lines[5] = lines[5], lines[4]
    ledger.write_text("".join(lines))
    with pytest.raises(
        AlignlabError, match=r"ledger\.jsonl:5: entry 5 .*removed, inserted or moved"
    ):
        verify_ledger(ledger)


def test_entries_removed_from_the_end_are_found_with_a_recorded_head(ledger: Path) -> None:
    head = verify_ledger(ledger)
    ledger.write_text("".join(_lines(ledger)[:-1]))
    assert verify_ledger(ledger) != head  # a shorter chain is still a chain ...
    with pytest.raises(AlignlabError, match="removed from its end"):
        verify_ledger(ledger, head=head)  # ... but the recorded head is gone


def test_a_cut_short_entry_and_appends_to_a_broken_ledger(ledger: Path) -> None:
    ledger.write_bytes(ledger.read_bytes()[:-20])
    with pytest.raises(AlignlabError, match=r"ledger\.jsonl:7: the last entry is cut short"):
        verify_ledger(ledger)
    broken = ledger.read_bytes()
    with pytest.raises(AlignlabError, match="cut short"):
        append_to_ledger(ledger, [_directional(probability=0.2)])
    assert ledger.read_bytes() == broken


def test_conflicts_are_refused_and_nothing_is_written(ledger: Path, tmp_path: Path) -> None:
    before = ledger.read_bytes()
    cases = [
        ([_directional(theory="nosuch")], "unknown theory 'nosuch'"),
        ([Assumption(id="moves", text="Something else.")], "already has assumption 'moves'"),
        ([Theory(name="targeted", assumptions=("inert",))], "already has theory 'targeted'"),
        ([Theory(name="new", assumptions=("nosuch",))], "unknown assumption 'nosuch'"),
        # all or nothing: the good first body is not appended either
        ([_directional(probability=0.5), _pairwise(theory="nosuch")], "unknown theory"),
    ]
    for bodies, message in cases:
        with pytest.raises(AlignlabError, match=message):
            append_to_ledger(ledger, bodies)
        assert ledger.read_bytes() == before
    fresh = tmp_path / "fresh" / LEDGER_FILE
    with pytest.raises(AlignlabError, match="unknown theory"):
        append_to_ledger(fresh, [_directional()])
    assert not fresh.parent.exists()  # not even the directory or the lock file


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probability": 1.0}, "less than 1"),
        ({"probability": 0.0}, "greater than 0"),
        ({"direction": None}, "needs 'direction'"),
        ({"other": "sft_control"}, "'other' is for pairwise predictions"),
        ({"author": "crowd"}, "reserved"),
        ({"reference": "dpo"}, "another reference"),
    ],
)
def test_bad_predictions(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _directional(**change)


# -- forecast or post-hoc ---------------------------------------------------------


def _eval_cell(
    label: str, split: str, started_at: str | None, eval_name: str = "sycophancy"
) -> CellRecord:
    return CellRecord(
        key=f"{label}-{eval_name}-{split}",
        run_id=RUN_ID,
        kind="eval",
        label=label,
        inputs={"eval": eval_name, "split": split, "format": "all"},
        upstream=f"train-{label}",
        state="done" if started_at else "queued",
        started_at=started_at,
    )


def test_a_prediction_after_its_cells_started_is_post_hoc(ledger: Path) -> None:
    entry = read_ledger(ledger)[4]  # the directional one: dpo vs none on heldout
    assert entry.cells_started_at is None
    registered = entry.registered_at[:19] + "+00:00"  # its second
    later, earlier = "2999-01-01T00:00:00+00:00", "2000-01-01T00:00:00+00:00"
    assert not is_post_hoc(entry, [])  # nothing started yet
    assert not is_post_hoc(entry, [_eval_cell("dpo", "heldout", later)])
    assert not is_post_hoc(entry, [_eval_cell("dpo", "heldout", registered)])  # same second
    assert is_post_hoc(entry, [_eval_cell("dpo", "heldout", earlier)])
    assert is_post_hoc(entry, [_eval_cell("none", "heldout", earlier)])  # the reference counts
    unrelated = [
        _eval_cell("dpo", "test", earlier),
        _eval_cell("sft_control", "heldout", earlier),
        _eval_cell("dpo", "heldout", earlier, eval_name="mistakes"),
    ]
    assert not is_post_hoc(entry, unrelated)


def test_post_hoc_is_recorded_at_registration_and_sticks(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_FILE
    started = [_eval_cell("dpo", "heldout", "2000-01-01T00:00:00+00:00")]
    entries = append_to_ledger(path, [*BODIES[:4], _directional()], cells=started)
    late = entries[-1]
    assert late.cells_started_at == "2000-01-01T00:00:00+00:00"
    # the cell is rerun later (a new started_at): the prediction stays post-hoc
    assert is_post_hoc(late, [_eval_cell("dpo", "heldout", "2999-01-01T00:00:00+00:00")])
    scores = score_ledger(read_ledger(path), started, [], [])
    assert scores.predictions.loc[0, "status"] == "post-hoc"


# -- resolution and scores on hand-built results -------------------------------------


def _comparison(
    label: str,
    reference: str,
    low: float,
    high: float,
    seed: int = 0,
    metric: str = "sycophancy_rate",
) -> ComparisonRecord:
    return ComparisonRecord(
        run_id=RUN_ID,
        label=label,
        reference=reference,
        seed=seed,
        eval="sycophancy",
        split="heldout",
        metric=metric,
        difference=(low + high) / 2,
        ci_low=low,
        ci_high=high,
        p_value=0.5,
        p_adjusted=0.5,
        n_pairs=30,
    )


@pytest.mark.parametrize(
    ("low", "high", "outcome"),
    [(-0.30, -0.15, "hit"), (-0.08, 0.05, "miss"), (-0.20, -0.05, "unresolved")],
)
def test_directional_resolution(low: float, high: float, outcome: str) -> None:
    comparisons = [
        _comparison("dpo", "none", low, high),
        _comparison("dpo", "sft_control", -1, -0.9),
    ]
    measured = measure(_directional(), [], [], comparisons)
    assert measured is not None and (measured.ci_low, measured.ci_high) == (low, high)
    assert resolve(_directional(), measured) == outcome


def test_seeds_are_averaged_and_missing_results_are_no_data() -> None:
    comparisons = [
        _comparison("dpo", "none", -0.30, -0.10, seed=0),
        _comparison("dpo", "none", -0.10, 0.10, seed=1),
    ]
    measured = measure(_directional(), [], [], comparisons)
    assert measured is not None and measured.n == 2
    assert measured.value == pytest.approx(-0.1)
    assert (measured.ci_low, measured.ci_high) == pytest.approx((-0.2, 0.0))
    assert resolve(_directional(), measured) == "unresolved"
    assert resolve(_directional(), measure(_directional(), [], [], [])) == "no_data"
    assert resolve(_pairwise(), measure(_pairwise(), [], [], comparisons)) == "no_data"


def test_pairwise_resolution_uses_either_orientation() -> None:
    direct = [_comparison("dpo", "sft_control", -0.25, -0.05)]
    assert resolve(_pairwise(), measure(_pairwise(), [], [], direct)) == "hit"
    flipped = [_comparison("sft_control", "dpo", 0.05, 0.25)]  # sft_control - dpo
    measured = measure(_pairwise(), [], [], flipped)
    assert measured is not None and (measured.ci_low, measured.ci_high) == (-0.25, -0.05)
    assert resolve(_pairwise(), measured) == "hit"
    assert resolve(_pairwise(better="higher"), measured) == "miss"
    straddling = [_comparison("dpo", "sft_control", -0.1, 0.05)]
    assert resolve(_pairwise(), measure(_pairwise(), [], [], straddling)) == "unresolved"


def test_interval_resolution_uses_the_metric_of_the_variants_cell() -> None:
    cells = [
        _eval_cell("none", "heldout", "2000-01-01T00:00:00+00:00"),
        _eval_cell("dpo", "heldout", None),
    ]

    def metrics(low: float, high: float) -> list[MetricRecord]:
        return [
            MetricRecord(
                cell_key=cells[0].key,
                metric="no_opinion_accuracy",
                value=(low + high) / 2,
                ci_low=low,
                ci_high=high,
                n=30,
            ),
            MetricRecord(
                cell_key=cells[1].key,
                metric="no_opinion_accuracy",
                value=0.0,
                ci_low=0.0,
                ci_high=0.0,
                n=30,
            ),
        ]

    assert resolve(_interval(), measure(_interval(), cells, metrics(0.35, 0.6), [])) == "hit"
    assert resolve(_interval(), measure(_interval(), cells, metrics(0.75, 0.9), [])) == "miss"
    assert resolve(_interval(), measure(_interval(), cells, metrics(0.5, 0.8), [])) == "unresolved"


def test_score_ledger_by_hand(ledger: Path) -> None:
    append_to_ledger(ledger, [_directional(author="bob", theory="inertia", probability=0.1)])
    comparisons = [
        _comparison("dpo", "none", -0.08, 0.05),  # miss for both directional forecasts
        _comparison("dpo", "sft_control", -0.1, 0.05),  # pairwise unresolved
    ]
    scores = score_ledger(read_ledger(ledger), [], [], comparisons)
    rows = scores.predictions
    assert rows["outcome"].tolist() == ["miss", "unresolved", "no_data", "miss"]
    assert rows["status"].tolist() == ["forecast"] * 4
    assert rows.loc[0, "log_score"] == pytest.approx(math.log(0.3))
    assert rows.loc[3, "log_score"] == pytest.approx(math.log(0.9))
    mean = (math.log(0.3) + math.log(0.9)) / 2
    assert rows.loc[0, "peer_score"] == pytest.approx(math.log(0.3) - mean)
    assert rows.loc[3, "baseline_score"] == pytest.approx(math.log(0.9 / 0.5))
    assert rows.loc[3, "brier_score"] == pytest.approx(0.01)
    assert rows[["log_score", "brier_score"]].iloc[1:3].isna().all().all()
    assert "lies below -0.1" in rows.loc[0, "rule"] and "contains -0.1" in rows.loc[0, "rule"]
    assert scores.scores is not None
    assert scores.scores.theories["theory"].tolist() == ["inertia", "targeted"]
    assert scores.head == read_ledger(ledger)[-1].sha256


# -- bad input: the spec and the CLI ---------------------------------------------------

SPEC = """\
version: 1
name: t
base: smollm2-135m
out: {out}
methods:
  - none
  - sft_control
  - dpo
evals:
  - name: sycophancy
    splits: [test, heldout]
assumptions:
  - {{id: moves, text: Small budgets move small models.}}
theories:
  - {{name: targeted, assumptions: [moves]}}
predictions:
  - theory: targeted
    author: alice
    type: directional
    probability: 0.7
    method: dpo
    eval: sycophancy
    split: heldout
    metric: sycophancy_rate
    direction: down
    min_change: 0.1
    claim: dpo lowers sycophancy
"""


SPEC_CASES = [
    ("eval: sycophancy\n    split", "eval: mistakes\n    split", 22, "eval", "no eval 'mistakes'"),
    ("method: dpo", "method: rlhf", 21, "method", "unknown method variant 'rlhf'"),
    ("metric: sycophancy_rate", "metric: flips", 24, "metric", "reports no metric 'flips'"),
    ("split: heldout\n    metric", "split: train\n    metric", 23, "split", "no split 'train'"),
    ("probability: 0.7", "probability: 1.5", 20, "probability", "should be less than 1"),
    ("probability: 0.7", "probability: 0", 20, "probability", "should be greater than 0"),
    ("  - theory: targeted", "  - theory: nosuch", 17, "theory", "unknown theory 'nosuch'"),
    ("    direction: down\n", "", 17, "", "needs 'direction'"),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "message"), SPEC_CASES)
def test_spec_predictions_are_validated_with_file_and_line(
    old: str, new: str, line: int, key: str, message: str
) -> None:
    text = SPEC.format(out="x").replace(old, new, 1)
    assert text != SPEC.format(out="x")
    where = "predictions.0" + (f".{key}" if key else "")
    with pytest.raises(AlignlabError) as info:
        load_spec_text(text, "spec.yaml")
    assert str(info.value).startswith(f"spec.yaml:{line}: {where}: "), str(info.value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_spec_theories_references_and_the_run_id() -> None:
    loaded = load_spec_text(SPEC.format(out="x"), "spec.yaml")
    assert loaded.spec.predictions[0].reference == "none"
    bare = SPEC.split("assumptions:")[0].format(out="x")
    assert run_id_of(loaded) == run_id_of(load_spec_text(bare, "s"))  # not part of the run id
    unknown = SPEC.format(out="x").replace("assumptions: [moves]", "assumptions: [nope]")
    with pytest.raises(
        AlignlabError, match=r"^spec\.yaml:15: theories\.0\.assumptions\.0: unknown"
    ):
        load_spec_text(unknown, "spec.yaml")
    other = SPEC.format(out="x").replace("method: dpo", "method: dpo\n    reference: sft_control")
    assert load_spec_text(other, "s").spec.predictions[0].reference == "sft_control"
    references = SPEC.format(out="x").replace("evals:", "references: [sft_control]\nevals:")
    with pytest.raises(AlignlabError, match=r"predictions\.0\.reference: 'none' is not one of"):
        load_spec_text(references, "spec.yaml")


def test_register_checks_names_and_writes_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(out=run_dir))
    cases = [
        (_directional(method="rlhf"), "prediction method: unknown method variant 'rlhf'"),
        (_directional(eval="say_do"), "prediction eval: the spec has no eval 'say_do'"),
        (_directional(split="train"), "prediction split: the spec scores eval 'sycophancy' on no"),
        (_directional(metric="flips"), "prediction metric: eval 'sycophancy' reports no metric"),
        (_directional(reference="dpo", method="sft_control"), "'dpo' is not one of the spec's"),
        (_pairwise(other="rlhf"), "prediction other: unknown method variant 'rlhf'"),
        (_directional(theory="nosuch"), "unknown theory 'nosuch'"),
    ]
    for prediction, message in cases:
        with pytest.raises(AlignlabError, match=message):
            register(spec, [prediction])
        assert not run_dir.exists()
    (entry,) = register(spec, [_directional(author="bob", probability=0.2)])[-1:]
    assert entry.source == "python" and entry.cells_started_at is None
    assert [e.source for e in read_ledger(run_dir / LEDGER_FILE)] == ["spec"] * 3 + ["python"]


def _alignlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ALIGNLAB, *args], capture_output=True, text=True, timeout=300)


ADD = (
    "predict", "add", "{spec}", "--type", "directional", "--theory", "targeted",
    "--author", "bob", "--probability", "0.2", "--claim", "unlikely", "--method", "dpo",
    "--eval", "sycophancy", "--split", "heldout", "--metric", "sycophancy_rate",
    "--direction", "down", "--min-change", "0.1",
)  # fmt: skip


def test_cli_bad_predictions_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(out=run_dir))
    add = [a.replace("{spec}", str(spec)) for a in ADD]

    def changed(option: str, value: str) -> list[str]:
        args = list(add)
        args[args.index(option) + 1] = value
        return args

    cases = [  # the other names are checked by the same code (test_register_checks_names)
        (changed("--eval", "say_do"), "the spec has no eval 'say_do'"),
        (changed("--probability", "1.5"), "probability: Input should be less than 1"),
        (changed("--theory", "nosuch"), "unknown theory 'nosuch'"),
    ]
    for args, message in cases:
        result = _alignlab(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
        assert not run_dir.exists(), args
    result = _alignlab(*add)
    assert result.returncode == 0, result.stderr
    assert "a forecast: no cell it names has started" in result.stdout
    entries = read_ledger(run_dir / LEDGER_FILE)
    assert [e.source for e in entries] == ["spec"] * 3 + ["cli"]  # the spec's own, first
    result = _alignlab("predict", "verify", str(spec))
    assert result.returncode == 0 and f"head {entries[-1].sha256}" in result.stdout
    lines = _lines(run_dir / LEDGER_FILE)
    (run_dir / LEDGER_FILE).write_text(lines[0] + lines[2] + lines[1] + lines[3])
    result = _alignlab("predict", "verify", str(spec))
    assert result.returncode == 2 and "removed, inserted or moved" in result.stderr


# -- a real run ----------------------------------------------------------------------

RUN_SPEC = """\
version: 1
name: ledger
base: {base}
references: [none]
methods:
  - none
  - name: sft_control
    params: {{token_budget: 300, batch_size: 2}}
  - {{name: sft_control, label: chores, params: {{token_budget: 200, batch_size: 2}}}}
evals:
  - name: sycophancy
    splits: [test]
    args: {{n_claims: 3}}
assumptions:
  - {{id: moves, text: Training moves things.}}
  - {{id: inert, text: Nothing moves.}}
theories:
  - {{name: moves, assumptions: [moves]}}
  - {{name: inert, assumptions: [inert]}}
predictions:
  - {{theory: moves, author: alice, type: directional, probability: 0.7, method: sft_control,
     eval: sycophancy, split: test, metric: sycophancy_rate, direction: down, min_change: 0.1,
     claim: chores lower sycophancy}}
  - {{theory: inert, author: bob, type: directional, probability: 0.2, method: sft_control,
     eval: sycophancy, split: test, metric: sycophancy_rate, direction: down, min_change: 0.1,
     claim: chores lower sycophancy (unlikely)}}
  - {{theory: inert, author: bob, type: pairwise, probability: 0.4, method: chores,
     other: sft_control, eval: sycophancy, split: test, metric: no_opinion_accuracy,
     better: higher, claim: fewer chores are better}}
"""


def test_a_run_registers_its_predictions_first_and_scores_them(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(RUN_SPEC.format(base=tiny_model_dir)))
    run_dir = tmp_path / "run"
    summary = run_session(open_session(spec, out=run_dir))
    assert not summary.failed
    ledger = run_dir / LEDGER_FILE
    entries = read_ledger(ledger)
    assert [e.kind for e in entries].count("prediction") == 3
    assert all(e.cells_started_at is None for e in entries)  # registered before any cell ran
    before = ledger.read_bytes()
    report_before = (run_dir / "report.html").stat().st_mtime_ns

    def must_not_recompute(*args: object) -> None:
        raise AssertionError("comparisons recomputed although no cell changed")

    with monkeypatch.context() as patched:  # cached: nothing new, nothing recomputed
        patched.setattr("alignlab.experiment._execute._compare", must_not_recompute)
        patched.setattr("alignlab.experiment._session.report_run", must_not_recompute)
        run_session(open_session(spec, out=run_dir))
    assert ledger.read_bytes() == before
    assert (run_dir / "report.html").stat().st_mtime_ns == report_before
    late = _directional(
        method="sft_control", split="test", theory="moves", author="carol", claim="late claim"
    )
    (added,) = register(run_dir, [late])
    # the ledger changed: the next run rebuilds the report (the comparisons stay)
    with monkeypatch.context() as patched:
        patched.setattr("alignlab.experiment._execute._compare", must_not_recompute)
        rerun = run_session(open_session(spec, out=run_dir))
    assert rerun.report is not None and "late claim" in rerun.report.read_text()
    assert added.cells_started_at is not None  # its cells ran already: post-hoc
    run_id = (run_dir / "run_id").read_text().strip()
    with open_store(run_dir / "results.sqlite") as store:
        scores = score_run(store, run_id, run_dir)
    assert scores is not None and scores.problem is None
    rows = scores.predictions
    assert rows["status"].tolist() == ["forecast"] * 3 + ["post-hoc"]
    assert rows["n_measured"].tolist()[:3] == [1, 1, 1]  # the pairwise one from the two logs
    assert set(rows["outcome"]) <= {"hit", "miss", "unresolved"}
    assert math.isnan(rows.loc[3, "log_score"])
    report = summary.report
    assert report is not None
    text = report.read_text()
    assert '<section id="predictions">' in text and "calibration" in text
    assert read_ledger(ledger)[-1].sha256[:16] in text  # the head, late entry included


# -- the report's predictions section ---------------------------------------------------


def test_report_section(ledger: Path, tmp_path: Path) -> None:
    evil = '<script>alert("claim")</script>'
    append_to_ledger(
        ledger, [_directional(author="bob", theory="inertia", probability=0.1, claim=evil)]
    )
    comparisons = [
        _comparison("dpo", "none", -0.08, 0.05),
        _comparison("dpo", "sft_control", -0.3, -0.1),
    ]
    scores = score_ledger(read_ledger(ledger), [], [], comparisons)
    run = make_run()
    text = build_report(*run.args(), run_dir=tmp_path, ledger=scores)
    section = text[text.index('<section id="predictions">') :]
    section = section[: section.index("</section>")]
    assert '<a href="#predictions">Predictions</a>' in text
    assert evil not in text and html.escape(evil, quote=True) in section
    assert '<figure class="calibration">' in section and "<svg" in section
    for table in ("ledger-table", "calibration-table", "theory-table", "author-table"):
        assert f'<table class="{table}">' in section
    assert scores.head[:16] in section and "unresolved" in section
    assert "lies below -0.1" in section  # each quantity's rule
    assert build_report(*run.args(), run_dir=tmp_path, ledger=scores) == text  # deterministic
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    assert 'id="predictions"' not in build_report(*run.args(), run_dir=tmp_path)
    lines = _lines(ledger)
    ledger.write_text(lines[1] + lines[0] + "".join(lines[2:]))
    with open_store(tmp_path / "store.sqlite") as store:
        broken = score_run(store, RUN_ID, ledger.parent)
    assert broken is not None and broken.problem is not None and broken.scores is None
    text = build_report(*run.args(), run_dir=tmp_path, ledger=broken)
    assert "failed verification, so nothing is scored" in text
