from __future__ import annotations

import html
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alignlab._errors import AlignlabError
from alignlab.experiment import RunRecord
from alignlab.report import build_report, write_report
from alignlab.report._format import DASH, interval, num, p_value
from tests.report._records import (
    ERROR,
    EVALS,
    EVIL,
    FAILED,
    FEATURES,
    NAN_METRIC,
    QUEUED,
    SPEC,
    key,
    log_path,
    make_patterns,
    make_run,
)


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    directory.mkdir()
    return directory


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the hand-made run with feature tags and patterns (built once: ~1 s)."""
    directory = tmp_path_factory.mktemp("full") / "run"
    directory.mkdir()
    return _report(directory, features=FEATURES, patterns=make_patterns())


def _report(run_dir: Path, **kwargs: object) -> str:
    run = make_run(run_dir)
    return build_report(*run.args(), run_dir=run_dir, **kwargs)  # type: ignore[arg-type]


def _figure(text: str, css_class: str) -> list[str]:
    return re.findall(rf'<figure class="{css_class}".*?</figure>', text, re.DOTALL)


def test_number_formatting() -> None:
    assert num(0.12345) == "0.123"
    assert num(-0.00001) == "0.000"
    assert num(0.1, signed=True) == "+0.100"
    assert num(-0.00001, signed=True) == "+0.000"
    assert num(math.nan) == DASH == "\N{EN DASH}"
    assert interval(math.nan, math.nan) == DASH
    assert interval(-0.1, math.nan, signed=True) == f"[-0.100, {DASH}]"
    assert p_value(0.00001) == "<0.001"
    assert p_value(0.0456) == "0.046"


def test_figures_are_inline_svg(full: str) -> None:
    text = full
    heatmaps = _figure(text, "heatmap")
    assert len(heatmaps) == 2  # references none and sft_control
    assert re.search(r'<svg [^>]*\bid="heatmap-0"', heatmaps[0])
    assert 'data-reference="none"' in heatmaps[0]
    assert "benjamini-hochberg" in heatmaps[0]
    forests = _figure(text, "forest")
    metrics = sum(len(names) for names in EVALS.values())
    assert len(forests) == 2 * metrics
    assert all("<svg" in figure for figure in forests)
    (curves,) = _figure(text, "loss-curves")
    assert re.search(r'<svg [^>]*\bid="loss-curves"', curves)
    # self-contained: no external resource, no script, no XML prolog inside the HTML
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text
    assert "Content-Security-Policy" in text


def test_per_split_table_shows_gain_and_marks(full: str) -> None:
    text = full
    table = re.search(r'<table class="split-table" data-reference="none">.*?</table>', text, re.S)
    assert table is not None
    body = table.group(0).split("<tbody>")[1]
    rows = re.findall(r"<tr><th>(.*?)</th>(.*?)</tr>", body, re.S)
    by_label = {html.unescape(label): cells for label, cells in rows}
    assert list(by_label) == ["sft_control", EVIL]  # reference excluded, plan order
    evil = by_label[EVIL]
    # the test gain (significant, marked) next to the vanished heldout difference
    assert '+0.180* <span class="ci">[+0.140, +0.220]</span>' in evil
    assert '+0.010 <span class="ci">[-0.030, +0.050]</span>' in evil
    assert 'class="diff sig"' in evil
    headers = re.findall(r"<th>(test|heldout)</th>", table.group(0))
    assert headers[:2] == ["test", "heldout"]


def test_metrics_table_links_and_nan(full: str) -> None:
    text = full
    table = re.search(r'<table class="metrics-table">.*?</table>', text, re.S)
    assert table is not None
    body = table.group(0)
    variant, eval_name, split, metric = NAN_METRIC
    nan_row = re.search(
        rf'<tr data-cell="{key("eval", variant, eval_name, split)}">.*?</tr>', body, re.S
    )
    assert nan_row is not None and f'<td>{metric}</td><td class="num">{DASH}</td>' in nan_row.group(
        0
    )
    assert "nan" not in body.lower().replace("sycophancy", "")
    for eval_name in EVALS:
        for split in ("test", "heldout"):
            for variant in ("none", EVIL):
                assert f'href="{log_path(variant, eval_name, split)}"' in body
    assert "0.520 " not in body and '<td class="num">0.520</td>' in body  # 3 decimals
    assert "missing (queued)" in body and "failed (failed)" in body
    assert "inspect view --log-dir logs" in text


def test_failed_and_queued_cells(full: str) -> None:
    text = full
    assert 'id="partial"' in text and "2 of 15 cells are not done (1 queued, 1 failed)" in text
    failed = re.search(r'<table class="failed-table">.*?</table>', text, re.S)
    assert failed is not None
    assert html.escape(ERROR) in failed.group(0)
    assert f'href="{log_path(*FAILED)}"' in failed.group(0)
    assert "(absent)" in failed.group(0)  # the failed cell wrote no log
    missing = re.search(r'<table class="missing-table">.*?</table>', text, re.S)
    assert missing is not None
    assert all(part in missing.group(0) for part in QUEUED) and "queued" in missing.group(0)


def test_everything_is_escaped(full: str) -> None:
    text = full
    assert "<script" not in text.lower()
    assert "<b>run</b>" not in text and "demo &lt;b&gt;run&lt;/b&gt;" in text
    assert html.escape(SPEC) in text  # the spec, verbatim inside <pre>
    assert html.escape(EVIL) in text
    assert "&lt;regularisation&gt;" in text
    assert "<!--" not in text  # matplotlib's text comments are dropped


def test_spec_and_versions(full: str) -> None:
    text = full
    assert '<pre class="spec">name: demo &amp; &lt;script&gt;' in text
    assert "2025-01-02T03:04:05Z" in text
    assert "<tr><th>alignlab (first run)</th><td>0.1.0</td></tr>" in text
    assert "<tr><th>torch</th><td>2.13.0</td></tr>" in text


def test_patterns(full: str, run_dir: Path) -> None:
    text = full
    assert '<table class="tags-table">' in text and '<table class="patterns-table">' in text
    assert "Descriptive only" in text and "not causal" in text
    assert "+0.100" in text and "[+0.010, +0.190]" in text
    only_tags = _report(run_dir, features=FEATURES)
    assert '<table class="tags-table">' in only_tags
    assert '<table class="patterns-table">' not in only_tags
    assert "No feature tags given" in _report(run_dir)
    with pytest.raises(AlignlabError, match="n_without"):
        _report(run_dir, patterns=make_patterns().drop(columns=["n_without"]))


def test_empty_and_unstarted_runs_render(run_dir: Path) -> None:
    full = make_run()
    queued = [cell.model_copy(update={"state": "queued", "artifact": None}) for cell in full.cells]
    text = build_report(full.run, queued, [], [], [], run_dir=run_dir)
    assert "No comparisons stored yet" in text and "No training loss stored yet" in text
    assert "15 of 15 cells are not done (15 queued)" in text
    bare = RunRecord(
        run_id="0" * 64,
        name="empty",
        spec_yaml="",
        spec_json={},
        created_at="2025-01-01T00:00:00Z",
        alignlab_version="0.1.0",
    )
    assert "Every cell is done" in build_report(bare, [], [], [], [], run_dir=run_dir)


def test_deterministic(full: str, run_dir: Path) -> None:
    first = _report(run_dir, features=FEATURES, patterns=make_patterns())
    assert first == _report(run_dir, features=FEATURES, patterns=make_patterns())
    assert first == full  # built in another directory: no absolute path leaks in
    code = (
        "import sys; from pathlib import Path; from tests.report._records import *; "
        "from alignlab.report import build_report; r = make_run(); "
        "sys.stdout.write(build_report(*r.args(), run_dir=Path(sys.argv[1]), "
        "features=FEATURES, patterns=make_patterns()))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert other.stdout == first


def test_write_report_is_atomic_and_links_relative(run_dir: Path) -> None:
    run = make_run(run_dir)
    path = write_report(*run.args(), run_dir=run_dir, path=run_dir / "report" / "index.html")
    assert path == run_dir / "report" / "index.html"
    text = path.read_text(encoding="utf-8")
    assert f'href="../{log_path("none", "sycophancy", "test")}"' in text
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.html"]  # no temp file left
    assert text == build_report(*run.args(), run_dir=run_dir, report_dir=path.parent)


def test_element_ids_are_unique_and_references_resolve(full: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', full)
    assert len(ids) == len(set(ids)), "duplicate element ids across the inline SVGs"
    references = set(re.findall(r'(?:href="#|url\(#)([^")]+)', full))
    assert references and references <= set(ids)
