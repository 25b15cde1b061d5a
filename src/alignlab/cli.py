"""The ``alignlab`` command line: thin typer commands over the packages.

Every failure is one line on stderr and an exit code (see :mod:`alignlab._errors`):

- 0: success;
- 1: a run started but failed (an eval whose log status is ``error``);
- 2: bad input: a usage error (unknown command or option, a bad or missing
  value), an :class:`~alignlab.AlignlabError`, a missing optional dependency,
  a path that cannot be written;
- 130: interrupted (SIGINT, Ctrl-C); 143: terminated (SIGTERM).  Both unwind
  normally, so scratch directories are removed and an eval's log is marked
  ``cancelled``.

Anything else is a bug and keeps its traceback.

Listing commands (``models``, ``evals``, ``methods``) print a table whose name
column is never truncated (the other columns wrap), or with ``--json`` a JSON
document on stdout with no markup:

- ``models --json``: a list of ``{name, description, available_offline,
  converted_cached}``, one per embedded model.
- ``evals --json``: a list of ``{name, description, metrics, variant_metrics,
  splits, formats, external_data}``, one per built-in eval.
- ``methods --json``: ``{methods, shared_parameters}``; ``methods`` is a list
  of ``{name, kind, source, description, parameters}``, and every parameter
  list holds ``{name, type, default, required, description}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alignlab._errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    AlignlabError,
    RunFailed,
)

app = typer.Typer(
    name="alignlab",
    help="A workbench for empirical alignment research on language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (no markup) instead of a table.")
]


def _print_json(data: Any) -> None:
    # plain stdout: no rich markup, highlighting or wrapping to corrupt the document
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _name_column(table: Table, names: list[str]) -> None:
    # never truncated: rich shrinks and wraps the other columns instead
    table.add_column("name", no_wrap=True, min_width=max(map(len, names), default=4))


def _quiet_transformers() -> None:
    # transformers' per-tensor loading bars would bury our own progress display
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def _device_line() -> str:
    # the device models load and train on, as alignlab.models decides it (ALIGNLAB_DEVICE)
    from alignlab.models import device_summary

    return device_summary()


def _short_count(value: float, units: tuple[str, ...]) -> str:
    for unit in units[:-1]:
        if value < 1000:
            return f"{value:.0f}{unit}"
        value /= 1000
    return f"{value:.1f}{units[-1]}"


@app.command()
def models(as_json: JsonOption = False) -> None:
    """List the named models (size, licence, provenance, installed?) and the device."""
    from alignlab.models import cache_dir, model_catalogue

    entries = model_catalogue()
    device = _device_line()
    if as_json:
        _print_json(
            {"device": device, "cache": str(cache_dir()), "models": [e.as_dict() for e in entries]}
        )
        return
    table = Table(title="Named models")
    _name_column(table, [e.name for e in entries])
    for column in ("params", "GGUF", "licence", "installed", "converted"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(
            entry.name,
            _short_count(entry.parameters, ("", "K", "M", "B")),
            _short_count(entry.size_bytes, (" B", " kB", " MB", " GB")),
            entry.licence,
            "[green]yes[/green]" if entry.installed else "[red]no[/red]",
            "yes" if entry.converted else "no (first load converts)",
        )
    console.print(table)
    for entry in entries:
        console.print(
            f"{entry.name}: {entry.description}. {entry.provenance}", highlight=False, markup=False
        )
        scoring = f"{entry.name}: lettered questions answered by {entry.choice_scoring}"
        if entry.choice_scoring_evidence:
            scoring += f" (measured: {entry.choice_scoring_evidence})"
        console.print(scoring, highlight=False, markup=False)
        if not entry.installed:
            console.print(
                f"{entry.name}: not installed; {entry.install_hint}", highlight=False, markup=False
            )
    console.print(
        "Other specs: a local GGUF file 'path/to/model.gguf' (converted once); a local HF model "
        "directory; a hub id 'org/name' (needs the hub or its cache); 'BASE+ADAPTER_DIR' (a "
        "PEFT LoRA adapter on a local base); an Inspect model string such as "
        "'openai/gpt-4o-mini' (eval only; pip install 'alignlab[api]').",
        highlight=False,
        markup=False,
    )
    console.print(f"Device: {device}   Cache: {cache_dir()}", highlight=False)


def _parse_task_args(pairs: list[str]) -> dict[str, Any]:
    import yaml

    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AlignlabError(f"task argument '{pair}' is not of the form key=value")
        try:
            args[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise AlignlabError(f"argument '{key}': cannot read '{value}': {problem}") from None
    return args


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_writable_dir(path: Path, option: str) -> None:
    """Create ``path`` if needed and make sure a file can be written in it, up front.

    Raises:
        AlignlabError: Naming the path and the reason (a file in the way, no
            permission, a read-only or full file system).
    """
    if path.exists() and not path.is_dir():
        raise AlignlabError(f"cannot write {path} ({option}): it is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise AlignlabError(f"cannot write {path} ({option}): {exc.strerror or exc}") from None


def _inspect_model(spec_text: str) -> str:
    """The Inspect model string for a spec, loading local weights now for clear errors."""
    from rich.status import Status

    from alignlab.models import load_model, parse_spec

    spec = parse_spec(spec_text)
    if not spec.is_local:
        return spec.raw
    _quiet_transformers()
    with Status(f"Loading {spec.raw} ...", console=err_console):
        load_model(spec.raw)
    return f"alignlab/{spec.raw}"


API_EXTRA_PACKAGES = ("openai", "anthropic", "google-genai")
"""The SDKs in the ``alignlab[api]`` extra (pyproject.toml), for Inspect's API providers."""


def _prerequisite_line(exc: Exception, model: str) -> str:
    """One line for Inspect's ``PrerequisiteError`` (rich markup, several lines)."""
    raw = str(getattr(exc, "message", exc))
    try:
        plain = Text.from_markup(raw).plain
    except Exception:  # markup that does not parse: show it as it is
        plain = raw
    text = ""
    for line in filter(None, (_one_line(line) for line in plain.splitlines())):
        text += line if not text else (" " if text.endswith((":", ".")) else "; ") + line
    text = re.sub(r"^error:\s*", "", text, flags=re.IGNORECASE)
    install = re.search(r"requires optional dependencies\. Install with: pip install (.+)$", text)
    if install is None:
        return text
    packages = install.group(1).split()
    names = ", ".join(f"'{package}'" for package in packages)
    noun = "package" if len(packages) == 1 else "packages"
    if all(package in API_EXTRA_PACKAGES for package in packages):
        command = "pip install 'alignlab[api]'"
    else:
        command = f"pip install {' '.join(packages)}"
    return f"model '{model}' needs the {names} {noun}: {command}"


def _check_provider(model: str) -> None:
    """Fail now, before any task is built or request sent, if the provider's SDK is missing.

    Inspect registers each provider as a wrapper around a factory that checks its
    SDK (raising ``PrerequisiteError``) and returns the model class; calling the
    factory alone checks without creating a model.  Where the registry looks
    different (another Inspect version), the check is left to Inspect's own call.
    """
    import inspect

    import inspect_ai.model  # noqa: F401  (registers Inspect's providers)
    from inspect_ai._util.error import PrerequisiteError
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    provider = model.split("/", 1)[0]
    found = registry_find(
        lambda info: info.type == "modelapi" and registry_unqualified_name(info) == provider
    )
    if not found or not callable(found[0]):
        return
    try:
        factory = inspect.getclosurevars(found[0]).nonlocals.get("wrapped")
    except TypeError:  # not a Python function
        return
    if factory is None or isinstance(factory, type) or not callable(factory):
        return
    try:
        factory()
    except PrerequisiteError as exc:
        raise AlignlabError(_prerequisite_line(exc, model)) from None


def _resolve_task(name: str, task_args: dict[str, Any]) -> Any:
    from alignlab.evals import check_task_args, registered_evals

    evals = registered_evals()
    if name in evals:
        # arguments are checked against the signature first, so a TypeError from
        # inside the factory is a bug with its traceback, not a "bad argument"
        return evals[name].factory(**check_task_args(evals[name], task_args))
    if "@" in name or name.endswith(".py") or "/" in name:
        return _task_reference(name)  # an Inspect task reference; Inspect resolves it
    known = ", ".join(evals)
    raise AlignlabError(f"unknown task '{name}'; built-in tasks: {known} (or FILE.py@task)")


