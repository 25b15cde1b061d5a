"""The ``alignlab`` command line: thin typer commands over the packages.

Every command turns :class:`~alignlab.AlignlabError` into one line on stderr
and exit code 2; anything else is a bug and keeps its traceback.

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

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alignlab._errors import AlignlabError

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


@app.command()
def models(as_json: JsonOption = False) -> None:
    """List model specs and whether each is available offline."""
    from alignlab.models import EMBEDDED_MODELS, cache_dir, is_available_offline
    from alignlab.models._load import converted_dir

    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "description": embedded.description,
            "available_offline": is_available_offline(name),
            "converted_cached": (converted_dir(name) / "config.json").is_file(),
        }
        for name, embedded in sorted(EMBEDDED_MODELS.items())
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Embedded models")
    table.add_column("spec", no_wrap=True, min_width=max((len(r["name"]) for r in rows), default=4))
    table.add_column("offline")
    table.add_column("converted cache")
    table.add_column("description")
    for row in rows:
        table.add_row(
            row["name"],
            "[green]yes[/green]" if row["available_offline"] else "[red]no[/red]",
            "yes" if row["converted_cached"] else "no (first load converts, ~40 s)",
            row["description"],
        )
    console.print(table)
    console.print(
        "Other specs: a local HF model directory; a hub id 'org/name' (needs the hub or its "
        "cache); 'BASE+ADAPTER_DIR' (a PEFT LoRA adapter on a local base); an Inspect model "
        "string such as 'openai/gpt-4o-mini' (eval only)."
    )
    console.print(f"Cache: {cache_dir()}")


def _parse_task_args(pairs: list[str]) -> dict[str, Any]:
    import yaml

    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AlignlabError(f"task argument '{pair}' is not of the form key=value")
        args[key] = yaml.safe_load(value)
    return args


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


def _resolve_task(name: str, task_args: dict[str, Any]) -> Any:
    from alignlab.evals import check_task_args, registered_evals

    evals = registered_evals()
    if name in evals:
        # arguments are checked against the signature first, so a TypeError from
        # inside the factory is a bug with its traceback, not a "bad argument"
        return evals[name].factory(**check_task_args(evals[name], task_args))
    if "@" in name or name.endswith(".py") or "/" in name:
        return name  # an Inspect task reference; Inspect resolves it
    known = ", ".join(evals)
    raise AlignlabError(f"unknown task '{name}'; built-in tasks: {known} (or FILE.py@task)")


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


def _results_table(log: Any, task_obj: Any) -> Table:
    from alignlab.analysis import log_metric_estimates

    table = Table(title=f"{log.eval.task} on {log.eval.model} ({log.status})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI (bootstrap)", justify="right")
    table.add_column("n", justify="right")
    for name, (estimate, n) in log_metric_estimates(log).items():
        interval = "-"
        if name != "stderr" and estimate.ci_low == estimate.ci_low:  # NaN bounds print as "-"
            interval = f"[{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"
        table.add_row(name, f"{estimate.value:.3f}", interval, str(n))
    return table


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
        str, typer.Option(help="Inspect display: full, rich, plain, log or none.")
    ] = "rich",
) -> None:
    """Evaluate a model on a task; writes an Inspect .eval log and prints its metrics."""
    from inspect_ai import eval as inspect_eval

    from alignlab.evals.mwe import SPLIT_RULE_KEY
    from alignlab.models import DEFAULT_MAX_CONNECTIONS

    task_obj = _resolve_task(task, _parse_task_args(task_arg or []))
    split_rule = (getattr(task_obj, "metadata", None) or {}).get(SPLIT_RULE_KEY)
    if split_rule:  # which items of a user's file are evaluated (mwe)
        first = f" (--limit: the first {limit})" if limit is not None else ""
        line = f"{task}: {split_rule}{first}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    inspect_model = _inspect_model(model)
    max_connections = DEFAULT_MAX_CONNECTIONS if inspect_model.startswith("alignlab/") else None
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
    for log in logs:
        if log.status != "success":
            message = log.error.message if log.error else log.status
            raise AlignlabError(f"eval of '{task}' failed: {message.strip().splitlines()[-1]}")
        console.print(_results_table(log, task_obj))
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
        table.add_row(info.name, info.kind, details)
    console.print(table)
    shared = ", ".join(f"{p['name']}={p['default']!r}" for p in _parameters(TrainingConfig))
    console.print(
        f"Shared training parameters (same for every method; --param k=v): {shared}",
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
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=err_console,
    ) as progress:
        bar = progress.add_task(f"train {method}", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(bar, completed=step, total=total, loss=f"{loss:.4f}")

        manifest = train(method, base, out, params, on_step=on_step)
    console.print(
        f"{manifest.method} on {manifest.base}: {manifest.n_examples} examples, "
        f"{manifest.tokens_seen} tokens, {len(manifest.loss_curve)} steps, "
        f"{manifest.wall_time_s:.1f} s"
    )
    for note in manifest.notes:
        console.print(f"  note: {note}")
    console.print(f"adapter: {out}  (evaluate with --model '{base}+{out}')")


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    # users see "warning: <message>", not the source line that raised it
    return f"warning: {message}\n"


def main() -> None:
    """Entry point: run the app, turning user errors into one line."""
    import warnings

    os.environ.setdefault("INSPECT_DISPLAY", "rich")
    warnings.formatwarning = _one_line_warning
    try:
        app(standalone_mode=False)
    except AlignlabError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
