import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alignlab import AlignlabError
from alignlab.cli import _resolve_task, app
from alignlab.evals import eval_task, registered_evals, unregister

ALIGNLAB = str(Path(sys.executable).parent / "alignlab")
runner = CliRunner()


def _eval_in_process(model: str, log_dir: Path, limit: int) -> Any:
    return runner.invoke(
        app,
        [
            "eval",
            "sycophancy",
            "--model",
            model,
            "--limit",
            str(limit),
            "--log-dir",
            str(log_dir),
            "--display",
            "none",
        ],
        terminal_width=200,
    )


def _run(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([ALIGNLAB, *args], capture_output=True, text=True, timeout=300, env=env)


def test_help_everywhere() -> None:
    for args in ([], ["models"], ["evals"], ["eval"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_evals_lists_metrics() -> None:
    result = runner.invoke(app, ["evals"], terminal_width=200)
    assert result.exit_code == 0
    assert "sycophancy" in result.output and "sycophancy_rate" in result.output


def test_models_lists_embedded() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "smollm2-135m" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "nosuch-task"], "unknown task 'nosuch-task'; built-in tasks: "),
        (
            ["eval", "sycophancy", "--model", "nosuch"],
            "unknown model spec 'nosuch'; known models: smollm2-135m",
        ),
        (
            ["eval", "sycophancy", "--model", "smollm2-135m+/no/such/adapter"],
            "adapter directory '/no/such/adapter' does not exist",
        ),
        (["eval", "sycophancy", "-T", "split=dev"], "unknown split 'dev'"),
        (["eval", "sycophancy", "-T", "splitdev"], "not of the form key=value"),
        (
            ["eval", "sycophancy", "-T", "colour=red"],
            "unknown task argument 'colour' for 'sycophancy'; valid arguments: split, n_claims, ",
        ),
        (
            ["eval", "sycophancy", "-T", "n_claims=2.5"],
            "task argument 'n_claims' for 'sycophancy' must be int, got 2.5 (float)",
        ),
        (
            ["eval", "sycophancy", "-T", "seed=abc"],
            "task argument 'seed' for 'sycophancy' must be int, got 'abc' (str)",
        ),
        (["eval", "mwe"], "missing task argument 'path' for 'mwe'"),
        (["train", "nosuch", "--out", "x"], "unknown method 'nosuch'; known methods: "),
        (
            ["train", "sft_control", "--out", "x", "-p", "colour=red"],
            "unknown parameter 'colour' for method 'sft_control'",
        ),
        (
            ["train", "sft_control", "--out", "x", "-p", "learning_rate=-1"],
            "bad training parameter 'learning_rate'",
        ),
        (
            ["train", "sft_control", "--out", "x", "--base", "openai/gpt-4o-mini"],
            "cannot train 'openai/gpt-4o-mini': it is an API model",
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_type_error_inside_a_task_is_a_bug() -> None:
    from inspect_ai.scorer import accuracy

    @eval_task(metrics=[accuracy])
    def toy_type_error(n: int = 1) -> Any:
        raise TypeError("a bug inside the task")

    try:
        with pytest.raises(TypeError, match="a bug inside the task"):
            _resolve_task("toy_type_error", {"n": 2})
        with pytest.raises(AlignlabError, match="must be int"):
            _resolve_task("toy_type_error", {"n": "two"})
    finally:
        unregister("toy_type_error")


@pytest.mark.parametrize("command", ["methods", "evals", "models"])
def test_listing_names_whole_at_80_columns(command: str) -> None:
    result = _run(command, columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    if command == "methods":
        from alignlab.methods import registered_methods

        names = list(registered_methods())
    elif command == "evals":
        names = list(registered_evals())
    else:
        from alignlab.models import EMBEDDED_MODELS

        names = list(EMBEDDED_MODELS)
    for name in names:
        assert any(re.match(rf"│ {re.escape(name)} +│", line) for line in lines), name
    assert "…" not in result.stdout


def test_listings_as_json() -> None:
    from alignlab.methods import TrainingConfig, registered_methods
    from alignlab.models import EMBEDDED_MODELS

    outputs = {}
    for command in ("models", "evals", "methods"):
        result = runner.invoke(app, [command, "--json"])
        assert result.exit_code == 0, result.output
        outputs[command] = json.loads(result.stdout)
    assert outputs["models"]["device"] in ("cpu", "cuda:0") or outputs["models"][
        "device"
    ].startswith("cuda")
    models = outputs["models"]["models"]
    assert [m["name"] for m in models] == list(EMBEDDED_MODELS)
    assert {"name", "licence", "provenance", "size_bytes", "installed", "converted"} <= set(
        models[0]
    )
    evals = registered_evals()
    assert [e["name"] for e in outputs["evals"]] == list(evals)
    for entry in outputs["evals"]:
        info = evals[entry["name"]]
        assert entry["metrics"] == list(info.metrics)
        assert entry["splits"] == list(info.splits)
        assert entry["external_data"] == info.external_data
        assert set(entry) == {
            "name",
            "description",
            "metrics",
            "variant_metrics",
            "splits",
            "formats",
            "external_data",
        }
    methods = outputs["methods"]
    assert [m["name"] for m in methods["methods"]] == list(registered_methods())
    for entry in methods["methods"]:
        config = registered_methods()[entry["name"]].config
        assert [p["name"] for p in entry["parameters"]] == list(config.model_fields)
        assert set(entry) == {
            "name",
            "kind",
            "source",
            "description",
            "parameters",
            "training_defaults",
        }
        assert entry["training_defaults"] == dict(
            registered_methods()[entry["name"]].training_defaults
        )
    assert methods["methods"][[m["name"] for m in methods["methods"]].index("grpo")][
        "training_defaults"
    ] == {"learning_rate": 1e-3, "token_budget": 48_000}
    shared = methods["shared_parameters"]
    assert [p["name"] for p in shared] == list(TrainingConfig.model_fields)
    assert set(shared[0]) == {"name", "type", "default", "required", "description"}


def test_mwe_evaluates_a_users_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [
        {
            "question": f'Is the following something you would say?\n"Statement {i}"',
            "answer_matching_behavior": " Yes",
            "answer_not_matching_behavior": " No",
        }
        for i in range(7)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = ["eval", "mwe", "-T", f"path={path}", "--model", "random/uniform"]
    args += ["--log-dir", str(tmp_path / "logs"), "--display", "none"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"mwe: evaluating all 7 items of {path} (split=all;" in result.output
    from inspect_ai.log import read_eval_log

    [log_path] = list((tmp_path / "logs").glob("*.eval"))
    log = read_eval_log(str(log_path))
    assert log.samples is not None and len(log.samples) == 7


def test_malformed_jsonl_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(
        {"question": "Q", "answer_matching_behavior": "Yes", "answer_not_matching_behavior": "No"}
    )
    bad.write_text(good + "\n{not json\n")
    result = _run("eval", "mwe", "-T", f"path={bad}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}:2: invalid JSON" in result.stderr


def test_skipped_lines_warn_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(
        {"question": "Q", "answer_matching_behavior": "Yes", "answer_not_matching_behavior": "No"}
    )
    bad.write_text(good + "\n{not json\n")
    args = ["-T", f"path={bad}", "-T", "on_error=skip", "--model", "random/uniform"]
    result = _run("eval", "mwe", *args, "--log-dir", str(tmp_path), "--display", "none")
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning_lines == [f"warning: {bad}: skipped 1 malformed line(s): 2"]
    assert "load_mwe(" not in result.stderr  # no source line echoed


def test_eval_table_has_bootstrap_intervals(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = _eval_in_process(str(tiny_model_dir), tmp_path, 30)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "sycophancy_rate" in line]
    # the claims family has two item kinds, so the table has a family column: "all" first
    assert len(rows) == 3 and "all" in rows[0] and "addition" in result.output
    for row in rows:
        low, high = (float(x) for x in row.split("[")[1].split("]")[0].split(","))
        value = float(row.split("│")[3])
        assert low <= value <= high


def test_corrupt_weights_one_line(tiny_model_copy: Path) -> None:
    for weights in tiny_model_copy.glob("*.safetensors"):
        weights.write_bytes(b"garbage")
    result = _run("eval", "sycophancy", "--model", str(tiny_model_copy))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "missing or corrupt weights" in result.stderr


def test_eval_tiny_model_writes_eval_log(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = _eval_in_process(str(tiny_model_dir), tmp_path, 6)
    assert result.exit_code == 0, result.output
    assert "sycophancy_rate" in result.output
    logs = list(tmp_path.glob("*.eval"))
    assert len(logs) == 1
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(logs[0]))
    assert log.status == "success" and log.eval.model == f"alignlab/{tiny_model_dir}"


@pytest.mark.integration
def test_real_model_eval_fully_offline(
    smollm2_dir: Path, tmp_path: Path, no_network: list[object]
) -> None:
    """The whole `alignlab eval` run with every non-loopback connection raising."""
    result = _eval_in_process("smollm2-135m", tmp_path, 12)
    assert result.exit_code == 0, result.output
    assert no_network == []
    from inspect_ai.log import read_eval_log

    [log_path] = list(tmp_path.glob("*.eval"))
    log = read_eval_log(str(log_path))
    assert log.results is not None and log.samples is not None
    assert len(log.samples) == 12
    assert all(s.output.usage is not None for s in log.samples)
