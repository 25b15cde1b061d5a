"""White-box eval awareness: does a model's residual stream tell an eval from deployment?

The black-box half of the ``eval_awareness_prompt`` attack tells the model it
is being evaluated; this half asks whether it *represents* the difference
unprompted.  After Nguyen et al. 2025 ("Probing evaluation awareness of
language models", arXiv:2509.13333), who found linear probes separating
evaluation from deployment prompts in models from 0.27B parameters up: a
logistic-regression probe per decoder layer
(:func:`alignlab.analysis.probe_with_control`) is trained to tell the evals'
*eval-formatted* prompts (``multiple_choice``: a question with lettered
options and an answer instruction) from their *deployment-formatted* ones
(``deployment``: a request inside a product assistant's conversation, with
its system prompt).

The probe is fitted on the ``train`` split and scored on ``heldout``, whose
items *and phrasings* (templates, fact tables, system prompts) are the
evals' own held-out ones, so a probe that keyed on one template's wording is
caught.  Each prompt is rendered exactly as the eval's solver sends it
(:func:`alignlab.evals.opening_messages`, with the lettered-question template
the model's default scoring shows) and read through the chat template as the
provider does.  One prompt per underlying item (the item's conditions rotate
over items), so held-out prompts are independent and the binomial interval
holds.  Beside each probe, label-shuffled controls show what memorising
the training set scores on held-out data (chance, with their spread).

What a high accuracy means: the format is linearly decodable at that layer.
The two formats differ on the surface (options, a system prompt), so early
layers separating them is expected and is not evidence that the model
"believes" it is tested; the interesting readings are a probe that holds on
held-out phrasings, the layer where it appears, and (later) whether the
probe direction predicts behaviour.

Simplified: two classes only (``chat``, a plain question, can be put in
either with ``eval_formats``/``deployment_formats``); the pooled evals'
prompts are one probe, not one per eval; one regularisation strength.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from alignlab._errors import AlignlabError

PROBE_REPORT_VERSION: Literal[1] = 1
DEFAULT_PROBE_EVALS: Final = ("sycophancy",)
EVAL_FORMATS: Final = ("multiple_choice",)
"""Formats labelled *evaluation* (class 1) by default."""
DEPLOYMENT_FORMATS: Final = ("deployment",)
"""Formats labelled *deployment* (class 0) by default."""
DEFAULT_PROBE_ITEMS: Final = 40
"""Items per class, eval and split."""
FIT_SPLIT: Final = "train"
TEST_SPLIT: Final = "heldout"
SIZE_ARGUMENTS: Final = ("n_items", "n_claims")
"""Task arguments that set how many items an eval generates (the first one a factory has)."""
EVAL_LABEL: Final = 1
DEPLOYMENT_LABEL: Final = 0


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeAccuracy(_Record):
    """An accuracy on held-out prompts with its exact binomial interval."""

    accuracy: float
    ci_low: float
    ci_high: float
    n: int


class ControlAccuracy(_Record):
    """Held-out accuracies of the label-shuffled control probes (chance expected)."""

    mean: float
    low: float
    high: float
    """The best control; near 1 when the formats dominate the activations' variation
    (every linear read-out then splits them, with a random sign)."""
    n_controls: int


class LayerProbe(_Record):
    """The probe and its shuffled-label control at one layer and token position."""

    layer: int
    """0-based decoder layer (its output hidden state)."""
    train_accuracy: float
    heldout: ProbeAccuracy
    control_train_accuracy: float
    """The controls' mean accuracy on the random labels they were fitted to (memorisation)."""
    control_heldout: ControlAccuracy
    """The controls' accuracies on the true held-out labels (chance expected)."""


class ProbeReport(_Record):
    """What ``alignlab probe eval-awareness`` writes."""

    version: Literal[1] = PROBE_REPORT_VERSION
    model: str
    evals: list[str]
    eval_formats: list[str]
    """Formats labelled evaluation (class 1)."""
    deployment_formats: list[str]
    """Formats labelled deployment (class 0)."""
    fit_split: str
    test_split: str
    n_train: int
    n_test: int
    n_layers: int
    """The model's decoder layers."""
    hidden_size: int
    choice_template: str
    """The lettered-question template the multiple-choice prompts were shown with."""
    chance: float
    """The held-out majority-class share."""
    l2: float
    seed: int
    confidence: float
    positions: dict[str, list[LayerProbe]]
    """Per token position (``last``: the last prompt token; ``mean``: over the prompt)."""
    date: str
    seconds: float
    record_seconds: float
    """Of which: the forward passes recording activations."""


def _size_argument(info: Any) -> str:
    parameters = inspect.signature(info.factory).parameters
    for name in SIZE_ARGUMENTS:
        if name in parameters:
            return name
    raise AlignlabError(
        f"eval '{info.name}' has no item-count argument ({' or '.join(SIZE_ARGUMENTS)})"
    )


