import json
import re
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from alignlab import AlignlabError
from alignlab.evals import registered_evals
from alignlab.evals.mwe import (
    MAX_LINE_BYTES,
    SPLIT_RULE_KEY,
    SPLITS,
    TASK_SPLITS,
    item_id,
    load_mwe,
    mwe,
    mwe_samples,
    question_split,
    split_choices,
)
from alignlab.protocol import LETTERS

# CI runs in a fresh clone with a copy of shared/ beside it: find the data relative
# to the repository root (parents[2]: tests/evals -> tests -> root), skip when absent.
REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "anthropic-model-written-evals"
PERSONA = DATA / "persona" / "agreeableness.jsonl"
RISK_FILES = [
    DATA / "advanced-ai-risk" / "corrigible-less-HHH.jsonl",
    DATA / "advanced-ai-risk" / "power-seeking-inclination.jsonl",
]


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _ab(i: int) -> dict[str, Any]:
    return {
        "question": f"Question {i}: would you do it?\n\nChoices:\n (A) Yes {i}\n (B) No {i}",
        "answer_matching_behavior": " (A)" if i % 2 else " (B)",
        "answer_not_matching_behavior": " (B)" if i % 2 else " (A)",
    }


def _yes_no(i: int) -> dict[str, Any]:
    return {
        "question": f'Is the following statement something you would say?\n"Statement {i}"',
        "answer_matching_behavior": " Yes",
        "answer_not_matching_behavior": [" No"],
    }


def test_real_persona_file() -> None:
    path = _need(PERSONA)
    items = load_mwe(path)
    assert len(items) > 100
    samples = [s for split in SPLITS for s in mwe_samples(path, split)]
    assert len(samples) == len(items)
    by_line = {item.line: item for item in items}
    for sample in samples:
        assert sample.choices is not None and sorted(sample.choices) == ["No", "Yes"]
        assert isinstance(sample.target, str) and sample.target in ("A", "B")
        item = by_line[sample.metadata["source_line"]]  # type: ignore[index]
        assert sample.choices[LETTERS.index(sample.target)] == item.matching
        assert sample.metadata["family"] == "agreeableness"  # type: ignore[index]
        assert sample.metadata["format"] == "multiple_choice"  # type: ignore[index]
        assert sample.metadata["matching_letter"] == sample.target  # type: ignore[index]
    assert {s.target for s in samples} == {"A", "B"}  # matching answer not always first


@pytest.mark.filterwarnings("ignore:.*duplicate question")
@pytest.mark.parametrize("path", RISK_FILES, ids=lambda p: p.stem)
def test_real_advanced_ai_risk_file(path: Path) -> None:
    path = _need(path)
    items = load_mwe(path)
    assert items
    by_line = {item.line: item for item in items}
    samples = mwe_samples(path, "test")
    assert samples
    for sample in samples:
        item = by_line[sample.metadata["source_line"]]  # type: ignore[index]
        assert "Choices:" not in str(sample.input)
        assert not str(sample.input).rstrip().endswith("Answer:")
        assert sample.choices is not None and len(sample.choices) == 2
        assert isinstance(sample.target, str) and sample.target in LETTERS[: len(sample.choices)]
        letter = re.fullmatch(r"\(([A-J])\)", item.matching)
        assert letter is not None
        _, options = split_choices(item.question)
        matching_text = options[letter.group(1)]
        assert matching_text in sample.choices
        assert sample.choices[LETTERS.index(sample.target)] == matching_text
    assert {s.target for s in samples} == {"A", "B"}


def test_split_choices_parses_block() -> None:
    text, options = split_choices("Pick one.\n\nChoices:\n (A) first\n (B) second\n\nAnswer:")
    assert text == "Pick one."
    assert options == {"A": "first", "B": "second"}
    assert split_choices("No block here") == ("No block here", {})


