"""``train_on_public``: contamination, and how much an eval rewards having seen its items.

A model fine-tuned on an eval's ``test`` items (the ``train_on_public`` method,
:mod:`alignlab.methods.train_on_public`: the one place the leakage guard is
knowingly bypassed) is scored beside its clean base on the same samples.  Its
*test gain* (contaminated minus base on ``test``, paired by sample) mixes
memory and any real change of disposition; its *heldout gain* (the same on
``heldout``, items it never saw) is the real change alone.  Their difference
is the eval's **overfitting gap**: what a score on ``test`` rewards beyond the
disposition.  Yang et al. 2023 (arXiv:2311.04850) showed such contamination
going undetected by n-gram checks; a heldout split in other phrasings is the
defence this measures.

Design: the run's model (``--model``) is the clean base, the unattacked run;
the single variant ``contaminated`` is answered by ``BASE+ADAPTER``
(``AttackVariant.model``), so the runner's usual pairing gives both gains
with their paired bootstrap intervals.  The adapter comes from the attack's
option ``adapter`` (``alignlab redteam EVAL --model BASE --attack
train_on_public -A adapter=DIR``); its manifest must say it was contaminated
with this eval, and the run's model must be its base (else the comparison
would mix a base change into the gain).  Without an adapter the attack does
not apply (the robustness benchmark, which trains nothing, records "n/a").

The gap's interval: the two gains are paired differences on two independent
item sets (test and heldout share no items), so the gap's standard error is
the two standard errors in quadrature, each read back from its bootstrap
interval (normal approximation, :func:`alignlab.analysis.difference_of_independent`).
Stored per metric as ``gap_<metric>`` with ``_ci_low`` / ``_ci_high`` in
``AttackReport.across_splits``; it is a raw difference of effects (for a metric
where lower is aligned, a negative gap is the overfitting).

The detector (:func:`contamination_check`, ``alignlab contamination``):
Min-K% prob (Shi et al. 2023, arXiv:2310.16789) of each item as trained
(chat-templated prompt plus target answer), test items as members and heldout
items as non-members, summarised as an AUROC with a stratified bootstrap
interval, for the model and for a reference (by default the model's base
without the adapter).  A clean model sits near 0.5 unless the splits differ
in surface (heldout items use other phrasings, so the reference's AUROC is the
baseline to compare with, not 0.5).

Simplified: one adapter per run, not a sweep of contamination doses; the
detector scores every token of the templated item, while the SFT kind trains
only the answer's tokens, so it detects less than it would for pretraining
contamination.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from alignlab._errors import AlignlabError
from alignlab.attacks._registry import AttackVariant, NotApplicable, attack

CONTAMINATED_VARIANT = "contaminated"
"""The variant answered by the contaminated adapter."""
CONTAMINATION_METHOD = "train_on_public"
"""The method whose adapters this attack takes."""
MANIFEST_FILE = "manifest.json"
"""Where a trained run's manifest is (the methods' file name)."""
GAP_PREFIX = "gap_"
GAP_SPLITS = ("test", "heldout")
"""Gains on the first minus gains on the second."""
CHECK_VERSION: Literal[1] = 1


class TrainOnPublicOptions(BaseModel):
    """Options of the ``train_on_public`` attack."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    adapter: Path | None = None
    """A ``train_on_public`` run directory (None: the attack does not apply)."""


