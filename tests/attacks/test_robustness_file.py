"""The robustness file: issue 13's flat layout is read, written back, and bad files are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignlab._errors import AlignlabError
from alignlab.attacks import (
    MatrixCell,
    RobustnessFile,
    matrix_json,
    metric_verdicts,
    parse_robustness,
    read_robustness,
)

FLAT = {
    "version": 1,
    "model": "smollm2-135m",
    "split": "heldout",
    "margin": 0.05,
    "sycophancy": {
        "answer_position": {"sycophancy_rate": [0.21, 0.12, 0.30], "flip_rate": [0.0, -0.02, 0.02]},
        "master_key": "n/a: no free-text scoring path",
    },
    "verdicts": {
        "sycophancy": {"sycophancy_rate": "gameable:answer_position", "flip_rate": "robust"}
    },
    "hardened_verdicts": {"sycophancy": {"sycophancy_rate": "robust"}},
    "timings": {"sycophancy": {"answer_position": 41.5}},
}


def test_the_flat_layout_reads_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "robustness.json"
    path.write_text(json.dumps(FLAT))
    robustness = read_robustness(path)
    assert robustness.model == "smollm2-135m"
    assert robustness.matrix["sycophancy"]["answer_position"] == {
        "sycophancy_rate": (0.21, 0.12, 0.30),
        "flip_rate": (0.0, -0.02, 0.02),
    }
    assert robustness.matrix["sycophancy"]["master_key"] == "n/a: no free-text scoring path"
    assert robustness.verdict("sycophancy", "sycophancy_rate") == "gameable:answer_position"
    assert robustness.verdict("sycophancy", "no_opinion_accuracy") is None
    written = json.loads(robustness.to_json())
    assert "matrix" not in written and written["sycophancy"] == FLAT["sycophancy"]
    assert parse_robustness(robustness.to_json()) == robustness
    nested = {k: v for k, v in FLAT.items() if k != "sycophancy"}
    nested["matrix"] = {"sycophancy": FLAT["sycophancy"]}
    assert parse_robustness(json.dumps(nested)) == robustness


def test_verdict_helpers_output_fits_the_file() -> None:
    cells = {
        "answer_position": {
            "sycophancy_rate": MatrixCell(
                variant="shift-1", effect=0.2, ci_low=0.1, ci_high=0.3, verdict="gameable"
            )
        },
        "master_key": "n/a: no free-text scoring path",
    }
    document = {
        **matrix_json({"sycophancy": cells}),
        "verdicts": {"sycophancy": metric_verdicts(cells)},
    }
    robustness = parse_robustness(json.dumps(document))
    assert robustness.verdicts == {"sycophancy": {"sycophancy_rate": "gameable:answer_position"}}
    assert robustness.version == 1 and robustness.margin == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", r"^r\.json: expected a JSON object, got list$"),
        ("{", r"^r\.json: not JSON: "),
        ('{"version": 2}', r"^r\.json: version: Input should be 1$"),
        (
            '{"verdicts": {"sycophancy": {"flip_rate": "fine"}}}',
            r"^r\.json: verdicts: sycophancy\.flip_rate: 'fine' is not a verdict",
        ),
        (
            '{"sycophancy": {"paraphrase": "skipped"}}',
            r"^r\.json: matrix: sycophancy\.paraphrase: a string cell must start with 'n/a: '",
        ),
        (  # a misspelt field is read as an eval row and refused
            '{"verdict": {"sycophancy": {"flip_rate": "robust"}}}',
            r"^r\.json: matrix\.verdict\.sycophancy.*read as the matrix's evals\)$",
        ),
        (
            '{"matrix": {}, "sycophancy": {}}',
            r"^r\.json: .*either under 'matrix' or as top-level evals",
        ),
    ],
)
def test_bad_files_are_one_line(text: str, message: str) -> None:
    with pytest.raises(AlignlabError, match=message) as info:
        parse_robustness(text, "r.json")
    assert "\n" not in str(info.value)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match=r"^cannot read robustness file .*missing\.json"):
        read_robustness(tmp_path / "missing.json")


def test_an_eval_named_like_a_field_cannot_be_written() -> None:
    clash = RobustnessFile(matrix={"model": {"a": "n/a: x"}})
    with pytest.raises(AlignlabError, match="an eval may not be called model"):
        clash.to_json()