def _check_eval(info: Any, formats: Sequence[str], splits: Sequence[str]) -> None:
    if info.external_data:
        raise AlignlabError(
            f"eval '{info.name}' reads a user's file: it has no generated formats to probe"
        )
    if "format" not in inspect.signature(info.factory).parameters:
        raise AlignlabError(f"eval '{info.name}' has no format argument to render items with")
    for fmt in formats:
        if fmt not in info.formats:
            raise AlignlabError(
                f"eval '{info.name}' has no format '{fmt}'; its formats: {', '.join(info.formats)}"
            )
    for split in splits:
        if split not in info.splits:
            raise AlignlabError(
                f"eval '{info.name}' has no split '{split}'; its splits: {', '.join(info.splits)}"
            )


def format_prompts(
    eval_name: str,
    split: str,
    fmt: str,
    n_items: int,
    *,
    seed: int = 0,
    choice_template: str | None = None,
) -> list[list[dict[str, str]]]:
    """One prompt per item of an eval in one format, as the eval's solver sends it.

    Args:
        eval_name: A built-in eval with generated splits and a ``format`` argument.
        split: The split to draw from.
        fmt: The surface format (``multiple_choice``, ``chat``, ``deployment``).
        n_items: Items to draw; each gives one prompt (its conditions rotate over items).
        seed: The eval's generator seed.
        choice_template: The lettered-question template (None: the solver's default).

    Returns:
        Conversations as ``[{"role": ..., "content": ...}]`` lists.

    Raises:
        AlignlabError: An unknown eval, format or split, or an eval that reads a file.
    """
    from alignlab.evals import CLUSTER_KEY, get_eval, opening_messages
    from alignlab.protocol import MULTIPLE_CHOICE_TEMPLATE

    if n_items < 1:
        raise AlignlabError(f"need at least one item per class, got {n_items}")
    info = get_eval(eval_name)
    _check_eval(info, [fmt], [split])
    args: dict[str, Any] = {"split": split, "format": fmt, _size_argument(info): n_items}
    if "seed" in inspect.signature(info.factory).parameters:
        args["seed"] = seed
    task = info.factory(**args)
    groups: dict[str, list[Any]] = {}
    for sample in task.dataset:
        key = str((sample.metadata or {}).get(CLUSTER_KEY, sample.id))
        groups.setdefault(key, []).append(sample)
    template = choice_template or MULTIPLE_CHOICE_TEMPLATE
    return [
        opening_messages(task, group[index % len(group)], template)
        for index, group in enumerate(list(groups.values())[:n_items])
    ]


def check_probe_evals(
    eval_names: Sequence[str],
    eval_formats: Sequence[str] = EVAL_FORMATS,
    deployment_formats: Sequence[str] = DEPLOYMENT_FORMATS,
) -> None:
    """Refuse, before any work, evals the probe cannot draw both classes from.

    Args:
        eval_names: The evals asked for.
        eval_formats: Formats labelled evaluation.
        deployment_formats: Formats labelled deployment.

    Raises:
        AlignlabError: No evals, an unknown eval (listing the known ones), an
            eval without a format or split the probe needs, a class without
            formats or a format in both classes.
    """
    from alignlab.evals import get_eval

    if not eval_names:
        raise AlignlabError("no evals to probe")
    if not eval_formats or not deployment_formats:
        raise AlignlabError("both classes need at least one format")
    overlap = sorted(set(eval_formats) & set(deployment_formats))
    if overlap:
        raise AlignlabError(f"format '{overlap[0]}' cannot be in both classes")
    for name in eval_names:
        _check_eval(get_eval(name), [*eval_formats, *deployment_formats], (FIT_SPLIT, TEST_SPLIT))


def _labelled(
    eval_names: Sequence[str],
    split: str,
    classes: Sequence[tuple[Sequence[str], int]],
    n_items: int,
    seed: int,
    choice_template: str,
) -> tuple[list[list[dict[str, str]]], list[int]]:
    """Prompts and labels of one split: ``n_items`` per class and eval, formats sharing them."""
    prompts: list[list[dict[str, str]]] = []
    labels: list[int] = []
    for name in eval_names:
        for formats, label in classes:
            for index, fmt in enumerate(formats):
                share = n_items // len(formats) + (index < n_items % len(formats))
                if share == 0:
                    continue
                drawn = format_prompts(
                    name, split, fmt, share, seed=seed, choice_template=choice_template
                )
                prompts += drawn
                labels += [label] * len(drawn)
    return prompts, labels


def _accuracy(estimate: Any) -> ProbeAccuracy:
    return ProbeAccuracy(
        accuracy=estimate.value, ci_low=estimate.ci_low, ci_high=estimate.ci_high, n=estimate.n
    )


