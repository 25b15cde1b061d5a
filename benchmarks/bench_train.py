"""Training throughput of our LoRA SFT configuration vs TRL's defaults, side by side in one run.

Same model (smollm2-135m, fp32 weights), same LoRA (``lora_model``: r 16 on all seven
projections), same data (the ``sft_control`` method's first examples, tokenised by
``tokenize_sft``), same batch size (8):

(a) TRL defaults: ``SFTConfig`` with only what is required (``output_dir``,
    ``use_cpu=True`` on a machine without GPU, ``completion_only_loss=True`` for the
    same objective, ``max_steps=1``): bf16 autocast, gradient checkpointing, padded
    batches, TRL's fused LM head;
(b) ours: :func:`alignlab.training.run_sft` (fp32, no checkpointing, padding-free,
    loss projected on completion positions only, attention within each sequence)
    at its default thread count (all cores; the opt-in thread tuner stays off).

Tokens/s = tokens trained (prompt + completion, no padding) / wall seconds of building
the trainer and training, each configuration warmed by one earlier untimed run.  The
runs alternate (ours, TRL, ours) and ours is the median of its rounds.  TRL runs with
whichever of 1 thread or all cores is faster at that moment (:func:`best_thread_count`),
so the ratio does not credit us for threads; what threads are worth is measured by
``--ablations`` (1 thread vs all cores).

Share of peak = 6 x N x (our tokens/s) / (fp32 matmul peak), N = every parameter of the
base model (134.5 M, the tied embedding counted once), the peak the best of several
2048^3 ``torch.matmul`` timings at 1 and at all threads, measured three times in the
run.  The 6 N convention counts weight gradients that LoRA never computes and the LM
head at every position, so the share of FLOPs actually computed is reported too.

``--ablations`` instead times forward + backward on fixed batches, interleaved, for
each change on its own (loss, attention, padding, LoRA targets, threads, batch size)
and adds them to the JSON under ``ablations``.

Writes ``benchmarks/results/train.json``; run with
``.venv/bin/python benchmarks/bench_train.py`` (about 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from datasets import Dataset  # type: ignore[import-untyped]
from transformers import AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

from _machine import DEFAULT_BENCH_MODEL, matmul_peak_flops, results_path
from alignlab.methods import BuildContext, SFTExample, registered_methods
from alignlab.models import ensure_embedded_weights
from alignlab.training import (
    TrainingConfig,
    best_thread_count,
    completion_loss,
    cpu_training_args,
    lora_model,
    run_sft,
    tokenize_sft,
    use_packed_attention,
)

RESULTS = Path(__file__).parent / "results" / "train.json"
BATCH = 8
OURS_EXAMPLES = 32  # four optimiser steps per timed round of ours
TRL_EXAMPLES = 8  # one optimiser step per timed TRL run (about 100 s or more)


def machine_peak(most: int) -> float:
    peak = max(matmul_peak_flops(most), matmul_peak_flops(1))
    torch.set_num_threads(most)
    return peak


def sft_examples(n: int) -> list[SFTExample]:
    info = registered_methods()["sft_control"]
    context = BuildContext(seed=0, token_budget=24_000, base_spec="smollm2-135m")
    data = info.builder(info.config(), context)
    return list(data[:n])


def load() -> float:
    return os.getloadavg()[0]


def time_ours(model: Any, tokenizer: Any, examples: list[SFTExample], threads: int | None) -> float:
    """Seconds for ``run_sft`` on ``examples`` (trainer construction included)."""
    training = TrainingConfig(threads=threads)
    if threads is not None:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        run_sft(model, tokenizer, examples, training, Path(work))
        return time.perf_counter() - start


class _StepTimer(TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.steps: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.steps.append(time.perf_counter() - self._start)


def time_trl_defaults(model: Any, tokenizer: Any, rows: list[tuple[list[int], list[int]]]) -> float:
    """Seconds for TRL's SFTTrainer with default SFTConfig on ``rows`` (construction included)."""
    dataset = Dataset.from_dict(
        {"input_ids": [r[0] for r in rows], "completion_mask": [r[1] for r in rows]}
    )
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        # only what is required: a scratch directory; use_cpu (bf16 is refused without it on a
        # machine with no GPU); the same objective as ours (TRL turns completion-only loss on
        # by itself only for prompt/completion datasets, not for pre-tokenised ones); one step
        args = SFTConfig(output_dir=work, use_cpu=True, completion_only_loss=True, max_steps=1)
        timer = _StepTimer()
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[timer],
        )
        trainer.train()
        seconds = time.perf_counter() - start
    if len(timer.steps) != 1 or len(rows) > args.per_device_train_batch_size:
        raise RuntimeError(f"expected one step over all rows, got {len(timer.steps)}")
    print(
        f"    TRL defaults: bf16={args.bf16} checkpointing={args.gradient_checkpointing} "
        f"padding_free={args.padding_free} threads={torch.get_num_threads()} "
        f"steps={[round(s, 1) for s in timer.steps]}"
    )
    return seconds


