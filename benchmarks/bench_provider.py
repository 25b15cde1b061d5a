"""Throughput of the alignlab Inspect provider, measured side by side in one run.

Same weights (the cached fp32 safetensors of ``--model``, default smollm2-135m),
same generation task (256 samples, greedy, at most 24 new tokens):

(a) Inspect's built-in ``hf`` provider pointed at the cached directory (its default
    batch size, 32, and greedy decoding);
(b) the alignlab provider through ``inspect_ai.eval``;
(c) a plain batched ``model.generate`` loop, batch 32, no Inspect.

Also (b)'s FLOP/s (2 x parameters x (prompt + generated tokens) / s) as a share
of the fp32 matmul peak measured in this run, and choice scoring vs
generate-and-parse (max 16 new tokens) on a 4-option multiple-choice task.

Writes ``benchmarks/results/provider.json`` (``provider_MODEL.json`` for another
``--model``); run with ``make bench`` or ``.venv/bin/python benchmarks/bench_provider.py
[--model qwen2.5-coder-0.5b]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig, get_model
from inspect_ai.solver import generate

from _machine import DEFAULT_BENCH_MODEL, matmul_peak_flops, results_path
from alignlab.evals import choice_answer, choice_scorer
from alignlab.evals.sycophancy import sycophancy_samples
from alignlab.models import DEFAULT_MAX_CONNECTIONS, ensure_embedded_weights, load_model

N_SAMPLES = 256
MAX_NEW = 24
RESULTS = Path(__file__).parent / "results" / "provider.json"


def prompts() -> list[str]:
    # varied lengths, as in a real eval: opinion-conditioned claims from two splits
    texts = [str(s.input) for s in sycophancy_samples("test", 60)]
    texts += [str(s.input) for s in sycophancy_samples("heldout", 60)]
    random.Random(0).shuffle(texts)
    return texts[:N_SAMPLES]


def generation_task(texts: list[str]) -> Task:
    return Task(
        dataset=[Sample(input=t, target="") for t in texts],
        solver=generate(),
        config=GenerateConfig(max_tokens=MAX_NEW, temperature=0.0),
    )


def timed_eval(task: Task, model: object, max_connections: int, log_dir: str) -> tuple[float, int]:
    start = time.perf_counter()
    [log] = eval(
        task, model=model, max_connections=max_connections, display="none", log_dir=log_dir
    )  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert log.status == "success", log.error
    assert log.samples is not None
    tokens = sum(s.output.usage.total_tokens for s in log.samples if s.output.usage)
    return elapsed, tokens


def raw_generate(weights_dir: Path, texts: list[str], batch: int = 32) -> float:
    loaded = load_model(str(weights_dir))
    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    chats = [
        tok.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=False
        )
        for t in texts
    ]
    start = time.perf_counter()
    for i in range(0, len(chats), batch):
        enc = tok(chats[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            model.generate(
                **enc, max_new_tokens=MAX_NEW, do_sample=False, pad_token_id=tok.pad_token_id
            )
    return time.perf_counter() - start


def mc_task(mode: str) -> Task:
    rng = random.Random(1)
    samples = []
    for i in range(128):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        right = a + b
        options = [right, right + 10, right - 10, right + 1]
        rng.shuffle(options)
        samples.append(
            Sample(
                input=f"What is {a} + {b}?",
                choices=[str(o) for o in options],
                target="ABCD"[options.index(right)],
                id=i,
            )
        )
    return Task(
        dataset=samples, solver=choice_answer(mode=mode, max_tokens=16), scorer=choice_scorer()
    )  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL, help="a named model")
    args = parser.parse_args()
    results = results_path(RESULTS.parent, "provider", args.model)
    torch.set_num_threads(os.cpu_count() or 1)
    weights_dir = ensure_embedded_weights(args.model)
    texts = prompts()
    params = sum(p.numel() for p in load_model(str(weights_dir)).model.parameters())
    peak = matmul_peak_flops(repeats=10, trials=5)
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s; parameters: {params / 1e6:.1f} M")

    with tempfile.TemporaryDirectory() as logs:
        hf = get_model("hf/local", model_path=str(weights_dir), do_sample=False, device="cpu")
        hf_s, _ = timed_eval(generation_task(texts), hf, 32, logs)
        ours_model = get_model(f"alignlab/{weights_dir}")
        ours_s, ours_tokens = timed_eval(
            generation_task(texts), ours_model, DEFAULT_MAX_CONNECTIONS, logs
        )
        reused = ours_model.api.engine.reused_prefix_tokens  # type: ignore[attr-defined]
        raw_s = raw_generate(weights_dir, texts)
        choice_s, _ = timed_eval(mc_task("loglik"), ours_model, DEFAULT_MAX_CONNECTIONS, logs)
        parse_s, _ = timed_eval(mc_task("generate"), ours_model, DEFAULT_MAX_CONNECTIONS, logs)
    peak = max(
        peak, matmul_peak_flops(repeats=10, trials=5)
    )  # again at the end: the machine's load varies

    rates = {
        name: N_SAMPLES / s
        for name, s in (("inspect_hf", hf_s), ("alignlab", ours_s), ("raw_generate", raw_s))
    }
    share = 2 * params * ours_tokens / ours_s / peak
    # prefix sharing skips the forward pass of shared prompt tokens; the formula
    # still counts them, so also report the share of FLOPs actually computed
    computed_share = 2 * params * (ours_tokens - reused) / ours_s / peak
    result = {
        "alignlab_over_inspect_hf": rates["alignlab"] / rates["inspect_hf"],
        "alignlab_over_raw_generate": rates["alignlab"] / rates["raw_generate"],
        "share_of_matmul_peak": share,
        "choice_over_generate": parse_s / choice_s,
        "share_of_matmul_peak_computed_tokens_only": computed_share,
        "reused_prefix_tokens": reused,
        "samples_per_s": rates,
        "matmul_peak_gflops": peak / 1e9,
        "alignlab_tokens": ours_tokens,
        "choice_seconds": choice_s,
        "generate_and_parse_seconds": parse_s,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}"
        ),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "model": args.model,
        "parameters": params,
    }
    for name, rate in rates.items():
        print(f"{name:>14}: {rate:6.2f} samples/s")
    print(f"alignlab / inspect hf:   {result['alignlab_over_inspect_hf']:.2f}x (target >= 1.5)")
    print(f"alignlab / raw generate: {result['alignlab_over_raw_generate']:.2f}x (target >= 1.0)")
    print(f"share of matmul peak:    {share:.2f} (target >= 0.55; formula counts all tokens)")
    print(f"  counting only computed tokens: {computed_share:.2f} ({reused} prefix tokens reused)")
    print(f"choice / generate-parse: {result['choice_over_generate']:.2f}x (target >= 5)")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
