"""The report's "Method ranking" and "Robustness" sections: drawn, escaped, or absent."""

from __future__ import annotations

import re
from pathlib import Path

from alignlab.attacks import RobustnessFile
from alignlab.experiment import RankingSettings, method_ranking
from alignlab.report import build_report
from tests.report._records import EVIL, make_run

EVIL_EVAL = '<img src=x onerror="alert(1)">'


def _settings() -> RankingSettings:
    robustness = RobustnessFile(
        model="smollm2-135m",
        matrix={
            "mistakes": {"answer_position": {"correction_rate": (0.2, 0.1, 0.3)}},
            EVIL_EVAL: {"master_key": "n/a: <b>no</b> scoring path"},
        },
        verdicts={"mistakes": {"correction_rate": "gameable:answer_position"}},
    )
    return RankingSettings(
        rank_on="robust", source="r.json", source_sha256="ab" * 32, robustness=robustness
    )


def test_sections_render_escaped_with_unique_ids(tmp_path: Path) -> None:
    run = make_run()
    settings = _settings()
    text = build_report(
        *run.args(),
        run_dir=tmp_path,
        ranking=method_ranking(run.comparisons, settings),
        robustness=settings,
    )
    assert '<a href="#ranking">Method ranking</a>' in text
    assert '<a href="#robustness">Robustness</a>' in text
    ranking = re.search(r'<section id="ranking">.*?</section>', text, re.DOTALL)
    assert ranking is not None
    # mistakes/correction_rate is gameable, double_down_rate has no verdict: nothing is left
    assert "No metric is left to rank on." in ranking.group(0)
    assert "<code>gameable:answer_position</code>" in ranking.group(0)
    assert "<code>no verdict in the robustness file</code>" in ranking.group(0)
    assert EVIL not in text and EVIL_EVAL not in text and "<b>no</b>" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))


def test_without_comparisons_or_robustness_file(tmp_path: Path) -> None:
    run = make_run()
    text = build_report(run.run, run.cells, run.metrics, run.curves, [], run_dir=tmp_path)
    assert "No comparisons ranked yet." in text
    assert "No robustness file given" in text