def tokens(rows: list[tuple[list[int], list[int]]]) -> int:
    return sum(len(r[0]) for r in rows)


def main_benchmark(model: str, with_trl: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    most = torch.get_num_threads()
    weights_dir = ensure_embedded_weights(model)
    tokenizer = AutoTokenizer.from_pretrained(str(weights_dir))
    examples = sft_examples(2 * OURS_EXAMPLES + BATCH)
    rows = [tokenize_sft(tokenizer, e, TrainingConfig().max_length) for e in examples]
    ours_model = lora_model(weights_dir, TrainingConfig())
    trl_model = lora_model(weights_dir, TrainingConfig()) if with_trl else None
    params = sum(p.numel() for p in ours_model.get_base_model().parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in ours_model.parameters() if p.requires_grad)
    loads = [load()]
    peaks = [machine_peak(most)]
    print(
        f"peak {peaks[0] / 1e9:.1f} GFLOP/s, load {loads[0]:.1f}, threads {most}, "
        f"N {params / 1e6:.1f} M, LoRA {trainable / 1e6:.2f} M"
    )

    # warm-up: one untimed run of each configuration (first-call costs, allocator)
    warm = examples[-BATCH:]
    time_ours(ours_model, tokenizer, warm, None)
    if trl_model is not None:
        torch.set_num_threads(best_thread_count(most))
        shortest = min(rows[:-BATCH], key=lambda r: len(r[0]))
        time_trl_defaults(trl_model, tokenizer, [shortest])
        torch.set_num_threads(most)
    print(f"warm-up done at {time.perf_counter() - started:.0f} s")

    ours_rates: list[float] = []
    trl_rates: list[float] = []
    trl_threads: list[int] = []
    rounds = [examples[:OURS_EXAMPLES], examples[OURS_EXAMPLES : 2 * OURS_EXAMPLES]]
    round_rows = [rows[:OURS_EXAMPLES], rows[OURS_EXAMPLES : 2 * OURS_EXAMPLES]]
    for index, (chunk, chunk_rows) in enumerate(zip(rounds, round_rows, strict=True)):
        seconds = time_ours(ours_model, tokenizer, chunk, None)
        ours_rates.append(tokens(chunk_rows) / seconds)
        loads.append(load())
        print(
            f"ours round {index + 1}: {ours_rates[-1]:.1f} tokens/s ({seconds:.1f} s), "
            f"load {loads[-1]:.1f}"
        )
        if index == 0 and trl_model is not None:
            # one TRL step on the first batch of the round just timed
            threads = best_thread_count(most)
            trl_threads.append(threads)
            batch_rows = chunk_rows[:TRL_EXAMPLES]
            seconds = time_trl_defaults(trl_model, tokenizer, batch_rows)
            torch.set_num_threads(most)
            trl_rates.append(tokens(batch_rows) / seconds)
            loads.append(load())
            print(
                f"TRL defaults ({threads} threads): {trl_rates[-1]:.2f} tokens/s "
                f"({seconds:.1f} s), load {loads[-1]:.1f}"
            )
            peaks.append(machine_peak(most))
    torch.set_num_threads(most)
    peaks.append(machine_peak(most))

    peak = max(peaks)
    ours = statistics.median(ours_rates)
    trl = statistics.median(trl_rates) if trl_rates else float("nan")
    scored = sum(sum(m[1:]) for _, m in rows[: 2 * OURS_EXAMPLES])
    all_tokens = tokens(rows[: 2 * OURS_EXAMPLES])
    config = ours_model.get_base_model().config
    lm_head = config.vocab_size * config.hidden_size
    # FLOPs actually computed per token: forward 2N and input-gradient 2N of the layers,
    # LoRA forward + both gradients, LM head forward + input gradient on scored positions only
    computed = 4 * (params - lm_head) + 6 * trainable + 4 * lm_head * scored / all_tokens
    result = {
        "ours_over_trl_defaults": ours / trl if trl_rates else None,
        "share_of_matmul_peak": 6 * params * ours / peak,
        "share_of_matmul_peak_computed_flops": computed * ours / peak,
        "tokens_per_s": {"ours": ours, "trl_defaults": trl if trl_rates else None},
        "ours_rounds_tokens_per_s": ours_rates,
        "trl_defaults_threads": trl_threads,
        "matmul_peak_gflops": peak / 1e9,
        "matmul_peaks_gflops": [p / 1e9 for p in peaks],
        "params": params,
        "lora_params": trainable,
        "completion_token_fraction": scored / all_tokens,
        "load_average_1min": loads,
        "wall_s": time.perf_counter() - started,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}"
        ),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    if trl_rates:
        print(f"ours / TRL defaults: {ours / trl:.1f}x (target >= 15)")
    print(
        f"share of matmul peak (6N): {result['share_of_matmul_peak']:.2f} (target >= 0.5); "
        f"computed FLOPs: {result['share_of_matmul_peak_computed_flops']:.2f}"
    )
    return result