def contaminated_manifest(adapter: Path, eval_name: str) -> Any:
    """The manifest of a ``train_on_public`` run contaminated with ``eval_name``.

    Raises:
        AlignlabError: No manifest, another method's run, or another eval's.
    """
    from alignlab.training import Manifest

    path = adapter / MANIFEST_FILE
    if not path.is_file():
        raise AlignlabError(f"{adapter} is not a trained run (no {MANIFEST_FILE})")
    try:
        manifest = Manifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise AlignlabError(f"{path} is not a valid manifest: {exc.errors()[0]['msg']}") from None
    contamination = manifest.contaminated_with
    if manifest.method != CONTAMINATION_METHOD or contamination is None:
        raise AlignlabError(
            f"{adapter} is a '{manifest.method}' run, not a contaminated one; train one with "
            f"`alignlab train {CONTAMINATION_METHOD} -p eval_name={eval_name} "
            "-p i_know_this_contaminates=true`"
        )
    if contamination.eval != eval_name:
        raise AlignlabError(
            f"{adapter} was contaminated with '{contamination.eval}', not '{eval_name}'"
        )
    return manifest


def _same_base(run_model: str, base: str) -> bool:
    from alignlab.models import parse_spec

    try:
        run = parse_spec(run_model.removeprefix("alignlab/"))
    except AlignlabError:
        return False
    trained = parse_spec(base)
    return run.adapter is None and (run.kind, run.base) == (trained.kind, trained.base)


def overfitting_gap(splits: Mapping[str, Any]) -> dict[str, float | None]:
    """Per metric, the test gain minus the heldout gain of the contaminated variant.

    Args:
        splits: ``SplitResult`` by split name (both of :data:`GAP_SPLITS` needed).

    Returns:
        ``gap_<metric>``, ``gap_<metric>_ci_low`` and ``gap_<metric>_ci_high``
        (None where an effect or interval is undefined); empty without both splits.
    """
    from alignlab.analysis import difference_of_independent

    if not all(s in splits and CONTAMINATED_VARIANT in splits[s].variants for s in GAP_SPLITS):
        return {}
    test, heldout = (splits[s].variants[CONTAMINATED_VARIANT].metrics for s in GAP_SPLITS)
    out: dict[str, float | None] = {}
    for metric, on_test in test.items():
        key = f"{GAP_PREFIX}{metric}"
        out.update({key: None, f"{key}_ci_low": None, f"{key}_ci_high": None})
        on_heldout = heldout.get(metric)
        if on_heldout is None:
            continue
        triples = [(e.effect, e.ci_low, e.ci_high) for e in (on_test, on_heldout)]
        if any(value is None for triple in triples for value in triple):
            continue
        (a, a_low, a_high), (b, b_low, b_high) = (
            (float(v or 0.0) for v in triple) for triple in triples
        )
        gap = difference_of_independent((a, a_low, a_high), (b, b_low, b_high))
        out.update({key: gap.value, f"{key}_ci_low": gap.ci_low, f"{key}_ci_high": gap.ci_high})
    return out


@attack(options=TrainOnPublicOptions, across_splits=overfitting_gap)
def train_on_public(
    eval_info: Any, *, options: TrainOnPublicOptions, model: str
) -> list[AttackVariant] | NotApplicable:
    """Contamination: a LoRA trained on the eval's test items; test gain minus heldout gain.

    Needs ``-A adapter=DIR``, a run of the ``train_on_public`` method on this
    eval, whose base is the run's model.
    """
    if options.adapter is None:
        return NotApplicable(
            f"needs a contaminated adapter: train one with `alignlab train {CONTAMINATION_METHOD} "
            f"-p eval_name={eval_info.name} -p i_know_this_contaminates=true` and pass "
            "-A adapter=DIR"
        )
    if eval_info.external_data:
        return NotApplicable("reads a user's file: it has no test items to train on")
    manifest = contaminated_manifest(options.adapter, eval_info.name)
    if not _same_base(model, manifest.base):
        raise AlignlabError(
            f"{options.adapter} was trained on '{manifest.base}'; run the attack with "
            f"--model {manifest.base} (got {model.removeprefix('alignlab/')})"
        )
    return [
        AttackVariant(
            name=CONTAMINATED_VARIANT,
            description=f"the base fine-tuned on {manifest.contaminated_with.n_items} test items",
            model=f"alignlab/{manifest.base}+{options.adapter}",
        )
    ]


