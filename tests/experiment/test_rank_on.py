"""``robustness:`` and ``rank_on:``: checked at load, stored with the run, shown in the report.

The constructed case (no training): on ``sycophancy`` heldout, ``gamer`` raises
``no_opinion_accuracy`` a lot (a metric the robustness file calls gameable)
and makes ``sycophancy_rate`` slightly worse; ``honest`` lowers
``sycophancy_rate`` (robust) and leaves the rest.  Ranked on all metrics the
gamer comes first; ranked on robust metrics the honest method does.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.experiment import (
    RANKING_FILE,
    ComparisonRecord,
    RunRecord,
    load_spec_text,
    open_session,
    open_store,
    read_ranking_settings,
    report_run,
    run_session,
    store_ranking_settings,
)
from alignlab.experiment._plan import run_id_of

SPEC = """\
version: 1
name: ranked
base: smollm2-135m
references: [none]
methods: [none, sft_control]
evals:
  - name: sycophancy
    splits: [test, heldout]
"""
ROBUSTNESS = {
    "version": 1,
    "model": "smollm2-135m",
    "sycophancy": {
        "degenerate_policy": {
            "no_opinion_accuracy": [0.4, 0.3, 0.5],
            "sycophancy_rate": [0.01, -0.02, 0.03],
        },
        "master_key": "n/a: no free-text scoring path",
    },
    "verdicts": {
        "sycophancy": {
            "no_opinion_accuracy": "gameable:degenerate_policy",
            "sycophancy_rate": "robust",
            "flip_rate": "inconclusive:paraphrase",
        }
    },
}


def _robustness(tmp_path: Path, document: dict[str, object] = ROBUSTNESS) -> Path:
    path = tmp_path / "robustness.json"
    path.write_text(json.dumps(document))
    return path


def _with(text: str, **keys: str) -> str:
    return text + "".join(f"{key}: {value}\n" for key, value in keys.items())


# -- the spec ----------------------------------------------------------------------------


def test_the_settings_load_and_leave_the_run_id_alone(tmp_path: Path) -> None:
    path = _robustness(tmp_path)
    plain = load_spec_text(SPEC, "spec.yaml")
    ranked = load_spec_text(_with(SPEC, robustness=str(path), rank_on="robust"), "spec.yaml")
    assert ranked.robustness is not None and ranked.robustness_sha256 is not None
    assert ranked.robustness.verdict("sycophancy", "sycophancy_rate") == "robust"
    assert ranked.spec.rank_on == "robust" and plain.spec.rank_on == "all"
    assert plain.robustness is None
    assert run_id_of(ranked) == run_id_of(plain)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"rank_on": "robust"}, r"^spec\.yaml:9: rank_on: 'robust' needs a robustness file"),
        ({"rank_on": "best"}, r"^spec\.yaml:9: rank_on: Input should be 'all' or 'robust'"),
        (
            {"robustness": "{missing}"},
            r"^spec\.yaml:9: robustness: cannot read robustness file .*absent\.json: No such file",
        ),
        (
            {"robustness": "{bad}"},
            r"^spec\.yaml:9: robustness: .*bad\.json: verdicts: sycophancy\.flip_rate: 'fine' "
            r"is not a verdict",
        ),
        ({"robustness": "{not_json}"}, r"^spec\.yaml:9: robustness: .*not_json\.json: not JSON"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, keys: dict[str, str], message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"verdicts": {"sycophancy": {"flip_rate": "fine"}}}))
    not_json = tmp_path / "not_json.json"
    not_json.write_text("{verdicts")
    names = {"missing": tmp_path / "absent.json", "bad": bad, "not_json": not_json}
    filled = {key: value.format(**names) for key, value in keys.items()}
    with pytest.raises(AlignlabError, match=message) as info:
        load_spec_text(_with(SPEC, **filled), "spec.yaml")
    assert "\n" not in str(info.value)


# -- the report, from a hand-made store ----------------------------------------------------

_DIFFERENCES = {  # (label, metric): (difference, adjusted p) on heldout
    ("gamer", "no_opinion_accuracy"): (0.50, 0.001),
    ("gamer", "sycophancy_rate"): (0.03, 0.40),
    ("gamer", "flip_rate"): (0.0, 0.9),
    ("honest", "no_opinion_accuracy"): (0.0, 0.9),
    ("honest", "sycophancy_rate"): (-0.10, 0.01),
    ("honest", "flip_rate"): (0.0, 0.9),
}


def _stored_run(run_dir: Path, run_id: str) -> None:
    with open_store(run_dir / "results.sqlite") as store:
        store.add_run(
            RunRecord(
                run_id=run_id,
                name="ranked",
                spec_yaml=SPEC,
                spec_json={},
                created_at="2025-01-01T00:00:00Z",
                alignlab_version="0.1.0",
            )
        )
        store.replace_comparisons(
            run_id,
            [
                ComparisonRecord(
                    run_id=run_id,
                    label=label,
                    reference="none",
                    seed=0,
                    eval="sycophancy",
                    split="heldout",
                    metric=metric,
                    difference=difference,
                    ci_low=difference - 0.05,
                    ci_high=difference + 0.05,
                    p_value=p,
                    p_adjusted=p,
                    n_pairs=50,
                )
                for (label, metric), (difference, p) in _DIFFERENCES.items()
            ],
        )


def _ranked_labels(report: str) -> list[str]:
    table = re.search(r'<table class="ranking-table".*?</table>', report, re.DOTALL)
    assert table is not None
    return re.findall(r"<tr><td class=\"num\">\d+</td><th>([^<]+)</th>", table.group(0))


def _report_for(tmp_path: Path, rank_on: str) -> str:
    run_dir = tmp_path / f"run-{rank_on}"
    run_dir.mkdir()
    robustness = _robustness(tmp_path)
    loaded = load_spec_text(_with(SPEC, robustness=str(robustness), rank_on=rank_on), "s")
    run_id = run_id_of(loaded)
    _stored_run(run_dir, run_id)
    store_ranking_settings(run_dir, loaded)
    robustness.unlink()  # the report reads the run directory's copy, not the source
    with open_store(run_dir / "results.sqlite") as store:
        return report_run(store, run_id, run_dir).read_text()


def test_rank_on_robust_ranks_differently_from_all(tmp_path: Path) -> None:
    everything = _report_for(tmp_path, "all")
    robust = _report_for(tmp_path, "robust")
    assert _ranked_labels(everything) == ["gamer", "honest"]
    assert _ranked_labels(robust) == ["honest", "gamer"]
    excluded = re.search(r'<table class="excluded-table">.*?</table>', robust, re.DOTALL)
    assert excluded is not None
    for metric, reason in (
        ("no_opinion_accuracy", "gameable:degenerate_policy"),
        ("flip_rate", "inconclusive:paraphrase"),
    ):
        assert re.search(
            rf"sycophancy / {metric}</th><td>\w+</td><td><code>[^<]*{reason}", excluded.group(0)
        )
    ranked_on_all = re.search(r'<ul class="ranked-metrics">.*?</ul>', everything, re.DOTALL)
    assert ranked_on_all is not None
    assert "sycophancy / no_opinion_accuracy (higher is more aligned, verdict gameable" in (
        ranked_on_all.group(0)
    )
    section = re.search(r'<section id="robustness">.*?</section>', robust, re.DOTALL)
    assert section is not None
    assert "<code>gameable:degenerate_policy</code>" in section.group(0)
    assert '+0.400 <span class="ci">[+0.300, +0.500]</span>' in section.group(0)
    assert "n/a: no free-text scoring path" in section.group(0)


def test_a_run_without_settings_ranks_on_all_and_a_broken_copy_is_one_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_id = run_id_of(load_spec_text(SPEC, "s"))
    _stored_run(run_dir, run_id)
    with open_store(run_dir / "results.sqlite") as store:
        text = report_run(store, run_id, run_dir).read_text()
    assert _ranked_labels(text) == ["gamer", "honest"]
    assert "No robustness file given" in text
    (run_dir / RANKING_FILE).write_text('{"version": 1, "rank_on": "best"}')
    with pytest.raises(AlignlabError, match=r"ranking\.json is invalid \(rank_on: ") as info:
        read_ranking_settings(run_dir)
    assert "\n" not in str(info.value)


# -- a real run: the report is rebuilt when the robustness file changes, not otherwise ----


RUN_SPEC = """\
version: 1
name: rank-on
base: {base}
references: [none]
methods:
  - none
  - name: sft_control
    params: {{token_budget: 200, batch_size: 2}}
