"""Every CLI command given bad input: exit code 2 and one line on stderr (issue: reliability).

A hostile-user pass found usage errors and OS errors ending in tracebacks, and a
missing API SDK ending in exit 1 with the message on stdout (or nothing at all).
Each case here runs the real ``alignlab`` executable, as a user would.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from alignlab._errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
)
from tests.test_cli import ALIGNLAB, _run

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """A command line with ``{tmp}``/``{file}``/``{task_file}``/``{tiny}`` placeholders."""

    args: tuple[str, ...]
    message: str
    """Expected inside the one stderr line."""
    env: tuple[tuple[str, str], ...] = ()


CASES: dict[str, Case] = {
    # usage errors (typer's vendored click exceptions)
    "unknown command": Case(("nosuch",), "No such command 'nosuch'"),
    "help is not a command": Case(("help",), "No such command 'help'"),
    "unknown option (eval)": Case(("eval", "sycophancy", "--nosuch"), "No such option: --nosuch"),
    "unknown option (models)": Case(("models", "--nosuch"), "No such option: --nosuch"),
    "unknown option (train)": Case(
        ("train", "sft_control", "--out", "{tmp}/out", "--nosuch"), "No such option: --nosuch"
    ),
    "extra argument (evals)": Case(("evals", "extra"), "unexpected extra argument"),
    "extra argument (methods)": Case(("methods", "extra"), "unexpected extra argument"),
    "limit 0": Case(("eval", "sycophancy", "--limit", "0"), "Invalid value for '--limit'"),
    "limit negative": Case(("eval", "sycophancy", "--limit", "-3"), "Invalid value for '--limit'"),
    "limit abc": Case(("eval", "sycophancy", "--limit", "abc"), "Invalid value for '--limit'"),
    "seed abc": Case(("eval", "sycophancy", "--seed", "abc"), "Invalid value for '--seed'"),
    "eval without task": Case(("eval",), "Missing argument"),
    "train without --out": Case(("train", "sft_control"), "Missing option '--out'"),
    "--out without value": Case(("train", "sft_control", "--out"), "requires an argument"),
    # alignlab's own checks
    "redteam unknown attack": Case(
        ("redteam", "say_do", "--attack", "nope"), "unknown attack 'nope'; known attacks: "
    ),
    "redteam unknown eval": Case(("redteam", "nosuch"), "unknown eval 'nosuch'"),
    "redteam bad split": Case(
        ("redteam", "say_do", "--model", "random/uniform", "--split", "dev", "--out", "{tmp}/o"),
        "eval 'say_do' has no split 'dev'",
    ),
    "train_on_public without its flag": Case(
        ("train", "train_on_public", "--out", "{tmp}/out", "-p", "eval_name=sycophancy"),
        "set i_know_this_contaminates=true to do it knowingly",
    ),
    "redteam option for an attack without options": Case(
        ("redteam", "say_do", "--attack", "paraphrase", "-A", "adapter=x"),
        "attack 'paraphrase' takes no options",
    ),
    "contamination unknown eval": Case(
        ("contamination", "nosuch", "--model", "x"), "unknown eval 'nosuch'"
    ),
    "redteam organism on an API model": Case(
        (
            *("redteam", "sycophancy", "--model", "random/uniform", "--attack"),
            *("eval_cue_organism", "-A", "adapter={tmp}", "--out", "{tmp}/o"),
            *("--log-dir", "{tmp}/logs"),
        ),
        "eval_cue_organism needs a local base model without an adapter as --model, "
        "not 'random/uniform'",
    ),
    "redteam organism adapter missing": Case(
        ("redteam", "sycophancy", "--attack", "eval_cue_organism", "-A", "adapter={tmp}/nope"),
        "attack 'eval_cue_organism' option 'adapter': adapter directory '{tmp}/nope' does not "
        "exist (set it with -A adapter=...)",
    ),
    "redteam option for several attacks": Case(
        ("redteam", "sycophancy", "-A", "adapter={tmp}"),
        "-A options go to one attack, but eval_cue_organism, train_on_public all take options; "
        "name one with --attack",
    ),
    "harden unknown hardening": Case(
        ("harden", "say_do", "--hardening", "nope"),
        "unknown hardening 'nope'; known hardenings: paraphrase_ensemble, position_debias, "
        "position_debias_per_condition, prefix_invariant, refusal_controls",
    ),
    "harden hardening that does not apply": Case(
        ("harden", "cot_faithfulness", "--hardening", "position_debias"),
        "hardening 'position_debias' does not apply to eval 'cot_faithfulness': its prompts",
    ),
    "harden without --hardening": Case(("harden", "say_do"), "Missing option '--hardening'"),
    "harden unknown attack": Case(
        ("harden", "say_do", "--hardening", "position_debias", "--attack", "nope"),
        "unknown attack 'nope'; known attacks: ",
    ),
    "probe unknown eval": Case(
        ("probe", "eval-awareness", "--eval", "nosuch"), "unknown eval 'nosuch'; known evals: "
    ),
    "probe eval without formats": Case(
        ("probe", "eval-awareness", "--eval", "mwe"), "eval 'mwe' reads a user's file"
    ),
    "probe layer out of range": Case(
        (
            "probe",
            "eval-awareness",
            "--model",
            "{tiny}",
            "--limit",
            "2",
            "--layer",
            "7",
            "--out",
            "{tmp}/probe.json",
        ),
        "layer 7 is out of range: the model has 2 decoder layers (0-1)",
    ),
    "probe API model": Case(
        ("probe", "eval-awareness", "--model", "openai/gpt-4o-mini", "--out", "{tmp}/p.json"),
        "'openai/gpt-4o-mini' is not a local model",
    ),
    "probe limit 0": Case(
        ("probe", "eval-awareness", "--limit", "0"), "Invalid value for '--limit'"
    ),
    "-T without =": Case(("eval", "sycophancy", "-T", "n_claims"), "not of the form key=value"),
    "-T bad YAML": Case(("eval", "sycophancy", "-T", "n_claims=[1"), "cannot read '[1'"),
    "-T n_claims=2.5": Case(("eval", "sycophancy", "-T", "n_claims=2.5"), "must be int"),
    "-T seed=abc": Case(("eval", "sycophancy", "-T", "seed=abc"), "must be int"),
    "unknown task": Case(("eval", "nosuch-task"), "unknown task 'nosuch-task'"),
    "empty task": Case(("eval", ""), "unknown task ''"),
    "unknown method": Case(("train", "nosuch", "--out", "{tmp}/out"), "unknown method 'nosuch'"),
    "unknown model spec": Case(("eval", "sycophancy", "--model", "nosuch"), "unknown model spec"),
    "bad training value": Case(
        ("train", "sft_control", "--out", "{tmp}/out", "-p", "epochs=0"),
        "bad training parameter 'epochs'",
    ),
    "unknown display": Case(("eval", "sycophancy", "--display", "bogus"), "unknown --display"),
    # task files
    "missing FILE.py@task": Case(
        ("eval", "{tmp}/nosuch.py@task", "--model", "random/uniform"),
        "task file '{tmp}/nosuch.py' does not exist",
    ),
    "missing task in a file": Case(
        ("eval", "{task_file}@nosuch", "--model", "random/uniform", "--log-dir", "{tmp}/logs"),
        "Task named 'nosuch' not found",
    ),
    "task file not Python": Case(
        ("eval", "{file}", "--model", "random/uniform"), "is not a Python file"
    ),
    # paths that cannot be written (root ignores permissions: a regular file is in the way)
    "log dir is a file": Case(
        ("eval", "sycophancy", "--model", "random/uniform", "--log-dir", "{file}"),
        "cannot write {file} (--log-dir): it is a file, not a directory",
    ),
    "log dir under a file": Case(
        ("eval", "sycophancy", "--model", "random/uniform", "--log-dir", "{file}/logs"),
        "cannot write {file}/logs (--log-dir): Not a directory",
    ),
    "out under a file": Case(
        ("train", "sft_control", "--base", "{tiny}", "--out", "{file}/out"),
        "cannot write {file} (the directory of --out): it is a file, not a directory",
    ),
    "cache under a file": Case(
        ("eval", "sycophancy", "--model", "smollm2-135m", "--log-dir", "{tmp}/logs"),
        "(alignlab's cache {file}/cache: set ALIGNLAB_CACHE to a writable directory)",
        env=(("ALIGNLAB_CACHE", "{file}/cache"),),
    ),
    "bad ALIGNLAB_DEVICE (models)": Case(
        ("models",),
        "ALIGNLAB_DEVICE='tpu' is not a device alignlab uses; choose one of auto, cpu, cuda",
        env=(("ALIGNLAB_DEVICE", "tpu"),),
    ),
    "bad ALIGNLAB_DEVICE (train)": Case(
        ("train", "sft_control", "--base", "{tiny}", "--out", "{tmp}/out"),
        "ALIGNLAB_DEVICE='gpu' is not a device alignlab uses",
        env=(("ALIGNLAB_DEVICE", "gpu"),),
    ),
    "lora_targets not in the model": Case(
        (
            "train",
            "sft_control",
            "--base",
            "{tiny}",
            "--out",
            "{tmp}/out",
            "-p",
            "lora_targets=[nosuch]",
        ),
        "bad lora_targets ['nosuch']: Target modules {'nosuch'} not found",
    ),
    # an API model without its SDK: no request is made, the install line is given
    "openai model without the openai package": Case(
        ("eval", "sycophancy", "--model", "openai/gpt-4o-mini", "--display", "none"),
        "model 'openai/gpt-4o-mini' needs the 'openai' package: pip install 'alignlab[api]'",
    ),
}
NEEDS_TINY = {
    "out under a file",
    "lora_targets not in the model",
    "bad ALIGNLAB_DEVICE (train)",
    "probe layer out of range",
}
SDK_FOR = {"openai model without the openai package": "openai"}


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.fixture()
def placeholders(tmp_path: Path) -> dict[str, str]:
    regular_file = tmp_path / "a-file"
    regular_file.write_text("not a directory\n")
    task_file = tmp_path / "tasks.py"
    task_file.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import Sample\n\n\n"
        "@task\n"
        "def mine():\n"
        "    return Task(dataset=[Sample(input='hi', target='hi')])\n"
    )
    return {"tmp": str(tmp_path), "file": str(regular_file), "task_file": str(task_file)}


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_in_one_line(
    name: str, placeholders: dict[str, str], request: pytest.FixtureRequest
) -> None:
    case = CASES[name]
    if name in SDK_FOR and importlib.util.find_spec(SDK_FOR[name]) is not None:
        pytest.skip(f"the '{SDK_FOR[name]}' package is installed")
    if name in NEEDS_TINY:
        placeholders["tiny"] = str(request.getfixturevalue("tiny_model_dir"))
    args = [_fill(arg, placeholders) for arg in case.args]
    env = {**os.environ, **{key: _fill(value, placeholders) for key, value in case.env}}
    result = subprocess.run([ALIGNLAB, *args], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = _stderr_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert _fill(case.message, placeholders) in lines[0]
    assert result.stdout == ""
    if name == "out under a file":
        assert Path(placeholders["file"]).read_text() == "not a directory\n"


def test_bare_command_shows_help_and_exits_2() -> None:
    result = _run()
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert "Usage" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        *("models", "evals", "methods", "eval", "train", "redteam", "harden"),
        *("contamination", "probe", "probe eval-awareness"),
    ],
)
def test_help_of_every_command_exits_0(command: str) -> None:
    result = _run(*command.split(), "--help")
    assert result.returncode == EXIT_OK, result.stderr
    assert "Usage" in result.stdout and result.stderr == ""


def test_failed_run_exits_1_in_one_line(tiny_model_copy: Path, tmp_path: Path) -> None:
    """NaN weights: choice scoring raises instead of picking option A, the eval fails."""
    from safetensors.torch import load_file, save_file

    for weights in tiny_model_copy.glob("*.safetensors"):
        tensors = load_file(str(weights))
        for key in tensors:
            if "layers.1.mlp.down_proj" in key:
                tensors[key].fill_(float("nan"))
        save_file(tensors, str(weights), metadata={"format": "pt"})
    args = ["eval", "sycophancy", "--model", str(tiny_model_copy), "--limit", "4"]
    result = _run(*args, "--log-dir", str(tmp_path), "--display", "none")
    assert result.returncode == EXIT_FAILED, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in _stderr_lines(result.stderr) if not line.startswith("warning:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: eval of 'sycophancy' failed: model produced non-finite")
    from inspect_ai.log import read_eval_log

    [log_path] = tmp_path.glob("*.eval")
    assert read_eval_log(str(log_path), header_only=True).status == "error"


def test_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT) == (0, 1, 2)
    assert (EXIT_INTERRUPTED, EXIT_TERMINATED) == (130, 143)


def test_api_extra_lists_the_sdks_the_cli_names() -> None:
    from alignlab.cli import API_EXTRA_PACKAGES

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [
        requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        for requirement in project["optional-dependencies"]["api"]
    ]
    assert sorted(names) == sorted(API_EXTRA_PACKAGES)


def test_inspect_prerequisite_errors_read_as_one_line() -> None:
    from inspect_ai._util.error import PrerequisiteError, pip_dependency_error
    from inspect_ai.model._providers.util.util import environment_prerequisite_error

    from alignlab.cli import _prerequisite_line

    assert _prerequisite_line(pip_dependency_error("Anthropic API", ["anthropic"]), "m") == (
        "model 'm' needs the 'anthropic' package: pip install 'alignlab[api]'"
    )
    assert _prerequisite_line(pip_dependency_error("Groq API", ["groq"]), "groq/x") == (
        "model 'groq/x' needs the 'groq' package: pip install groq"
    )
    key = _prerequisite_line(environment_prerequisite_error("OpenAI", "OPENAI_API_KEY"), "m")
    assert "\n" not in key and "OPENAI_API_KEY" in key and "[" not in key
    assert _prerequisite_line(PrerequisiteError("[unclosed markup"), "m") == "[unclosed markup"