# ---- ablations: forward + backward on fixed batches, one change at a time ----------------


def packed_batch(rows: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    ids = [t for r in rows for t in r[0]]
    labels = [t if m else -100 for r in rows for t, m in zip(r[0], r[1], strict=True)]
    position_ids = [i for r in rows for i in range(len(r[0]))]
    bounds = [0]
    for r in rows:
        bounds.append(bounds[-1] + len(r[0]))
    cu = torch.tensor(bounds, dtype=torch.int32)
    return {
        "input_ids": torch.tensor([ids]),
        "labels": torch.tensor([labels]),
        "position_ids": torch.tensor([position_ids]),
        "cu_seq_lens_q": cu,
        "cu_seq_lens_k": cu,
    }


def padded_batch(rows: list[tuple[list[int], list[int]]], pad: int) -> dict[str, Any]:
    width = max(len(r[0]) for r in rows)
    ids, labels, mask = [], [], []
    for r, m in rows:
        extra = width - len(r)
        ids.append(r + [pad] * extra)
        labels.append([t if k else -100 for t, k in zip(r, m, strict=True)] + [-100] * extra)
        mask.append([1] * len(r) + [0] * extra)
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }


def trl_fused_loss(trainer: Any) -> Callable[[Any, dict[str, Any]], Any]:
    def loss(model: Any, batch: dict[str, Any]) -> Any:
        return SFTTrainer.compute_loss(trainer, model, dict(batch))

    return loss