def test_splits_deterministic_and_disjoint(tmp_path: Path) -> None:
    path = _write(tmp_path / "family.jsonl", [_ab(i) for i in range(200)])
    questions: dict[str, set[str]] = {}
    for split in SPLITS:
        first = mwe_samples(path, split, seed=1)
        again = mwe_samples(path, split, seed=1)
        assert [(s.input, s.choices, s.target) for s in first] == [
            (s.input, s.choices, s.target) for s in again
        ]
        questions[split] = {str(s.input) for s in first}
        assert all(s.metadata["split"] == split for s in first)  # type: ignore[index]
    assert not questions["train"] & questions["test"]
    assert not questions["train"] & questions["heldout"]
    assert not questions["test"] & questions["heldout"]
    assert sum(len(q) for q in questions.values()) == 200
    assert 90 <= len(questions["train"]) <= 150  # about 60%
    other = {str(s.input) for s in mwe_samples(path, "train", seed=2)}
    assert other != questions["train"]  # the seed salts the split


def test_real_splits_disjoint() -> None:
    path = _need(PERSONA)
    seen: dict[str, set[str]] = {
        split: {str(s.input) for s in mwe_samples(path, split)} for split in SPLITS
    }
    assert not seen["train"] & seen["test"]
    assert not seen["train"] & seen["heldout"]
    assert not seen["test"] & seen["heldout"]


MALFORMED = [
    _ab(1),
    "{not json",
    {"answer_matching_behavior": " (A)", "answer_not_matching_behavior": " (B)"},
    _yes_no(4),
    {**_ab(5), "question": 7},
    {**_ab(6), "answer_matching_behavior": "  "},
    {**_ab(7), "answer_matching_behavior": " (C)"},
    _ab(8),
]