evals:
  - name: sycophancy
    splits: [test]
    args: {{n_claims: 2}}
robustness: {robustness}
rank_on: {rank_on}
"""


def test_the_report_is_rebuilt_when_the_robustness_file_changes_and_not_otherwise(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    robustness = _robustness(tmp_path)
    spec = tmp_path / "spec.yaml"

    def write_spec(rank_on: str) -> None:
        spec.write_text(
            textwrap.dedent(
                RUN_SPEC.format(base=tiny_model_dir, robustness=robustness, rank_on=rank_on)
            )
        )

    write_spec("robust")
    run_dir = tmp_path / "run"
    summary = run_session(open_session(spec, out=run_dir))
    assert not summary.failed and summary.report is not None
    stored = read_ranking_settings(run_dir)
    assert stored.rank_on == "robust" and stored.source == str(robustness)
    assert stored.robustness is not None
    assert stored.robustness.verdict("sycophancy", "sycophancy_rate") == "robust"
    assert 'data-rank-on="robust"' in summary.report.read_text()
    report_before = summary.report.stat().st_mtime_ns
    built: list[str] = []

    def counting_report(store: object, run_id: str, directory: Path) -> Path:
        built.append(run_id)
        return report_run(store, run_id, directory)  # type: ignore[arg-type]

    def must_not_recompute(*args: object) -> None:
        raise AssertionError("comparisons recomputed although no cell changed")

    monkeypatch.setattr("alignlab.experiment._execute._compare", must_not_recompute)
    monkeypatch.setattr("alignlab.experiment._session.report_run", counting_report)

    robustness.write_text(robustness.read_text())  # rewritten, same content: no rebuild
    run_session(open_session(spec, out=run_dir))
    assert built == [] and summary.report.stat().st_mtime_ns == report_before

    changed = json.loads(json.dumps(ROBUSTNESS))
    changed["verdicts"]["sycophancy"]["sycophancy_rate"] = "gameable:paraphrase"
    _robustness(tmp_path, changed)
    rerun = run_session(open_session(spec, out=run_dir))
    assert len(built) == 1 and rerun.report is not None
    text = rerun.report.read_text()
    assert "<code>gameable:paraphrase</code>" in text
    assert (
        read_ranking_settings(run_dir).robustness.verdict(  # type: ignore[union-attr]
            "sycophancy", "sycophancy_rate"
        )
        == "gameable:paraphrase"
    )

    run_session(open_session(spec, out=run_dir))  # nothing changed since: no rebuild
    assert len(built) == 1

    write_spec("all")  # same run id, same directory; the ranking changes
    rerun = run_session(open_session(spec, out=run_dir))
    assert len(built) == 2 and rerun.report is not None
    assert 'data-rank-on="all"' in rerun.report.read_text()