def ablations(repeats: int, model: str) -> dict[str, Any]:
    most = torch.get_num_threads()
    weights_dir = ensure_embedded_weights(model)
    tokenizer = AutoTokenizer.from_pretrained(str(weights_dir))
    examples = sft_examples(2 * BATCH)
    rows = [tokenize_sft(tokenizer, e, TrainingConfig().max_length) for e in examples]
    batch8, batch16 = rows[:BATCH], rows[: 2 * BATCH]

    def fresh(targets: tuple[str, ...] | None = None, packed: bool = True) -> Any:
        training = TrainingConfig() if targets is None else TrainingConfig(lora_targets=targets)
        model = lora_model(weights_dir, training)
        model.train()
        if packed:
            use_packed_attention(model)
        return model

    ours = fresh()
    masked = fresh(packed=False)  # SDPA over the whole packed row with the block mask
    qv = fresh(("q_proj", "v_proj"))
    dataset = Dataset.from_dict({"input_ids": [r[0] for r in batch8]})
    with tempfile.TemporaryDirectory() as work:
        args = SFTConfig(
            **cpu_training_args(TrainingConfig(), Path(work)), padding_free=True, max_length=None
        )
        fused_trainer = SFTTrainer(
            model=masked, args=args, train_dataset=dataset, processing_class=tokenizer
        )
    fused = trl_fused_loss(fused_trainer)
    pad = int(tokenizer.pad_token_id)
    # name -> (model, loss, batch, tokens, threads or None for the tuner's pick)
    variants: dict[str, tuple[Any, Any, dict[str, Any], int, int | None]] = {
        "ours": (ours, completion_loss, packed_batch(batch8), tokens(batch8), None),
        "trl_fused_lm_head_and_block_mask": (
            masked,
            fused,
            packed_batch(batch8),
            tokens(batch8),
            None,
        ),
        "own_loss_and_block_mask": (
            masked,
            completion_loss,
            packed_batch(batch8),
            tokens(batch8),
            None,
        ),
        "padded_batch_own_loss": (
            ours,
            completion_loss,
            padded_batch(batch8, pad),
            tokens(batch8),
            None,
        ),
        "lora_q_v_only": (qv, completion_loss, packed_batch(batch8), tokens(batch8), None),
        "batch_16": (ours, completion_loss, packed_batch(batch16), tokens(batch16), None),
        "ours_1_thread": (ours, completion_loss, packed_batch(batch8), tokens(batch8), 1),
        f"ours_{most}_threads": (ours, completion_loss, packed_batch(batch8), tokens(batch8), most),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    loads = [load()]
    for repeat in range(repeats + 1):  # the first pass warms up and is not counted
        tuned = best_thread_count(most)
        for name, (model, loss_fn, batch, count, threads) in variants.items():
            torch.set_num_threads(threads or tuned)
            start = time.perf_counter()
            loss_fn(model, batch).backward()
            seconds = time.perf_counter() - start
            model.zero_grad(set_to_none=True)
            if repeat > 0:
                rates[name].append(count / seconds)
        loads.append(load())
        print(
            f"pass {repeat}: "
            + ", ".join(f"{n} {v[-1]:.1f}" for n, v in rates.items() if v)
            + f" tokens/s; load {loads[-1]:.1f}"
        )
    torch.set_num_threads(most)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    return {
        "what": "forward + backward tokens/s on fixed batches (no optimiser step), median",
        "tokens_per_s": medians,
        "relative_to_ours": {name: v / medians["ours"] for name, v in medians.items()},
        "repeats": repeats,
        "load_average_1min": loads,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ablations", action="store_true", help="time each change on its own")
    parser.add_argument("--repeats", type=int, default=3, help="ablation passes")
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL, help="a named model")
    parser.add_argument(
        "--skip-trl",
        action="store_true",
        help="time ours only (one step of TRL's defaults on a 0.5B model takes many minutes)",
    )
    options = parser.parse_args()
    results = results_path(RESULTS.parent, "train", options.model)
    torch.set_num_threads(os.cpu_count() or 1)
    previous = json.loads(results.read_text()) if results.is_file() else {}
    if options.ablations:
        result = {**previous, "ablations": ablations(options.repeats, options.model)}
    else:
        measured = main_benchmark(options.model, with_trl=not options.skip_trl)
        result = {**measured, "model": options.model, "ablations": previous.get("ablations")}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