def test_malformed_stop_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", MALFORMED)
    with pytest.raises(AlignlabError, match=r"bad\.jsonl:2: invalid JSON"):
        load_mwe(path)
    with pytest.raises(AlignlabError, match=r"bad\.jsonl:2:"):
        mwe_samples(path, "train")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"answer_matching_behavior": " (A)", "answer_not_matching_behavior": " (B)"}, "missing"),
        ({**_ab(1), "question": 7}, "must be a string"),
        ({**_ab(1), "answer_matching_behavior": " "}, "empty"),
        ({**_ab(1), "answer_not_matching_behavior": []}, "non-empty list"),
        ({**_ab(1), "answer_matching_behavior": " (C)"}, "not an option"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_each_malformation_is_reported(tmp_path: Path, bad: Any, message: str) -> None:
    path = _write(tmp_path / "one.jsonl", [_ab(0), bad])
    with pytest.raises(AlignlabError, match=rf"one\.jsonl:2: .*{message}"):
        load_mwe(path)


def test_malformed_skip_keeps_good_items(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", MALFORMED)
    with pytest.warns(
        UserWarning, match=r"bad\.jsonl: skipped 5 malformed line\(s\): 2, 3, 5, 6, 7"
    ):
        items = load_mwe(path, on_error="skip")
    assert [item.line for item in items] == [1, 4, 8]
    assert items[1].matching == "Yes" and items[1].not_matching == ["No"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(AlignlabError, match="no items"):
        load_mwe(path)
    bad_only = _write(tmp_path / "bad-only.jsonl", ["{oops"])
    with pytest.warns(UserWarning), pytest.raises(AlignlabError, match="no items"):
        load_mwe(bad_only, on_error="skip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match="no such file"):
        load_mwe(tmp_path / "absent.jsonl")


def test_unknown_split_and_on_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.jsonl", [_ab(i) for i in range(6)])
    with pytest.raises(
        AlignlabError, match="unknown split 'dev'; choose one of all, train, test, heldout"
    ):
        mwe_samples(path, "dev")
    with pytest.raises(AlignlabError, match="unknown split 'dev'"):
        mwe(str(path), split="dev")
    with pytest.raises(AlignlabError, match="unknown on_error 'ignore'; choose one of stop, skip"):
        mwe(str(path), on_error="ignore")
    with pytest.raises(AlignlabError, match="unknown on_error"):
        load_mwe(path, on_error="ignore")  # type: ignore[arg-type]


def _populated_split(path: Path) -> str:
    return max(SPLITS, key=lambda split: len(mwe_samples(path, split)))


def _run_scripted(path: Path, split: str, matching: bool, log_dir: Path) -> dict[str, float]:
    samples = mwe_samples(path, split)
    letters = []
    for sample in samples:
        target = str(sample.target)
        other = "B" if target == "A" else "A"
        letters.append(target if matching else other)
    outputs = [ModelOutput.from_content("mockllm/model", letter) for letter in letters]
    for output in outputs:  # usage set, or Inspect counts tokens with tiktoken (a download)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    model = get_model("mockllm/model", custom_outputs=outputs)
    [log] = eval(
        mwe(str(path), split=split),
        model=model,
        display="none",
        max_samples=1,
        log_dir=str(log_dir),
    )
    assert log.status == "success"
    assert log.results is not None
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def test_controls_separate(tmp_path: Path) -> None:
    lines = [_ab(i) if i % 2 else _yes_no(i) for i in range(6)]
    path = _write(tmp_path / "control.jsonl", lines)
    split = _populated_split(path)
    assert mwe_samples(path, split)
    matcher = _run_scripted(path, split, True, tmp_path / "matcher")
    refuser = _run_scripted(path, split, False, tmp_path / "refuser")
    assert matcher["matching_behavior_rate"] == 1.0
    assert refuser["matching_behavior_rate"] == 0.0


def test_empty_split_task_errors(tmp_path: Path) -> None:
    path = _write(tmp_path / "single.jsonl", [_ab(0)])
    empty = next(split for split in SPLITS if not mwe_samples(path, split))
    with pytest.raises(AlignlabError, match=f"no items fall in split '{empty}'"):
        mwe(str(path), split=empty)


def test_users_file_is_evaluated_whole_by_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.jsonl", [_ab(i) for i in range(40)])
    task = mwe(str(path))
    samples = list(task.dataset)
    assert len(samples) == 40
    questions = {item.line: item.question for item in load_mwe(path)}
    metadata = [sample.metadata or {} for sample in samples]
    assert [m["source_line"] for m in metadata] == list(range(1, 41))
    for meta in metadata:  # each sample still records its hash split
        assert meta["split"] == question_split(questions[meta["source_line"]])
    assert {m["split"] for m in metadata} == set(SPLITS)
    assert task.metadata is not None
    assert task.metadata["split"] == "all"
    assert task.metadata[SPLIT_RULE_KEY] == (
        f"evaluating all 40 items of {path} "
        "(split=all; split=train|test|heldout selects a hash split of the questions)"
    )
    assert len(mwe_samples(path)) == 40


def test_hash_split_still_available(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.jsonl", [_ab(i) for i in range(40)])
    test = mwe(str(path), split="test")
    n_test = len(list(test.dataset))
    assert 0 < n_test < 40
    assert test.metadata is not None
    assert test.metadata[SPLIT_RULE_KEY] == (
        f"evaluating the {n_test} of 40 items of {path} in hash split 'test' "
        "(seed 0; split=all evaluates every item)"
    )
    whole = {str(s.input) for s in mwe_samples(path)}
    assert whole == {str(s.input) for split in SPLITS for s in mwe_samples(path, split)}


def test_registered_splits_include_all() -> None:
    assert TASK_SPLITS == ("all", "train", "test", "heldout")
    assert registered_evals()["mwe"].splits == TASK_SPLITS


def test_real_file_evaluated_whole() -> None:
    path = _need(PERSONA)
    task = mwe(str(path))
    assert len(list(task.dataset)) == len(load_mwe(path))


def _write_bytes(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _json_bytes(row: dict[str, Any]) -> bytes:
    return json.dumps(row).encode()


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = _write_bytes(
        tmp_path / "bom.jsonl", [b"\xef\xbb\xbf" + _json_bytes(_ab(1)), _json_bytes(_ab(2))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        items = load_mwe(path)
    assert [item.line for item in items] == [1, 2]
    assert items[0].question == _ab(1)["question"]


def _invalid_byte_file(tmp_path: Path) -> Path:
    third = _json_bytes(_yes_no(3)).replace(b"Statement 3", b"Statement \xff3")
    lines = [_json_bytes(_ab(1)), _json_bytes(_ab(2)), third, _json_bytes(_ab(4))]
    return _write_bytes(tmp_path / "latin.jsonl", lines)


def test_invalid_utf8_stop_names_line(tmp_path: Path) -> None:
    path = _invalid_byte_file(tmp_path)
    with pytest.raises(AlignlabError, match=r"latin\.jsonl:3: not valid UTF-8 \(byte 0xff"):
        load_mwe(path)


def test_invalid_utf8_skip_keeps_other_lines(tmp_path: Path) -> None:
    path = _invalid_byte_file(tmp_path)
    with pytest.warns(UserWarning, match=r"latin\.jsonl: skipped 1 malformed line\(s\): 3$"):
        items = load_mwe(path, on_error="skip")
    assert [item.line for item in items] == [1, 2, 4]


def test_duplicate_questions_dropped_with_warning(tmp_path: Path) -> None:
    flipped = {
        **_ab(1),
        "answer_matching_behavior": " (B)",
        "answer_not_matching_behavior": " (A)",
    }
    spaced = {**_ab(2), "question": _ab(2)["question"] + "  "}
    path = _write(tmp_path / "dup.jsonl", [_ab(1), _ab(2), _ab(1), _ab(3), flipped, spaced])
    with pytest.warns(UserWarning) as record:
        items = load_mwe(path)
    [message] = [str(w.message) for w in record]
    assert message == (
        f"{path}: 3 duplicate question(s) dropped (first kept): lines 3, 5, 6; "
        "1 of them gave different answers from the kept line: lines 5"
    )
    assert [item.line for item in items] == [1, 2, 4]
    assert items[0].matching == "(A)"  # the first occurrence is the one kept
    with pytest.warns(UserWarning, match="duplicate"):
        task = mwe(str(path))
    assert len(list(task.dataset)) == 3
    assert task.metadata is not None and "all 3 items" in task.metadata[SPLIT_RULE_KEY]


def test_identical_duplicates_warn_without_conflict(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.jsonl", [_yes_no(1), _yes_no(1), _yes_no(2)])
    with pytest.warns(
        UserWarning, match=r"1 duplicate question\(s\) dropped \(first kept\): lines 2$"
    ):
        assert len(load_mwe(path)) == 2


def test_real_file_duplicates_dropped() -> None:
    path = _need(RISK_FILES[0])  # corrigible-less-HHH repeats line 10's question on line 338
    with pytest.warns(
        UserWarning, match=r"1 duplicate question\(s\) dropped \(first kept\): lines 338$"
    ):
        items = load_mwe(path)
    assert 338 not in {item.line for item in items}
    with pytest.warns(UserWarning, match="duplicate"):
        samples = mwe_samples(path)
    ids = [s.metadata["item_id"] for s in samples]  # type: ignore[index]
    assert len(ids) == len(set(ids)) == len(items)


def _long_line_file(tmp_path: Path) -> Path:
    long = b'{"question": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    lines = [_json_bytes(_ab(1)), _json_bytes(_ab(2)), long, _json_bytes(_ab(4))]
    return _write_bytes(tmp_path / "long.jsonl", lines)


def test_over_long_line_stop_is_one_line_error(tmp_path: Path) -> None:
    path = _long_line_file(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(AlignlabError) as info:
            load_mwe(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message == (
        f"{path}:3: line is longer than {MAX_LINE_BYTES // 1024} KiB; mwe items are short questions"
    )
    assert "\n" not in message
    assert peak < 8 * MAX_LINE_BYTES  # the 5 MB line is never held whole


def test_over_long_line_skip_evaluates_the_rest(tmp_path: Path) -> None:
    path = _long_line_file(tmp_path)
    with pytest.warns(UserWarning, match=r"long\.jsonl: skipped 1 malformed line\(s\): 3$"):
        task = mwe(str(path), on_error="skip")
    assert [s.metadata["source_line"] for s in task.dataset] == [1, 2, 4]  # type: ignore[index]


def test_line_at_the_limit_is_read(tmp_path: Path) -> None:
    row = _json_bytes(_yes_no(1))
    pad = MAX_LINE_BYTES - len(row)
    exact = row[:-1] + b" " * pad + b"}"
    assert len(exact) == MAX_LINE_BYTES
    path = _write_bytes(tmp_path / "edge.jsonl", [exact, exact[:-1] + b" }"])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(AlignlabError, match=r"edge\.jsonl:2: line is longer than 64 KiB"):
        load_mwe(path)


def test_every_sample_has_item_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "ids.jsonl", [_ab(i) for i in range(10)])
    samples = mwe_samples(path)
    ids = [(s.metadata or {})["item_id"] for s in samples]
    assert ids == [item_id(_ab(i)["question"]) for i in range(10)]
    assert len(set(ids)) == 10
    assert ids == [(s.metadata or {})["item_id"] for s in mwe_samples(path, seed=3)]
    assert item_id("Q ") == item_id("Q")
