"""Hand-made records of a small, partly finished run (no store, no training)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alignlab.experiment import (
    CellRecord,
    CellState,
    ComparisonRecord,
    CurvePoint,
    MetricRecord,
    RunRecord,
)

RUN_ID = "ab" * 32
EVIL = 'rm$<script>alert("x")</script>[p=0.5]'
"""A variant label that must be escaped in HTML and shown literally by matplotlib."""
VARIANTS = ("none", "sft_control", EVIL)
EVALS = {"sycophancy": ("agreement_rate",), "mistakes": ("correction_rate", "double_down_rate")}
SPLITS = ("test", "heldout")
FAILED = ("sft_control", "sycophancy", "test")
QUEUED = ("sft_control", "mistakes", "heldout")
NAN_METRIC = ("sft_control", "sycophancy", "heldout", "agreement_rate")
ERROR = 'RuntimeError: CUDA <oom> & "friends"'
SPEC = """name: demo & <script>alert("spec")</script>
base: smollm2-135m
methods: [none, sft_control, {reward_misspecification: {p: 0.5}}]
evals: [sycophancy, mistakes]
"""
FEATURES = {
    "none": (),
    "sft_control": ("synthetic data",),
    "reward_misspecification": ("RL", "self-generated data", "<regularisation>"),
}
VERSIONS = {"torch": "2.13.0", "transformers": "5.1.0", "alignlab": "0.1.0"}


def key(*parts: object) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()


def log_path(variant: str, eval_name: str, split: str) -> str:
    return f"logs/{variant.split('$')[0]}-{eval_name}-{split}.eval"


@dataclass
class Run:
    run: RunRecord
    cells: list[CellRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    curves: list[CurvePoint] = field(default_factory=list)
    comparisons: list[ComparisonRecord] = field(default_factory=list)

    def args(
        self,
    ) -> tuple[
        RunRecord, list[CellRecord], list[MetricRecord], list[CurvePoint], list[ComparisonRecord]
    ]:
        return self.run, self.cells, self.metrics, self.curves, self.comparisons


def _value(variant: str, eval_name: str, split: str, metric: str) -> float:
    base = 0.40 + 0.05 * len(metric) % 0.3 + (0.02 if split == "test" else 0.0)
    bump = {"none": 0.0, "sft_control": 0.03, EVIL: 0.18 if split == "test" else 0.01}[variant]
    return base + bump


def make_run(run_dir: Path | None = None) -> Run:
    """3 variants x 2 evals x 2 splits, one eval cell failed, one queued, one NaN metric.

    With ``run_dir``, the done cells' log files are created there.
    """
    run = Run(
        RunRecord(
            run_id=RUN_ID,
            name="demo <b>run</b>",
            spec_yaml=SPEC,
            spec_json={"name": "demo"},
            created_at="2025-01-02T03:04:05Z",
            alignlab_version="0.1.0",
        )
    )
    for variant in VARIANTS:
        train_key = key("train", variant)
        run.cells.append(
            CellRecord(
                key=train_key,
                run_id=RUN_ID,
                kind="train",
                label=variant,
                inputs={"method": variant, "seed": 0, "library_versions": VERSIONS},
                state="done",
                artifact=f"adapters/{train_key[:8]}",
            )
        )
        if variant != "none":
            start = 2.5 if variant == "sft_control" else 3.0
            run.curves += [
                CurvePoint(cell_key=train_key, step=step, loss=start * 0.9**step + 0.4)
                for step in range(1, 31)
            ]
    for eval_name, metric_names in EVALS.items():
        for split in SPLITS:
            for variant in VARIANTS:
                where = (variant, eval_name, split)
                eval_key = key("eval", *where)
                state: CellState = (
                    "failed" if where == FAILED else "queued" if where == QUEUED else "done"
                )
                artifact = None if state == "queued" else log_path(*where)
                run.cells.append(
                    CellRecord(
                        key=eval_key,
                        run_id=RUN_ID,
                        kind="eval",
                        label=variant,
                        inputs={"eval": eval_name, "split": split, "limit": 50},
                        upstream=key("train", variant),
                        state=state,
                        artifact=artifact,
                        error=ERROR if state == "failed" else None,
                    )
                )
                if run_dir is not None and artifact is not None and state == "done":
                    (run_dir / artifact).parent.mkdir(parents=True, exist_ok=True)
                    (run_dir / artifact).write_bytes(b"PK fake inspect log")
                if state != "done":
                    continue
                for metric in metric_names:
                    value = _value(variant, eval_name, split, metric)
                    nan = (*where, metric) == NAN_METRIC
                    run.metrics.append(
                        MetricRecord(
                            cell_key=eval_key,
                            metric=metric,
                            value=math.nan if nan else value,
                            ci_low=math.nan if nan else value - 0.05,
                            ci_high=math.nan if nan else value + 0.05,
                            n=50,
                        )
                    )
    done = {
        (c.label, c.inputs["eval"], c.inputs["split"])
        for c in run.cells
        if c.state == "done" and c.kind == "eval"
    }
    for reference, variants in (("none", ("sft_control", EVIL)), ("sft_control", (EVIL,))):
        for eval_name, metric_names in EVALS.items():
            for split in SPLITS:
                for variant in variants:
                    if (variant, eval_name, split) not in done or (
                        reference,
                        eval_name,
                        split,
                    ) not in done:
                        continue
                    for metric in metric_names:
                        diff = _value(variant, eval_name, split, metric) - _value(
                            reference, eval_name, split, metric
                        )
                        if NAN_METRIC in (
                            (reference, eval_name, split, metric),
                            (variant, eval_name, split, metric),
                        ):
                            diff = math.nan
                        big = abs(diff) > 0.1
                        run.comparisons.append(
                            ComparisonRecord(
                                run_id=RUN_ID,
                                label=variant,
                                reference=reference,
                                seed=0,
                                eval=eval_name,
                                split=split,
                                metric=metric,
                                difference=diff,
                                ci_low=diff - 0.04,
                                ci_high=diff + 0.04,
                                p_value=0.001 if big else 0.4,
                                p_adjusted=0.004 if big else 0.6,
                                n_pairs=50,
                            )
                        )
    return run


def make_patterns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": ["RL", "synthetic data", "<regularisation>"],
            "mean_with": [0.12, 0.03, math.nan],
            "mean_without": [0.02, 0.08, 0.05],
            "difference": [0.10, -0.05, math.nan],
            "ci_low": [0.01, -0.12, math.nan],
            "ci_high": [0.19, 0.02, math.nan],
            "n_with": [1, 1, 0],
            "n_without": [1, 1, 2],
        }
    )