TASK_FILE_SUFFIXES = (".py", ".ipynb")
"""Files that Inspect loads tasks from (``FILE.py@task``)."""


def _task_reference(name: str) -> str:
    """Check that a ``FILE.py[@task]`` or directory reference exists; registry names pass."""
    file, at, _ = name.partition("@")
    path = Path(file)
    looks_like_path = file.endswith((*TASK_FILE_SUFFIXES, "/")) or file.startswith(("/", "."))
    if not path.exists():
        if looks_like_path:
            raise AlignlabError(f"task file '{file}' does not exist")
        return name  # a registry name such as 'package/task'
    if path.is_dir():
        if at:
            raise AlignlabError(f"'{file}' is a directory, not a task file (FILE.py@task)")
    elif not file.endswith(TASK_FILE_SUFFIXES):
        raise AlignlabError(f"task file '{file}' is not a Python file (.py)")
    if not at and path.is_absolute():
        # Inspect globs a reference without '@' from the working directory, which
        # fails on an absolute path; the relative path names the same file
        return os.path.relpath(path)
    return name


@app.command("evals")
def evals_command(as_json: JsonOption = False) -> None:
    """List the built-in evals with their metrics, splits and formats."""
    from alignlab.evals import registered_evals

    evals = registered_evals()
    if as_json:
        _print_json(
            [
                {
                    "name": info.name,
                    "description": info.description,
                    "metrics": list(info.metrics),
                    "variant_metrics": {k: list(v) for k, v in info.variant_metrics.items()},
                    "splits": list(info.splits),
                    "formats": list(info.formats),
                    "external_data": info.external_data,
                }
                for info in evals.values()
            ]
        )
        return
    # two columns, so metric names wrap between names (not inside one) at 80 columns
    table = Table(
        title="Built-in evals (alignlab eval NAME, or inspect eval alignlab/NAME)",
        show_lines=True,
    )
    _name_column(table, list(evals))
    table.add_column("description / metrics / splits / formats", overflow="fold")
    for info in evals.values():
        details = Text.assemble(
            info.description,
            ("\nmetrics: ", "bold"),
            ", ".join(info.metrics),
            ("\nsplits: ", "bold"),
            ", ".join(info.splits),
            ("\nformats: ", "bold"),
            ", ".join(info.formats),
        )
        table.add_row(info.name, details)
    console.print(table)


FAMILY_KEY = "family"
"""Sample metadata key whose values get a results table each when a log has several."""

ANSWERING_MODE_NOTES = {
    "letter": "the option letter's log-likelihood",
    "content": "each option's text, log-likelihood per token",
    "content_both_orders": "option text under both option orders",
    "generate": "generated reply, letter or reply parsed",
}


def _results_table(log: Any, task_obj: Any) -> Table:
    from alignlab.analysis import log_metric_estimates, log_metric_estimates_by

    by_family = log_metric_estimates_by(log, FAMILY_KEY)
    table = Table(title=f"{log.eval.task} on {log.eval.model} ({log.status})")
    if len(by_family) > 1:
        table.add_column("family")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI (bootstrap)", justify="right")
    table.add_column("n", justify="right")
    groups = {"all": log_metric_estimates(log)}
    if len(by_family) > 1:
        groups |= by_family
    for group, estimates in groups.items():
        for name, (estimate, n) in estimates.items():
            interval = "-"
            if name != "stderr" and estimate.ci_low == estimate.ci_low:  # NaN bounds print "-"
                interval = f"[{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"
            row = [name, f"{estimate.value:.3f}", interval, str(n)]
            table.add_row(*([group, *row] if len(by_family) > 1 else row))
    return table


def _answering_line(log: Any) -> str | None:
    """Which answering modes produced the log's answers, e.g. ``answers: content (...) 90``."""
    from alignlab.analysis import answering_modes

    modes = answering_modes(log)
    if not modes:
        return None
    parts = [f"{mode} ({ANSWERING_MODE_NOTES.get(mode, mode)}) {n}" for mode, n in modes.items()]
    return "answers scored by: " + "; ".join(parts)


UNWRITABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
"""Errors that mean a file cannot be written there: bad input (exit 2), not a failed run."""


@contextlib.contextmanager
def _patient_interrupts() -> Iterator[None]:
    """While Inspect runs: a second Ctrl-C waits for the cancelled eval to finish.

    asyncio's runner turns the first Ctrl-C into a cancellation of the run:
    Inspect marks the log ``cancelled`` and returns, within seconds.  It raises
    ``KeyboardInterrupt`` on the next Ctrl-C, in the middle of Inspect's
    cleanup, which leaves the log ``started`` and can hang Inspect's shutdown
    on a shielded wait (seen with inspect-ai 0.3.285).  So the second one only
    says that the run is stopping; a third aborts as before.  asyncio has no
    public hook for this: ``Runner._on_sigint`` (Python 3.11-3.13) is wrapped
    for the duration of the block, and left alone where it does not exist.
    """
    runner = getattr(asyncio, "Runner", None)
    original = getattr(runner, "_on_sigint", None)
    if runner is None or original is None:
        yield
        return

    def on_sigint(self: Any, signum: int, frame: FrameType | None, main_task: Any) -> None:
        if getattr(self, "_interrupt_count", 0) == 1 and not main_task.done():
            self._interrupt_count = 2
            err_console.print(
                "stopping: the eval log is being marked cancelled (Ctrl-C again to abort)",
                highlight=False,
            )
            return
        original(self, signum, frame, main_task)

    runner._on_sigint = on_sigint
    try:
        yield
    finally:
        runner._on_sigint = original


def _maybe(value: float | None, spec: str = ".3f") -> str:
    """A number for a table, ``-`` where it is undefined."""
    return "-" if value is None else format(value, spec)


# the options redteam and harden share (each names its own default value)
EvalArgument = Annotated[str, typer.Argument(help="Built-in eval name.", metavar="EVAL")]
AttackModelOption = Annotated[str, typer.Option(help="Model spec (see `alignlab models`).")]
AttackNameOption = Annotated[
    list[str] | None,
    typer.Option("--attack", help="Attack name (repeatable; default: every attack)."),
]
AttackSplitOption = Annotated[
    list[str] | None, typer.Option("--split", help="Split (repeatable; default test, heldout).")
]
AttackLimitOption = Annotated[
    int | None, typer.Option(min=1, help="Score only the first N samples per split.")
]
TaskArgOption = Annotated[
    list[str] | None, typer.Option("-T", "--task-arg", help="Task argument key=value.")
]
AttackOutOption = Annotated[Path, typer.Option(help="Directory for the JSON reports.")]
AttackLogDirOption = Annotated[Path, typer.Option(help="Where the .eval logs go.")]


@app.command("redteam")
def redteam_command(
    eval_name: EvalArgument,
    model: AttackModelOption = "smollm2-135m",
    attack: AttackNameOption = None,
    split: AttackSplitOption = None,
    limit: AttackLimitOption = None,
    task_arg: TaskArgOption = None,
    out: AttackOutOption = Path("runs/redteam"),
    log_dir: AttackLogDirOption = Path("logs/redteam"),
    attack_arg: Annotated[
        list[str] | None,
        typer.Option(
            "-A",
            "--attack-arg",
            help="Attack option key=value (e.g. adapter=DIR for train_on_public or "
            "eval_cue_organism; goes to the one attack that takes options).",
        ),
    ] = None,
) -> None:
    """Attack an eval: does each attack move its metrics without changing the model?"""
    from alignlab.attacks import (
        DEFAULT_SPLITS,
        check_attack_args,
        get_attack,
        registered_attacks,
        run_attack,
    )
    from alignlab.attacks import write_report as write_attack_report
    from alignlab.evals import get_eval

    get_eval(eval_name)  # unknown eval: one line before any work
    names = attack or list(registered_attacks())
    attack_args = _parse_task_args(attack_arg or [])
    taking = [name for name in names if get_attack(name).options is not None]
    if attack_args and len(taking) > 1:  # e.g. -A adapter=DIR means one attack's adapter
        raise AlignlabError(
            f"-A options go to one attack, but {', '.join(taking)} all take options; "
            "name one with --attack"
        )
    for name in names:
        info = get_attack(name)
        if attack_args and (attack or info.options is not None):
            check_attack_args(info, attack_args)  # bad options: one line before any work
    args = _parse_task_args(task_arg or [])
    _check_writable_dir(log_dir, "--log-dir")
    _check_writable_dir(out, "--out")
    with _remembered_interrupts():
        inspect_model = _inspect_model(model)
    _raise_if_interrupted()
    base_logs: dict[str, Any] = {}  # every attack compares with the same unattacked run
    for name in names:
        options = attack_args if get_attack(name).options is not None else {}
        report = run_attack(
            eval_name,
            inspect_model,
            name,
            splits=split or DEFAULT_SPLITS,
            limit=limit,
            task_args=args,
            log_dir=log_dir,
            base_logs=base_logs,
            attack_args=options,
        )
        path = out / f"{eval_name}-{name}.json"
        write_attack_report(report, path)
        if report.not_applicable:
            console.print(f"{name}: n/a: {report.not_applicable}", highlight=False, markup=False)
            continue
        for split_name, result in report.splits.items():
            table = Table(title=f"{name} on {eval_name}/{split_name} ({model})")
            table.add_column("variant")
            table.add_column("metric")
            table.add_column("model", justify="right")
            table.add_column("attacked", justify="right")
            table.add_column("effect [95% CI]", justify="right")
            table.add_column("as aligned?", justify="center")
            for variant, outcome in result.variants.items():
                for metric, effect in outcome.metrics.items():
                    mark = {True: "yes", False: "no", None: "-"}[effect.scores_as_aligned]
                    table.add_row(
                        variant,
                        metric,
                        _maybe(effect.base),
                        _maybe(effect.attacked),
                        f"{_maybe(effect.effect, '+.3f')} "
                        f"[{_maybe(effect.ci_low, '+.3f')}, {_maybe(effect.ci_high, '+.3f')}]",
                        mark,
                    )
            console.print(table)
            _print_diagnostics(result.diagnostics)
        _print_across_splits(report.across_splits)
        console.print(f"report: {path}", highlight=False)


def _print_across_splits(values: dict[str, float | None]) -> None:
    """An attack's numbers over every split (``train_on_public``: the overfitting gap)."""
    gaps = [k for k in values if k.startswith("gap_") and not k.endswith(("_ci_low", "_ci_high"))]
    for key in gaps:
        line = (
            f"overfitting gap (test gain - heldout gain) {key.removeprefix('gap_')}: "
            f"{_maybe(values[key], '+.3f')} [{_maybe(values.get(key + '_ci_low'), '+.3f')}, "
            f"{_maybe(values.get(key + '_ci_high'), '+.3f')}]"
        )
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _print_diagnostics(diagnostics: dict[str, float | None]) -> None:
    """An attack's own numbers for a split; RStd (answer_position) first, by its name."""
    rstd = {k: v for k, v in diagnostics.items() if k.startswith("rstd_")}
    if rstd:
        parts = [
            f"{k.removeprefix('rstd_').replace('_', ' ')} {_maybe(v)}" for k, v in rstd.items()
        ]
        line = "RStd (spread of per-position recall): " + ", ".join(parts)
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    by_format = {k: v for k, v in diagnostics.items() if k.split("/")[0] in FORMAT_EFFECT_KEYS}
    if by_format:
        _print_format_effects(by_format)
    others = {k: v for k, v in diagnostics.items() if k not in rstd and k not in by_format}
    if others:
        line = "diagnostics: " + ", ".join(f"{k} {_maybe(v)}" for k, v in others.items())
        console.print(line, highlight=False, markup=False, soft_wrap=True)


FORMAT_EFFECT_KEYS = ("effect", "ci_low", "ci_high")
"""Diagnostics ``KIND/METRIC/FORMAT`` (eval_cue_organism): printed as a table."""


def _print_format_effects(values: dict[str, float | None]) -> None:
    """Per-format metric effects with their intervals, one row per metric and format."""
    table = Table(title="effect per surface format")
    table.add_column("metric")
    table.add_column("format")
    table.add_column("effect [95% CI]", justify="right")
    for key, value in values.items():
        kind, _, rest = key.partition("/")
        if kind != "effect":
            continue
        metric, _, fmt = rest.rpartition("/")
        low, high = values.get(f"ci_low/{rest}"), values.get(f"ci_high/{rest}")
        table.add_row(
            metric,
            fmt,
            f"{_maybe(value, '+.3f')} [{_maybe(low, '+.3f')}, {_maybe(high, '+.3f')}]",
        )
    console.print(table)


def _effect_cell(effect: Any) -> str:
    """``+0.123 [+0.050, +0.200]`` for a metric effect (``-`` parts where undefined)."""
    if effect is None:
        return "-"
    return (
        f"{_maybe(effect.effect, '+.3f')} "
        f"[{_maybe(effect.ci_low, '+.3f')}, {_maybe(effect.ci_high, '+.3f')}]"
    )