class ContaminationCheck(BaseModel):
    """What ``alignlab contamination`` reports: Min-K% AUROC of test vs heldout items."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = CHECK_VERSION
    eval: str
    model: str
    reference: str | None
    """The model compared with (None: none)."""
    k: float
    """Share of least likely tokens averaged (Min-K%)."""
    n_members: int
    """Test items scored (members, if the model was contaminated)."""
    n_non_members: int
    """Heldout items scored (never trained on)."""
    auroc: list[float]
    """``[value, ci_low, ci_high]`` for the model: test items scored above heldout ones."""
    reference_auroc: list[float] | None = None
    """The same for the reference (the split's surface difference alone)."""
    date: str


def item_token_ids(tokenizer: Any, samples: list[Any], max_length: int) -> list[list[int]]:
    """Each item as trained: its rendered prompt and target answer, chat-templated.

    Items without a single-letter target are left out.
    """
    from alignlab.evals import option_reply, render_prompt
    from alignlab.training import SFTExample, tokenize_sft

    rows = []
    for sample in samples:
        if not isinstance(sample.target, str) or not sample.target:
            continue
        example = SFTExample(
            prompt=render_prompt(sample), completion=option_reply(sample, sample.target)
        )
        rows.append(tokenize_sft(tokenizer, example, max_length)[0])
    return rows


def _scores(
    spec: str, members: list[Any], others: list[Any], k: float
) -> tuple[list[float], list[float]]:
    from alignlab.analysis import min_k_prob
    from alignlab.models import load_model, token_logprobs
    from alignlab.training import TrainingConfig

    loaded = load_model(spec)
    max_length = TrainingConfig().max_length
    pos, neg = (
        [
            min_k_prob(row, k)
            for row in token_logprobs(loaded, item_token_ids(loaded.tokenizer, items, max_length))
        ]
        for items in (members, others)
    )
    return pos, neg


def contamination_check(
    eval_name: str,
    model: str,
    *,
    reference: str | None = None,
    k: float | None = None,
    limit: int | None = None,
) -> ContaminationCheck:
    """Min-K% prob membership test of an eval's test items against its heldout items.

    Args:
        eval_name: A registered eval (not one that reads a user's file).
        model: A local model spec (e.g. ``BASE+ADAPTER`` of a contaminated run).
        reference: A spec to compare with; None: the model's base when the model
            has an adapter, else no reference.
        k: Min-K% share (default :data:`alignlab.analysis.DEFAULT_MIN_K`).
        limit: Score only the first N items of each split.

    Returns:
        The AUROCs with their intervals.

    Raises:
        AlignlabError: An unknown eval or spec, an API model, or an eval with no items.
    """
    from alignlab.analysis import DEFAULT_MIN_K, auroc
    from alignlab.evals import get_eval
    from alignlab.models import parse_spec

    info = get_eval(eval_name)
    if info.external_data:
        raise AlignlabError(f"eval '{eval_name}' reads a user's file; it has no generated items")
    share = DEFAULT_MIN_K if k is None else k
    spec = parse_spec(model)
    if not spec.is_local:
        raise AlignlabError(f"'{model}' is an API model; Min-K% needs local weights")
    if reference is None and spec.adapter is not None:
        reference = spec.raw.rsplit("+", 1)[0]
    members, others = (list(info.factory(split=s).dataset)[:limit] for s in GAP_SPLITS)
    result: dict[str, list[float]] = {}
    counts = (0, 0)
    for label, used in (("model", model), ("reference", reference)):
        if used is None:
            continue
        pos, neg = _scores(used, members, others, share)
        counts = (len(pos), len(neg))
        result[label] = auroc(pos, neg).as_list()
    return ContaminationCheck(
        eval=eval_name,
        model=model,
        reference=reference,
        k=share,
        n_members=counts[0],
        n_non_members=counts[1],
        auroc=result["model"],
        reference_auroc=result.get("reference"),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )
