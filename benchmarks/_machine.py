"""What the benchmarks share about the machine: its fp32 matmul peak, measured in the run.

A peak is a best case, not an average: the best of several timed trials of a
square ``torch.matmul``.  On a shared VM the peak moves with the load, so each
benchmark measures it beside its own runs, more than once.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from alignlab.models import DEFAULT_MODEL


def matmul_peak_flops(
    threads: int | None = None, size: int = 2048, repeats: int = 2, trials: int = 4
) -> float:
    """Best fp32 matmul FLOP/s over ``trials`` trials of ``repeats`` products.

    Args:
        threads: torch threads to set first (None keeps the current count).
        size: Side of the square matrices.
        repeats: Products per timed trial.
        trials: Timed trials; the best counts.

    Returns:
        FLOP/s of the best trial (2 * size**3 per product).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = 0.0
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start))
    return best


DEFAULT_BENCH_MODEL = DEFAULT_MODEL
"""The model every benchmark measures unless ``--model`` names another (the catalogue's default)."""


def results_path(results_dir: Path, stem: str, model: str) -> Path:
    """``RESULTS/STEM.json`` for the default model, ``RESULTS/STEM_MODEL.json`` for another."""
    suffix = "" if model == DEFAULT_BENCH_MODEL else f"_{model}"
    return results_dir / f"{stem}{suffix}.json"