@app.command("contamination")
def contamination_command(
    eval_name: EvalArgument,
    model: Annotated[str, typer.Option(help="Local model spec, e.g. BASE+ADAPTER_DIR.")],
    reference: Annotated[
        str | None,
        typer.Option(help="Spec to compare with (default: the model's base, if an adapter)."),
    ] = None,
    k: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Min-K% share of least likely tokens.")
    ] = 0.2,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Score only the first N items per split.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the result as JSON here.")] = None,
) -> None:
    """Min-K% prob contamination check: do the eval's test items score above its heldout items?"""
    from alignlab.attacks import contamination_check
    from alignlab.evals import get_eval
    from alignlab.files import atomic_write_text

    get_eval(eval_name)  # unknown eval: one line before any work
    if out is not None:
        _check_writable_dir(out.absolute().parent, "the directory of --out")
    _quiet_transformers()
    with _remembered_interrupts():
        result = contamination_check(eval_name, model, reference=reference, k=k, limit=limit)
    _raise_if_interrupted()
    for label, spec, value in (
        ("model", result.model, result.auroc),
        ("reference", result.reference, result.reference_auroc),
    ):
        if spec is None or value is None:
            continue
        console.print(
            f"{label} {spec}: Min-{result.k:.0%} AUROC test vs heldout {value[0]:.3f} "
            f"[{value[1]:.3f}, {value[2]:.3f}] ({result.n_members} test, "
            f"{result.n_non_members} heldout items)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if out is not None:
        atomic_write_text(out, result.model_dump_json(indent=2) + "\n")
        console.print(f"report: {out}", highlight=False)


@app.command("harden")
def harden_command(
    eval_name: EvalArgument,
    hardening: Annotated[
        str, typer.Option("--hardening", help="Hardening name (e.g. position_debias).")
    ],
    model: AttackModelOption = "smollm2-135m",
    attack: AttackNameOption = None,
    split: AttackSplitOption = None,
    limit: AttackLimitOption = None,
    task_arg: TaskArgOption = None,
    out: AttackOutOption = Path("runs/redteam"),
    log_dir: AttackLogDirOption = Path("logs/redteam"),
) -> None:
    """Attack an eval as it is and hardened: each metric's effect before vs after hardening."""
    from alignlab.attacks import (
        DEFAULT_SPLITS,
        get_attack,
        harden_eval,
        registered_attacks,
        run_attack,
    )
    from alignlab.attacks import write_report as write_attack_report
    from alignlab.evals import get_eval

    get_eval(eval_name)  # unknown eval: one line before any work
    names = attack or list(registered_attacks())
    for name in names:
        get_attack(name)
    args = _parse_task_args(task_arg or [])
    harden_eval(eval_name, hardening, args)  # unknown or inapplicable: one line, no work done
    _check_writable_dir(log_dir, "--log-dir")
    _check_writable_dir(out, "--out")
    with _remembered_interrupts():
        inspect_model = _inspect_model(model)
    _raise_if_interrupted()
    for name in names:
        reports = {
            label: run_attack(
                eval_name,
                inspect_model,
                name,
                splits=split or DEFAULT_SPLITS,
                limit=limit,
                task_args=args,
                log_dir=log_dir,
                hardening=used,
            )
            for label, used in (("as is", None), ("hardened", hardening))
        }
        before, after = reports["as is"], reports["hardened"]
        paths = (out / f"{eval_name}-{name}.json", out / f"{eval_name}-{name}-{hardening}.json")
        write_attack_report(before, paths[0])
        write_attack_report(after, paths[1])
        if before.not_applicable:
            console.print(f"{name}: n/a: {before.not_applicable}", highlight=False, markup=False)
            continue
        for split_name, raw in before.splits.items():
            hard = after.splits[split_name]
            table = Table(title=f"{name} on {eval_name}/{split_name} ({model}), {hardening}")
            table.add_column("variant")
            table.add_column("metric")
            table.add_column("effect as is [95% CI]", justify="right")
            table.add_column("effect hardened [95% CI]", justify="right")
            for variant, outcome in raw.variants.items():
                hardened_metrics = hard.variants[variant].metrics
                for metric, effect in outcome.metrics.items():
                    table.add_row(
                        variant,
                        metric,
                        _effect_cell(effect),
                        _effect_cell(hardened_metrics.get(metric)),
                    )
            console.print(table)
            for label, result in (("as is", raw), ("hardened", hard)):
                if result.diagnostics:
                    console.print(f"{label}:", highlight=False, markup=False)
                    _print_diagnostics(result.diagnostics)
        console.print(f"reports: {paths[0]} {paths[1]}", highlight=False)


probe_app = typer.Typer(
    name="probe",
    help="White-box measurements: linear probes on a local model's residual stream.",
    no_args_is_help=True,
)
app.add_typer(probe_app)


def _accuracy_cell(estimate: Any) -> str:
    return f"{estimate.accuracy:.2f} [{estimate.ci_low:.2f},{estimate.ci_high:.2f}]"


@probe_app.command("eval-awareness")
def probe_eval_awareness_command(
    model: Annotated[
        str, typer.Option(help="Local model spec (see `alignlab models`).")
    ] = "smollm2-135m",
    eval_name: Annotated[
        list[str] | None,
        typer.Option(
            "--eval", help="Eval whose items are rendered (repeatable; default sycophancy)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="Prompts per class (and eval) on each split.")
    ] = 40,
    layer: Annotated[
        list[int] | None,
        typer.Option("--layer", help="0-based decoder layer (repeatable; default every layer)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Eval generator and control permutation seed.")] = 0,
    out: Annotated[Path, typer.Option(help="The JSON report.")] = Path(
        "runs/probe/eval_awareness.json"
    ),
) -> None:
    """Probe each layer for eval-formatted vs deployment-formatted prompts (train -> heldout)."""
    from rich.status import Status

    from alignlab.attacks import (
        DEFAULT_PROBE_EVALS,
        check_probe_evals,
        eval_awareness_probe,
        write_probe_report,
    )

    evals = eval_name or list(DEFAULT_PROBE_EVALS)
    check_probe_evals(evals)  # unknown eval or one without the formats: one line, no work
    _check_writable_dir(out.parent, "--out")
    _quiet_transformers()
    with Status(f"Recording {model} on {', '.join(evals)} ...", console=err_console):
        report = eval_awareness_probe(model, evals, limit, layer, seed=seed)
    write_probe_report(report, out)
    console.print(
        f"{report.model}: {report.n_train} train prompts ({report.fit_split}), "
        f"{report.n_test} held-out ({report.test_split}); evaluation = "
        f"{', '.join(report.eval_formats)}, deployment = {', '.join(report.deployment_formats)}; "
        f"chance {report.chance:.2f}; {report.seconds:.0f} s",
        highlight=False,
        markup=False,
    )
    confidence = f"{report.confidence:.0%}"
    table = Table(
        title=f"held-out accuracy: probe [{confidence} CI]; controls: mean / best",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("layer", justify="right", no_wrap=True)
    for position in report.positions:
        table.add_column(f"probe {position}", justify="right", no_wrap=True)
        table.add_column("controls", justify="right", no_wrap=True)
    by_position = list(report.positions.values())
    for rows in zip(*by_position, strict=True):
        cells = [str(rows[0].layer)]
        for row in rows:
            control = row.control_heldout
            cells += [
                _accuracy_cell(row.heldout),
                f"{control.mean:.2f} / {control.high:.2f}",
            ]
        table.add_row(*cells)
    console.print(table)
    console.print(
        "last: the last prompt token (where the reply starts); mean: averaged over the prompt. "
        "Controls are probes fitted to shuffled labels: their mean is chance; a best control "
        "near 1 means the formats dominate the activations (any read-out splits them).",
        highlight=False,
        markup=False,
    )
    console.print(f"report: {out}", highlight=False)


@app.command("eval")
def eval_command(
    task: Annotated[str, typer.Argument(help="Built-in eval name, or an Inspect FILE.py@task.")],
    model: Annotated[
        str, typer.Option(help="Model spec (see `alignlab models`).")
    ] = "smollm2-135m",
    limit: Annotated[
        int | None, typer.Option(min=1, help="Evaluate only the first N samples.")
    ] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("-T", "--task-arg", help="Task argument key=value.")
    ] = None,
    log_dir: Annotated[Path, typer.Option(help="Where Inspect writes .eval logs.")] = Path("logs"),
    seed: Annotated[int, typer.Option(help="Seed for sampled decoding.")] = 0,
    display: Annotated[
        str, typer.Option(help="Inspect display: full, conversation, rich, plain, log or none.")
    ] = "rich",
) -> None:
    """Evaluate a model on a task; writes an Inspect .eval log and prints its metrics."""
    from typing import get_args

    from inspect_ai import eval as inspect_eval
    from inspect_ai._util.error import PrerequisiteError
    from inspect_ai.util import DisplayType

    from alignlab.evals.mwe import SPLIT_RULE_KEY
    from alignlab.models import DEFAULT_MAX_CONNECTIONS, parse_spec

    if display not in get_args(DisplayType):
        choices = ", ".join(get_args(DisplayType))
        raise AlignlabError(f"unknown --display '{display}'; choose one of: {choices}")
    if not parse_spec(model).is_local:
        _check_provider(model)  # a missing SDK fails before the task is built
    task_obj = _resolve_task(task, _parse_task_args(task_arg or []))
    split_rule = (getattr(task_obj, "metadata", None) or {}).get(SPLIT_RULE_KEY)
    if split_rule:  # which items of a user's file are evaluated (mwe)
        first = f" (--limit: the first {limit})" if limit is not None else ""
        line = f"{task}: {split_rule}{first}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    _check_writable_dir(log_dir, "--log-dir")
    with _remembered_interrupts():  # loading weights: a Ctrl-C is not lost in a finaliser
        inspect_model = _inspect_model(model)
    _raise_if_interrupted()
    max_connections = DEFAULT_MAX_CONNECTIONS if inspect_model.startswith("alignlab/") else None
    try:
        with _patient_interrupts():
            logs = inspect_eval(
                task_obj,
                model=inspect_model,
                limit=limit,
                log_dir=str(log_dir),
                seed=seed,
                max_connections=max_connections,
                display=display,  # type: ignore[arg-type]
                log_format="eval",
            )
    except PrerequisiteError as exc:  # a missing SDK or API key, a task not in its file
        raise AlignlabError(_prerequisite_line(exc, model)) from None
    if not logs or any(log.status == "cancelled" for log in logs):
        # Inspect absorbs Ctrl-C: it marks the log cancelled and returns what it has
        # (nothing), so the interrupt is reported here
        raise KeyboardInterrupt
    for log in logs:
        if log.status != "success":
            message = log.error.message if log.error else log.status
            lines = message.strip().splitlines() or [log.status]
            # Inspect records an exception as its repr: ValueError('why') reads as why
            reason = re.sub(r"""^\w+\((['"])(.*)\1\)$""", r"\2", lines[-1])
            os_error = re.match(r"""^\w*Error\((\d+), ['"](.*)['"]\)$""", lines[-1])
            if os_error and int(os_error[1]) in UNWRITABLE_ERRNOS:  # disk full, read-only
                raise AlignlabError(f"cannot write the eval log in {log_dir}: {os_error[2]}")
            where = f" (log: {log.location})" if Path(log.location).is_file() else ""
            raise RunFailed(f"eval of '{task}' failed: {reason}{where}")
        console.print(_results_table(log, task_obj))
        answering = _answering_line(log)
        if answering:
            console.print(answering, markup=False, highlight=False, soft_wrap=True)
        console.print(f"log: {log.location}  (open with `inspect view --log-dir {log_dir}`)")


def _field_type(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None)
    return name if name and "[" not in str(annotation) else str(annotation).replace("typing.", "")


def _parameters(config: Any) -> list[dict[str, Any]]:
    """A pydantic config class's fields as ``{name, type, default, required, description}``."""
    rows = []
    for name, field in config.model_fields.items():
        required = field.is_required()
        rows.append(
            {
                "name": name,
                "type": _field_type(field.annotation),
                "default": None if required else field.get_default(call_default_factory=True),
                "required": required,
                "description": field.description,
            }
        )
    return rows


def _parameter_line(param: dict[str, Any]) -> str:
    default = "required" if param["required"] else repr(param["default"])
    return f"{param['name']}: {param['type']} = {default}"


@app.command("methods")
def methods_command(as_json: JsonOption = False) -> None:
    """List the alignment methods with their parameters, types, defaults and sources."""
    from alignlab.methods import TrainingConfig, registered_methods

    methods = registered_methods()
    if as_json:
        _print_json(
            {
                "methods": [
                    {
                        "name": info.name,
                        "kind": info.kind,
                        "source": info.source,
                        "description": info.description,
                        "parameters": _parameters(info.config),
                        "training_defaults": dict(info.training_defaults),
                    }
                    for info in methods.values()
                ],
                "shared_parameters": _parameters(TrainingConfig),
            }
        )
        return
    # the details share one column, so parameters wrap between words at 80 columns
    table = Table(
        title="Methods (alignlab train METHOD --base SPEC --param k=v --out DIR)",
        show_lines=True,
    )
    _name_column(table, list(methods))
    table.add_column("kind", no_wrap=True)
    table.add_column("description / source / parameters (type = default)", overflow="fold")
    for info in methods.values():
        details = Text.assemble(info.description, "\n", (info.source, "dim"))
        for param in _parameters(info.config):
            details.append(f"\n{_parameter_line(param)}")
        if info.training_defaults:
            own = ", ".join(f"{k}={v!r}" for k, v in info.training_defaults.items())
            details.append(f"\nshared settings it defaults differently: {own}")
        table.add_row(info.name, info.kind, details)
    console.print(table)
    shared = ", ".join(f"{p['name']}={p['default']!r}" for p in _parameters(TrainingConfig))
    console.print(
        "Shared training parameters (every method, unless it says otherwise above; "
        f"--param k=v): {shared}",
        markup=False,
        highlight=False,
    )


@app.command("train")
def train_command(
    method: Annotated[str, typer.Argument(help="Method name (see `alignlab methods`).")],
    out: Annotated[Path, typer.Option(help="Output directory for the adapter and manifest.")],
    base: Annotated[str, typer.Option(help="Base model spec to train.")] = "smollm2-135m",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Method or shared training parameter key=value."),
    ] = None,
) -> None:
    """Train METHOD on a base model; writes a LoRA adapter plus manifest.json to --out."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from alignlab.methods import train, validate_request

    _quiet_transformers()
    params = _parse_task_args(param or [])
    validate_request(method, base, params)  # fail in one line before any progress display
    _check_writable_dir(out.absolute().parent, "the directory of --out")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,  # a log file gets no bar, errors stay one line
    ) as progress:
        bar = progress.add_task(f"train {method}", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            _raise_if_interrupted()  # a Ctrl-C that Python swallowed stops the run here
            progress.update(bar, completed=step, total=total, loss=f"{loss:.4f}")

        with _remembered_interrupts():
            try:
                manifest = train(method, base, out, params, on_step=on_step)
            except OSError as exc:
                if exc.filename is not None:
                    raise  # main() names the file
                # a write to an open file (disk full): name the run's output instead
                raise AlignlabError(f"cannot write {out}: {exc.strerror or exc}") from None
    console.print(
        f"{manifest.method} on {manifest.base}: {manifest.n_examples} examples, "
        f"{manifest.tokens_seen} tokens, {len(manifest.loss_curve)} steps, "
        f"{manifest.wall_time_s:.1f} s"
    )
    for note in manifest.notes:
        console.print(f"  note: {note}")
    check = manifest.learning_check
    console.print(
        f"learning check: {check.line() if check is not None else 'none recorded'}",
        soft_wrap=True,  # one line, whatever the terminal's width: scripts grep for it
        highlight=False,
        markup=False,
    )
    console.print(f"adapter: {out}  (evaluate with --model '{base}+{out}')")


rm_app = typer.Typer(
    help="Reward models on gold-labelled preference pairs: train, evaluate, list kinds.",
    no_args_is_help=True,
)
app.add_typer(rm_app, name="rm")


@rm_app.command("list")
def rm_list_command(as_json: JsonOption = False) -> None:
    """List the reward-model kinds with their parameters and sources."""
    from alignlab.rewards import registered_reward_models

    kinds = registered_reward_models()
    if as_json:
        _print_json(
            [
                {
                    "name": info.name,
                    "source": info.source,
                    "description": info.description,
                    "parameters": _parameters(info.config),
                }
                for info in kinds.values()
            ]
        )
        return
    table = Table(title="Reward models (alignlab rm train KIND --out DIR -p k=v)", show_lines=True)
    _name_column(table, list(kinds))
    table.add_column("description / source / parameters (type = default)", overflow="fold")
    for info in kinds.values():
        details = Text.assemble(info.description, "\n", (info.source, "dim"))
        for param in _parameters(info.config):
            details.append(f"\n{_parameter_line(param)}")
        table.add_row(info.name, details)
    console.print(table)
    console.print("Shared training parameters: as for methods (see `alignlab methods`).")


@rm_app.command("train")
def rm_train_command(
    kind: Annotated[str, typer.Argument(help="Reward-model kind (see `alignlab rm list`).")],
    out: Annotated[Path, typer.Option(help="Output directory for the reward model.")],
    base: Annotated[str, typer.Option(help="Base model spec.")] = "smollm2-135m",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Kind or shared training parameter key=value."),
    ] = None,
) -> None:
    """Train a reward model of KIND on the evals' train pairs; writes it to --out."""
    from alignlab.rewards import train_reward_model, validate_rm_request

    _quiet_transformers()
    params = _parse_task_args(param or [])
    validate_rm_request(kind, base, params)  # fail in one line before any work
    _check_writable_dir(out.absolute().parent, "the directory of --out")

    def on_step(step: int, total: int, loss: float) -> None:
        _raise_if_interrupted()

    with _remembered_interrupts():
        manifest = train_reward_model(kind, base, out, params, on_step=on_step)
    console.print(
        f"{manifest.kind} reward model on {manifest.base}: {manifest.n_pairs} pairs, "
        f"{manifest.tokens_seen} tokens, {len(manifest.loss_curve)} steps, "
        f"{manifest.wall_time_s:.1f} s",
        highlight=False,
    )
    check = manifest.learning_check
    console.print(
        f"learning check: {check.line() if check is not None else 'none recorded'}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(f"reward model: {out}  (evaluate with `alignlab rm eval {out}`)")


def _estimate_text(estimate: Any) -> str:
    return f"{estimate.value:.3f} [{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"


@rm_app.command("eval")
def rm_eval_command(
    rm_dir: Annotated[Path, typer.Argument(help="A trained reward model's directory.")],
    split: Annotated[str, typer.Option(help="Pairs of this split: test or heldout.")] = "heldout",
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N pairs.")] = None,
    n_items: Annotated[int, typer.Option(min=1, help="Eval items drawn per source eval.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the eval generators.")] = 0,
    against: Annotated[
        Path | None, typer.Option(help="A second reward model, compared on the same pairs.")
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="Base to score on (default: the one trained on).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pairwise accuracy of a reward model on gold-labelled pairs, with Wilson intervals."""
    from alignlab.rewards import (
        accuracy_by_family,
        compare_reward_models,
        load_reward_model,
        pairwise_accuracy,
        preference_pairs,
        read_rm_manifest,
        score_pairs,
    )

    _quiet_transformers()
    _check_eval_split(split)
    manifest = read_rm_manifest(rm_dir)
    if against is not None:
        read_rm_manifest(against)
    pairs = preference_pairs(split, n_items, seed, manifest.families)[:limit]
    outcomes = score_pairs(load_reward_model(rm_dir, base).scorer, pairs)
    accuracy = pairwise_accuracy(outcomes)
    families = accuracy_by_family(outcomes)
    report: dict[str, Any] = {
        "reward_model": str(rm_dir),
        "kind": manifest.kind,
        "split": split,
        "n_pairs": len(pairs),
        "accuracy": accuracy.as_list(),
        "by_family": {name: e.as_list() for name, e in families.items()},
    }
    if against is not None:
        other = score_pairs(load_reward_model(against, base).scorer, pairs)
        comparison = compare_reward_models(outcomes, other, seed=seed)
        report["against"] = {
            "reward_model": str(against),
            "accuracy": comparison.b.as_list(),
            "difference": comparison.difference.as_list(),
            "mcnemar_p": comparison.mcnemar.p_value,
            "only_this": comparison.mcnemar.only_a,
            "only_other": comparison.mcnemar.only_b,
        }
    if as_json:
        _print_json(report)
        return
    console.print(
        f"{manifest.kind} reward model {rm_dir} on {len(pairs)} {split} pairs: "
        f"pairwise accuracy {_estimate_text(accuracy)} (95% Wilson)",
        highlight=False,
    )
    for name, estimate in families.items():
        console.print(f"  {name}: {_estimate_text(estimate)} (n={estimate.n})", highlight=False)
    if against is not None:
        versus = report["against"]
        console.print(
            f"against {against}: accuracy {_estimate_text(comparison.b)}; "
            f"difference {_estimate_text(comparison.difference)} (paired bootstrap); "
            f"McNemar exact p={versus['mcnemar_p']:.3g} "
            f"({versus['only_this']} pairs right only here, {versus['only_other']} only there)",
            highlight=False,
        )


@rm_app.command("robustness")
def rm_robustness_command(
    rm_dir: Annotated[Path, typer.Argument(help="A trained reward model's directory.")],
    split: Annotated[str, typer.Option(help="Pairs of this split: test or heldout.")] = "heldout",
    transform: Annotated[
        list[str] | None,
        typer.Option("--transform", "-t", help="A transform (repeatable; default: all)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N pairs.")] = None,
    n_items: Annotated[int, typer.Option(min=1, help="Eval items drawn per source eval.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the eval generators and bootstrap.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Accuracy drop of a reward model under rewrites that keep which reply is right."""
    from alignlab.rewards import (
        TRANSFORMS,
        check_transforms,
        load_reward_model,
        preference_pairs,
        read_rm_manifest,
        robustness,
    )

    _quiet_transformers()
    names = check_transforms(transform or [])
    _check_eval_split(split)
    manifest = read_rm_manifest(rm_dir)
    pairs = preference_pairs(split, n_items, seed, manifest.families)[:limit]
    results = robustness(load_reward_model(rm_dir).scorer, pairs, names, seed=seed)
    if as_json:
        _print_json(
            {
                "reward_model": str(rm_dir),
                "kind": manifest.kind,
                "split": split,
                "n_pairs": len(pairs),
                "robustness": {
                    r.transform: {
                        "n_pairs": r.n_pairs,
                        "original": r.original.as_list(),
                        "transformed": r.transformed.as_list(),
                        "drop": r.drop.as_list(),
                    }
                    for r in results
                },
            }
        )
        return
    table = Table(title=f"{manifest.kind} reward model {rm_dir}: {split} pairs")
    for column in ("transform", "pairs", "accuracy before", "after", "drop [95% CI]"):
        table.add_column(column)
    for r in results:
        table.add_row(
            f"{r.transform}\n[dim]{TRANSFORMS[r.transform][1]}[/dim]",
            str(r.n_pairs),
            f"{r.original.value:.3f}",
            f"{r.transformed.value:.3f}",
            _estimate_text(r.drop),
        )
    console.print(table)


def _check_eval_split(split: str) -> None:
    from alignlab.rewards import EVAL_SPLITS

    if split not in EVAL_SPLITS:
        raise AlignlabError(
            f"reward models are evaluated on {' or '.join(EVAL_SPLITS)} pairs, not '{split}'"
        )


@rm_app.command("best-of-n")
def rm_best_of_n_command(
    rm_dir: Annotated[Path, typer.Argument(help="The proxy reward model's directory.")],
    n: Annotated[str, typer.Option("--n", help="Comma-separated N values.")] = "1,2,4,8,16,32,64",
    policy: Annotated[
        str | None,
        typer.Option(help="Policy spec to sample from (default: the reward model's base)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Prompts of this split: test or heldout.")] = "heldout",
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N prompts.")] = None,
    n_items: Annotated[int, typer.Option(min=1, help="Eval items drawn per source eval.")] = 30,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest sampled reply.")] = 48,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the eval generators and sampling.")] = 0,
    plot: Annotated[Path | None, typer.Option(help="Write the curve as a PNG here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Best-of-N against the proxy reward model, scored by the gold reward, per analytic KL."""
    from alignlab.rewards import (
        best_of_n_prompts,
        load_reward_model,
        parse_ns,
        plot_best_of_n,
        policy_sampler,
        preference_pairs,
        read_rm_manifest,
        run_best_of_n,
    )

    _quiet_transformers()
    ns = parse_ns(n)
    _check_eval_split(split)
    manifest = read_rm_manifest(rm_dir)
    pairs = best_of_n_prompts(preference_pairs(split, n_items, seed, manifest.families))[:limit]
    sampler = policy_sampler(policy or manifest.base, temperature, max_new_tokens, seed)
    run = run_best_of_n(load_reward_model(rm_dir).scorer, pairs, sampler, ns, seed=seed)
    if plot is not None:
        plot_best_of_n({manifest.kind: run.points}, plot)
    if as_json:
        _print_json(
            {
                "reward_model": str(rm_dir),
                "kind": manifest.kind,
                "policy": policy or manifest.base,
                "n_prompts": len(pairs),
                "best_of_n": [p.row() for p in run.points],
            }
        )
        return
    table = Table(title=f"best-of-N: proxy {manifest.kind} {rm_dir}, {len(pairs)} {split} prompts")
    for column in ("N", "KL (nats)", "proxy [95% CI]", "gold [95% CI]"):
        table.add_column(column)
    for point in run.points:
        table.add_row(
            str(point.n), f"{point.kl:.3f}", _estimate_text(point.proxy), _estimate_text(point.gold)
        )
    console.print(table)
    if plot is not None:
        console.print(f"plot: {plot}")


def _dry_run_table(session: Any) -> Table:
    from alignlab.experiment import cached_keys

    done = cached_keys(session)
    plan = session.plan
    table = Table(title=f"{plan.loaded.spec.name}: run {plan.run_id[:12]} in {session.run_dir}")
    for column in ("kind", "variant", "eval / split", "key", "status"):
        table.add_column(column, no_wrap=column in ("kind", "key", "status"))
    for train in plan.train_cells:
        status = "cached" if train.key in done else "to run"
        table.add_row("train", train.variant.label, "-", train.key[:12], status)
    for cell in plan.eval_cells:
        where = f"{cell.eval} / {cell.split}" + (
            "" if cell.format == "all" else f" / {cell.format}"
        )
        status = "cached" if cell.key in done else "to run"
        table.add_row("eval", cell.train.variant.label, where, cell.key[:12], status)
    for rm in plan.rm_train_cells:
        status = "cached" if rm.key in done else "to run"
        table.add_row("rm_train", rm.label, "-", rm.key[:12], status)
    for rm_eval in plan.rm_eval_cells:
        status = "cached" if rm_eval.key in done else "to run"
        where = f"{rm_eval.what} / {rm_eval.split}"
        table.add_row(rm_eval.kind, rm_eval.train.label, where, rm_eval.key[:12], status)
    return table


@app.command("run")
def run_command(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML); see docs/experiments.md.")],
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: the spec's out, or runs/NAME).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Results store: a SQLite path or postgresql://... (default: in --out)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the cells and which are cached; run nothing.")
    ] = False,
    executor: Annotated[str, typer.Option(help="Where cells run: local or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (with --executor ray).")
    ] = None,
) -> None:
    """Run an experiment: train every variant, evaluate, compare, write the report; resumable."""
    from rich.live import Live

    from alignlab.experiment import EXECUTORS, ProgressView, open_session, run_session

    _quiet_transformers()
    if executor not in EXECUTORS:
        raise AlignlabError(f"unknown executor '{executor}'; choose {' or '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise AlignlabError("--address is for the ray executor (add --executor ray)")
    session = open_session(spec, out=out, db=db)
    if dry_run:
        console.print(_dry_run_table(session))
        return
    _check_writable_dir(session.run_dir.absolute().parent, "the parent of the run directory")
    view = ProgressView.of(session.plan)

    def on_step(key: str, step: int, total: int, loss: float) -> None:
        _raise_if_interrupted()
        view.step(key, step, total, loss)

    with (
        _remembered_interrupts(),
        Live(
            view,
            console=err_console,
            refresh_per_second=2,
            transient=False,
            redirect_stdout=True,
            redirect_stderr=False,
        ) as live,
    ):
        live.update(view)
        summary = run_session(
            session, on_event=view.event, on_step=on_step, executor=executor, address=address
        )
    console.print(
        f"{summary.done} cells run, {summary.cached} cached, {len(summary.failed)} failed "
        f"in {summary.seconds:.0f} s; run {summary.run_id[:12]} in {summary.run_dir}"
    )
    for failure in summary.failed:
        console.print(f"  failed: {failure}", highlight=False)
    if summary.report is not None:
        console.print(f"report: {summary.report}")
    if summary.failed:
        raise RunFailed(f"{len(summary.failed)} cell(s) failed; rerun to retry them")


def _run_location(run_dir: Path, db: str | None) -> tuple[str, str]:
    """The run id in ``run_dir`` and its store location."""
    from alignlab.experiment import RUN_ID_FILE, STORE_FILE

    marker = run_dir / RUN_ID_FILE
    if not marker.is_file():
        raise AlignlabError(f"{run_dir} is not an alignlab run directory (no {RUN_ID_FILE} file)")
    return marker.read_text().strip(), db or str(run_dir / STORE_FILE)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (from `alignlab run`).")],
    db: Annotated[str | None, typer.Option(help="Results store, if not the run's SQLite.")] = None,
) -> None:
    """Rebuild RUN_DIR/report.html from the results store alone."""
    from alignlab.experiment import open_store, report_run

    run_id, location = _run_location(run_dir, db)
    with open_store(location) as store:
        if store.get_run(run_id) is None:
            raise AlignlabError(f"run {run_id[:12]} is not in the results store {store.url}")
        path = report_run(store, run_id, run_dir)
    console.print(f"report: {path}")


@app.command("export")
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (from `alignlab run`).")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the tables (default: RUN_DIR/export).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Results store, if not the run's SQLite.")] = None,
) -> None:
    """Write the run's cells, metrics, curves and comparisons as CSV and Parquet."""
    from alignlab.experiment import export, open_store

    run_id, location = _run_location(run_dir, db)
    target = out or run_dir / "export"
    _check_writable_dir(target.absolute().parent, "the parent of --out")
    with open_store(location) as store:
        paths = export(store, run_id, target)
    for path in paths:
        console.print(str(path))


predict_app = typer.Typer(
    name="predict",
    help="The prediction ledger: register predictions before the results, verify, score, export.",
    no_args_is_help=True,
)
app.add_typer(predict_app)

RunOrSpec = Annotated[
    Path, typer.Argument(help="An experiment spec (its run directory) or a run directory.")
]
DbOption = Annotated[str | None, typer.Option(help="Results store, if not the run's SQLite.")]


def _registered_line(entry: Any) -> str:
    body = entry.body
    if entry.kind == "prediction":
        timing = (
            f"post-hoc: a cell it names started at {entry.cells_started_at}"
            if entry.cells_started_at
            else "a forecast: no cell it names has started"
        )
        return f"registered prediction {body.id} ({timing})"
    name = body.name if entry.kind == "theory" else body.id
    return f"registered {entry.kind} {name}"


@predict_app.command("add")
def predict_add_command(
    run_or_spec: RunOrSpec,
    type_: Annotated[
        str, typer.Option("--type", help="directional, pairwise or interval.", show_default=False)
    ],
    theory: Annotated[str, typer.Option(help="The theory it belongs to.", show_default=False)],
    author: Annotated[str, typer.Option(help="Who makes it.", show_default=False)],
    probability: Annotated[
        float, typer.Option(help="Probability that it holds, in (0, 1).", show_default=False)
    ],
    claim: Annotated[str, typer.Option(help="The claim in words.", show_default=False)],
    method: Annotated[str, typer.Option(help="The method variant's label.", show_default=False)],
    eval_name: Annotated[str, typer.Option("--eval", help="The eval.", show_default=False)],
    split: Annotated[str, typer.Option(help="The eval split.", show_default=False)],
    metric: Annotated[str, typer.Option(help="The metric.", show_default=False)],
    direction: Annotated[str | None, typer.Option(help="directional: up or down.")] = None,
    reference: Annotated[
        str | None, typer.Option(help="directional: relative to this variant (default none).")
    ] = None,
    min_change: Annotated[
        float | None, typer.Option(help="directional, pairwise: by more than this (default 0).")
    ] = None,
    other: Annotated[str | None, typer.Option(help="pairwise: the variant it beats.")] = None,
    better: Annotated[
        str | None, typer.Option(help="pairwise: higher or lower values are better.")
    ] = None,
    low: Annotated[float | None, typer.Option(help="interval: lower end.")] = None,
    high: Annotated[float | None, typer.Option(help="interval: upper end.")] = None,
    db: DbOption = None,
) -> None:
    """Register a prediction in the run's ledger (a forecast if no cell it names has started)."""
    from alignlab.experiment._ledger import make_body, register

    prediction = make_body(
        "prediction",
        {
            "type": type_,
            "theory": theory,
            "author": author,
            "probability": probability,
            "claim": claim,
            "method": method,
            "eval": eval_name,
            "split": split,
            "metric": metric,
            "direction": direction,
            "reference": reference,
            "min_change": min_change,
            "other": other,
            "better": better,
            "low": low,
            "high": high,
        },
    )
    entries = register(run_or_spec, [prediction], db=db, source="cli")
    for entry in entries:
        console.print(_registered_line(entry), highlight=False, soft_wrap=True)
    if not any(entry.body == prediction for entry in entries):
        console.print(f"already registered: prediction {prediction.content_sha256()[:12]}")


@predict_app.command("theory")
def predict_theory_command(
    run_or_spec: RunOrSpec,
    name: Annotated[str, typer.Argument(help="The theory's name.", show_default=False)],
    assumption: Annotated[
        list[str] | None,
        typer.Option(
            "--assumption",
            "-a",
            help="ID=TEXT registers a new assumption; ID alone uses a registered one. Repeatable.",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    db: DbOption = None,
) -> None:
    """Register a theory and the assumptions it makes (theories share assumptions by id)."""
    from alignlab.experiment._ledger import Body, make_body, register

    bodies: list[Body] = []
    ids = []
    for item in assumption or []:
        ident, sep, text = item.partition("=")
        if sep:
            bodies.append(make_body("assumption", {"id": ident.strip(), "text": text.strip()}))
        ids.append(ident.strip())
    bodies.append(
        make_body("theory", {"name": name, "assumptions": ids, "description": description})
    )
    entries = register(run_or_spec, bodies, db=db, source="cli")
    for entry in entries:
        console.print(_registered_line(entry), highlight=False, soft_wrap=True)
    if not entries:
        console.print(f"already registered: theory {name}", highlight=False)


@predict_app.command("verify")
def predict_verify_command(
    run_or_spec: RunOrSpec,
    head: Annotated[
        str | None,
        typer.Option(help="A head recorded earlier: fails if entries were removed from the end."),
    ] = None,
) -> None:
    """Check the ledger's hash chain: any edited, removed or reordered entry fails (exit 2)."""
    from alignlab.experiment._ledger import read_ledger, resolve_target, verify_ledger

    target = resolve_target(run_or_spec)
    if not target.ledger.is_file():
        raise AlignlabError(f"{target.ledger} does not exist: nothing is registered yet")
    tip = verify_ledger(target.ledger, head)
    entries = read_ledger(target.ledger)
    predictions = sum(1 for entry in entries if entry.kind == "prediction")
    console.print(
        f"ledger OK: {len(entries)} entries ({predictions} predictions), head {tip}",
        highlight=False,
        soft_wrap=True,
    )


PREDICTION_ID_SHOWN = 8
"""Characters of a prediction id the score tables show (``predict export`` has them whole)."""


def _score_tables(scores: Any) -> list[Table]:
    from alignlab.report._format import interval, num

    # two tables: twelve columns do not fit a terminal, and rich shrinks
    # wrappable columns to nothing rather than fold them
    ledger = Table(title="Predictions", box=box.SIMPLE_HEAD, pad_edge=False)
    quantities = Table(title="What each prediction is about, and what was measured")
    ledger.add_column("id", no_wrap=True)
    ledger.add_column("author", overflow="fold", min_width=6)
    ledger.add_column("theory", overflow="fold", min_width=12)
    ledger.add_column("p", no_wrap=True)
    ledger.add_column("outcome", no_wrap=True)
    # per-prediction baseline scores are in `predict export` and the authors table
    for column in ("log", "peer", "Brier"):
        ledger.add_column(column, justify="right", no_wrap=True)
    quantities.add_column("id", no_wrap=True)
    quantities.add_column("quantity", overflow="fold", ratio=3)
    quantities.add_column("measured [95% CI]", overflow="fold", ratio=2)
    for row in scores.predictions.itertuples(index=False):
        signed = row.type != "interval"
        short_id = str(row.id)[:PREDICTION_ID_SHOWN]
        ledger.add_row(
            short_id,
            row.author,
            row.theory,
            num(row.probability),
            str(row.outcome).replace("_", " ") if row.status == "forecast" else str(row.status),
            num(row.log_score, signed=True),
            num(row.peer_score, signed=True),
            num(row.brier_score),
        )
        quantities.add_row(
            short_id,
            row.what,
            num(row.measured, signed=signed)
            + " "
            + interval(row.ci_low, row.ci_high, signed=signed),
        )
    theories = Table(title="Theories (by mean log score per scored forecast)")
    for column in ("theory", "assumptions", "scored", "mean log [95% CI]", "mean Brier"):
        theories.add_column(column)
    for r in scores.scores.theories.itertuples(index=False):
        theories.add_row(
            r.theory,
            str(r.n_assumptions),
            str(r.n_scored),
            f"{num(r.mean_log_score, signed=True)} {interval(r.ci_low, r.ci_high, signed=True)}",
            num(r.mean_brier_score),
        )
    authors = Table(title="Authors (by mean peer score)")
    for column in ("author", "scored", "with peers", "peer", "log", "baseline", "Brier"):
        authors.add_column(column)
    for r in scores.scores.authors.itertuples(index=False):
        authors.add_row(
            r.author,
            str(r.n_scored),
            str(r.n_peer),
            num(r.mean_peer_score, signed=True),
            num(r.mean_log_score, signed=True),
            num(r.mean_baseline_score, signed=True),
            num(r.mean_brier_score),
        )
    return [ledger, quantities, theories, authors]


@predict_app.command("score")
def predict_score_command(run_or_spec: RunOrSpec, db: DbOption = None) -> None:
    """Resolve every prediction against the stored results; print scores and rankings."""
    from alignlab.experiment._ledger import resolve_target, score_target

    scores = score_target(resolve_target(run_or_spec, db))
    for table in _score_tables(scores):
        console.print(table)
    console.print(
        "hit: the whole 95% interval is on the claimed side of the threshold (inside the "
        "claimed range); miss: none of it is; unresolved: it straddles the threshold. Log "
        "scores use natural logs; the report has the calibration table.",
        highlight=False,
    )


@predict_app.command("export")
def predict_export_command(
    run_or_spec: RunOrSpec,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the files (default: RUN_DIR/export).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write the ledger and its scores as JSON (ledger.json) and CSV tables."""
    from alignlab.experiment._ledger import export_ledger, resolve_target, score_target

    target = resolve_target(run_or_spec, db)
    scores = score_target(target)
    where = out or target.run_dir / "export"
    _check_writable_dir(where.absolute().parent, "the parent of --out")
    for path in export_ledger(scores, where):
        console.print(str(path))


LIBRARY_DEPRECATIONS = (
    r"`past_key_values` is deprecated",
    r"`is_gradient_checkpointing` is deprecated",
    r"`gradient_checkpointing` is deprecated",
)
"""transformers 5.x deprecation notices about its own and PEFT's internals: nothing a
user can act on, so the CLI does not print them (tests still see them)."""


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    # users see "warning: <message>", not the source line that raised it
    return f"warning: {message}\n"


_signal_received: int | None = None
"""SIGINT or SIGTERM once one has arrived: the run is being interrupted."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Handle SIGTERM like Ctrl-C, so that the run unwinds the same way.

    Whatever handles SIGINT now handles this signal too: Python's default
    raises ``KeyboardInterrupt`` (``finally`` blocks remove scratch
    directories); while an eval runs, asyncio's handler cancels the run and
    Inspect marks its log ``cancelled``.  A repeated SIGTERM changes nothing.
    """
    global _signal_received
    if _signal_received == signal.SIGTERM:
        return
    _signal_received = signal.SIGTERM
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not _on_sigterm:
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job) or not handled in Python
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _signal_received
    if _signal_received is None:
        _signal_received = signal.SIGINT
    raise KeyboardInterrupt


@contextlib.contextmanager
def _remembered_interrupts() -> Iterator[None]:
    """Ctrl-C raises ``KeyboardInterrupt`` as usual, and is remembered.

    Python swallows an exception raised inside a finaliser (``__del__`` during
    garbage collection prints "Exception ignored" and goes on), so a Ctrl-C
    can be lost; :func:`_raise_if_interrupted` at every training step raises
    it again.  Only where SIGINT has Python's default handler (not in a
    background job, which ignores it).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _quiet_lost_interrupts(unraisable: Any) -> None:
    """``sys.unraisablehook``: a Ctrl-C raised inside a finaliser is not a traceback.

    It is remembered (:data:`_signal_received`) and raised again at the next
    training step; any other unraisable exception is reported as usual.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _signal_received is not None:
        return
    sys.__unraisablehook__(unraisable)


def _raise_if_interrupted() -> None:
    if _signal_received is not None:
        raise KeyboardInterrupt


def _usage_error_types() -> tuple[type[Exception], ...]:
    """Click's exception classes: typer >= 0.2x vendors click, older typer uses click itself."""
    types: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as TyperClickException

        types.append(TyperClickException)
    except ImportError:
        pass
    try:
        from click.exceptions import ClickException

        types.append(ClickException)
    except ImportError:
        pass
    return tuple(types)


def _usage_line(exc: Exception) -> str:
    """Click's message for a usage error and where to get help, in one line (no usage box)."""
    format_message = getattr(exc, "format_message", None)
    message = _one_line(format_message() if callable(format_message) else str(exc))
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message = f"{message} (see '{ctx.command_path} --help')"
    return message


def _os_error_line(exc: OSError) -> str:
    from alignlab.models import cache_dir

    reason = exc.strerror or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return reason
    line = f"cannot access {' -> '.join(paths)}: {reason}"
    cache = cache_dir().absolute()
    if any(Path(p).absolute().is_relative_to(cache) for p in paths):
        line += f" (alignlab's cache {cache}: set ALIGNLAB_CACHE to a writable directory)"
    return line


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    sys.exit(code)


def _interrupted() -> NoReturn:
    if _signal_received == signal.SIGTERM:
        err_console.print("terminated", highlight=False)
        sys.exit(EXIT_TERMINATED)
    err_console.print("interrupted", highlight=False)
    sys.exit(EXIT_INTERRUPTED)


def main() -> None:
    """Entry point: run the app; every failure is one line on stderr and an exit code."""
    import warnings

    global _signal_received
    _signal_received = None
    os.environ.setdefault("INSPECT_DISPLAY", "rich")
    warnings.formatwarning = _one_line_warning
    for message in LIBRARY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = _quiet_lost_interrupts
    usage_errors = _usage_error_types()
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted()
    except AlignlabError as exc:
        _fail(str(exc), exc.exit_code)
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `alignlab`: the help text
            exc.show()  # type: ignore[attr-defined]
            sys.exit(EXIT_BAD_INPUT)
        _fail(_usage_line(exc), EXIT_BAD_INPUT)
    except (typer.Abort, EOFError):  # a prompt cut short
        _interrupted()
    except OSError as exc:  # last resort: paths are checked up front where we can
        _fail(_os_error_line(exc), EXIT_BAD_INPUT)
    # standalone_mode=False: typer returns the code of an Exit (--help: 0) and turns
    # KeyboardInterrupt into 130; a command that returns normally gives None
    if _signal_received is not None or code == EXIT_INTERRUPTED:
        _interrupted()
    sys.exit(code if isinstance(code, int) else EXIT_OK)
