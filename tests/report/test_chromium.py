"""The report in headless Chromium: it renders, figures are there, no console message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alignlab.report import write_report
from tests.report._chromium import find_chromium, run_chromium
from tests.report._records import FEATURES, make_patterns, make_run

SCREENSHOT_SIZE = (1400, 3000)


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_chromium_fails_in_ci_and_skips_locally(
    ci: str, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("ALIGNLAB_CHROMIUM", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Chromium not found"):
        find_chromium()


def test_detector_catches_console_errors(chromium: str, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.html"
    noisy.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        "<title>t</title></head><body><p>x</p>"
        '<script>console.error("DELIBERATE-ERROR-42")</script></body></html>',
        encoding="utf-8",
    )
    quiet = tmp_path / "quiet.html"
    quiet.write_text(noisy.read_text().replace("console.error", "void"), encoding="utf-8")
    caught = run_chromium(chromium, noisy, tmp_path, "--dump-dom").console
    assert any("DELIBERATE-ERROR-42" in message for message in caught), caught
    assert run_chromium(chromium, quiet, tmp_path, "--dump-dom").console == []


def test_csp_violation_is_caught(chromium: str, tmp_path: Path) -> None:
    """An injected script or remote load in the report would be blocked and logged."""
    page = tmp_path / "csp.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<link rel="icon" href="data:,"><title>t</title></head>'
        '<body><img src="https://example.invalid/x.png"></body></html>',
        encoding="utf-8",
    )
    caught = run_chromium(chromium, page, tmp_path, "--dump-dom").console
    assert any("Content Security Policy" in message for message in caught), caught


def test_report_renders_without_console_messages(chromium: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run = make_run(run_dir)
    page = write_report(
        *run.args(),
        run_dir=run_dir,
        path=run_dir / "report.html",
        features=FEATURES,
        patterns=make_patterns(),
    )
    dom = run_chromium(chromium, page, tmp_path, "--dump-dom")
    assert dom.console == []
    # the browser parsed the inline SVG as SVG inside the figures
    assert '<figure class="heatmap" data-reference="none">' in dom.stdout
    assert re.search(r'<svg [^>]*\bid="heatmap-0"', dom.stdout)
    assert re.search(r'<svg [^>]*\bid="loss-curves"', dom.stdout)
    assert dom.stdout.count('<figure class="forest"') == 6
    assert "<script" not in dom.stdout.lower()

    screenshot = tmp_path / "report.png"
    width, height = SCREENSHOT_SIZE
    shot = run_chromium(
        chromium, page, tmp_path, f"--screenshot={screenshot}", f"--window-size={width},{height}"
    )
    assert shot.console == []
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == width
    assert int.from_bytes(data[20:24], "big") == height
    assert len(data) > 50_000  # a blank page is a few kB
