"""Load a model spec and generate a few tokens: ``python scripts/smoke_model.py SPEC [PROMPT]``.

A manual check after ``make models`` (the first load of a named model converts
it, which takes minutes for ~500 MB of GGUF).  Prints the load and generation
times and the greedy reply to the prompt, as a chat turn.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    """Load ``argv[0]`` and answer ``argv[1]`` (default: a small sum)."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    spec = argv[0]
    prompt = argv[1] if len(argv) > 1 else "What is 2+2?"

    import torch

    from alignlab.models import load_model

    start = time.perf_counter()
    loaded = load_model(spec)
    load_s = time.perf_counter() - start
    tokenizer = loaded.tokenizer
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(text, return_tensors="pt")
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(**ids, max_new_tokens=24, do_sample=False)
    gen_s = time.perf_counter() - start
    new = out[0, ids["input_ids"].shape[1] :]
    parameters = sum(p.numel() for p in loaded.model.parameters())
    print(f"spec: {spec}  weights: {loaded.weights_dir}  parameters: {parameters:,}")
    print(f"load: {load_s:.1f} s  generate {len(new)} tokens: {gen_s:.1f} s")
    print(f"prompt: {prompt!r}\nreply: {tokenizer.decode(new, skip_special_tokens=True)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