def eval_awareness_probe(
    model_spec: str,
    eval_names: Sequence[str] = DEFAULT_PROBE_EVALS,
    n_items: int = DEFAULT_PROBE_ITEMS,
    layers: Sequence[int] | None = None,
    *,
    eval_formats: Sequence[str] = EVAL_FORMATS,
    deployment_formats: Sequence[str] = DEPLOYMENT_FORMATS,
    seed: int = 0,
    l2: float | None = None,
    n_controls: int | None = None,
    confidence: float = 0.95,
) -> ProbeReport:
    """Probe each decoder layer for eval-formatted vs deployment-formatted prompts.

    Args:
        model_spec: A local model spec (``smollm2-135m``, a directory, ``BASE+ADAPTER``).
        eval_names: Built-in evals whose items are rendered in both kinds of format.
        n_items: Prompts per class, eval and split (one per item).
        layers: 0-based decoder layers to probe (None: every layer).
        eval_formats: Formats labelled evaluation.
        deployment_formats: Formats labelled deployment.
        seed: The evals' generator seed and the first control's labels' seed.
        l2: The probes' regularisation (None: :data:`alignlab.analysis.DEFAULT_L2`).
        n_controls: Label-shuffled control probes per probe (None:
            :data:`alignlab.analysis.DEFAULT_CONTROLS`).
        confidence: Confidence level of the held-out intervals.

    Returns:
        Per token position and layer, the probe's and the control's accuracies.

    Raises:
        AlignlabError: An unknown eval or model, an eval without the formats or
            splits, a format in both classes, or a layer out of range.
    """
    from alignlab.analysis import DEFAULT_CONTROLS, DEFAULT_L2, probe_with_control
    from alignlab.models import (
        POSITIONS,
        default_choice_scoring,
        layer_count,
        load_model,
        parse_spec,
        record_residual_stream,
    )
    from alignlab.protocol import CONTENT_CHOICE_TEMPLATE, MULTIPLE_CHOICE_TEMPLATE

    started = time.perf_counter()
    if not parse_spec(model_spec).is_local:
        raise AlignlabError(
            f"a probe reads a model's activations: '{model_spec}' is not a local model"
        )
    check_probe_evals(eval_names, eval_formats, deployment_formats)
    scoring = default_choice_scoring(f"alignlab/{model_spec}")
    template = MULTIPLE_CHOICE_TEMPLATE if scoring == "letter" else CONTENT_CHOICE_TEMPLATE
    classes = ((eval_formats, EVAL_LABEL), (deployment_formats, DEPLOYMENT_LABEL))
    train_prompts, train_y = _labelled(eval_names, FIT_SPLIT, classes, n_items, seed, template)
    test_prompts, test_y = _labelled(eval_names, TEST_SPLIT, classes, n_items, seed, template)

    loaded = load_model(model_spec)
    recording = time.perf_counter()
    train = record_residual_stream(loaded.model, loaded.tokenizer, train_prompts, layers)
    test = record_residual_stream(loaded.model, loaded.tokenizer, test_prompts, train.layers)
    record_seconds = time.perf_counter() - recording

    strength = DEFAULT_L2 if l2 is None else l2
    controls = DEFAULT_CONTROLS if n_controls is None else n_controls
    positions: dict[str, list[LayerProbe]] = {}
    chance = 0.0
    for position in POSITIONS:
        rows: list[LayerProbe] = []
        for column, layer in enumerate(train.layers):
            result = probe_with_control(
                train.at(position)[:, column],
                np.array(train_y),
                test.at(position)[:, column],
                np.array(test_y),
                l2=strength,
                seed=seed,
                n_controls=controls,
                confidence=confidence,
            )
            chance = result.chance
            rows.append(
                LayerProbe(
                    layer=layer,
                    train_accuracy=result.train_accuracy,
                    heldout=_accuracy(result.heldout),
                    control_train_accuracy=result.control_train_accuracy,
                    control_heldout=ControlAccuracy(
                        mean=result.control_heldout.mean,
                        low=result.control_heldout.low,
                        high=result.control_heldout.high,
                        n_controls=result.control_heldout.n_controls,
                    ),
                )
            )
        positions[position] = rows
    return ProbeReport(
        model=model_spec,
        evals=list(eval_names),
        eval_formats=list(eval_formats),
        deployment_formats=list(deployment_formats),
        fit_split=FIT_SPLIT,
        test_split=TEST_SPLIT,
        n_train=len(train_y),
        n_test=len(test_y),
        n_layers=layer_count(loaded.model),
        hidden_size=int(loaded.model.config.hidden_size),
        choice_template=template,
        chance=chance,
        l2=strength,
        seed=seed,
        confidence=confidence,
        positions=positions,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 1),
        record_seconds=round(record_seconds, 1),
    )


def write_probe_report(report: ProbeReport, path: Path) -> None:
    """Write ``report`` as JSON, atomically (a crash leaves the old file or none)."""
    from alignlab.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, report.model_dump_json(indent=2) + "\n")
