"""Can the base model reach GRPO's reward? Loophole reward of sampled replies, per family.

GRPO learns only from groups whose replies are rewarded differently.  This
samples ``--generations`` replies (the ``grpo`` method's sampling: temperature
1.0, top-k off, ``--max-tokens`` tokens, the reply cut at the first special
token) for the first ``--prompts`` ``reward_hacking`` train prompts the method
draws, scores each with the loophole grader, and prints the mean reward per
item family and how many groups had rewards that differed.  Nothing is trained.
Run: ``.venv/bin/python benchmarks/bench_grpo_reward.py [--model M] [--prompts 12]
[--generations 8]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from datetime import UTC, datetime

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from _machine import DEFAULT_BENCH_MODEL
from alignlab.methods import graded_prompts, loophole_reward
from alignlab.methods.grpo import GrpoConfig
from alignlab.models import chat_prompt_ids, load_model
from alignlab.training import reply_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_BENCH_MODEL)
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=GrpoConfig().max_completion_length)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    started = time.perf_counter()
    loaded = load_model(options.model)
    tokenizer = loaded.tokenizer
    torch.manual_seed(options.seed)
    by_family: dict[str, list[float]] = defaultdict(list)
    groups_with_signal = 0
    items = graded_prompts("reward_hacking", options.prompts, options.seed)
    for item in items:
        ids = torch.tensor([chat_prompt_ids(tokenizer, list(item.prompt))])
        with torch.no_grad():
            output = loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=GrpoConfig().temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=options.max_tokens,
                num_return_sequences=options.generations,
                pad_token_id=tokenizer.pad_token_id,
            )
        rewards = [
            loophole_reward(item, reply_text(tokenizer, row[ids.shape[1] :].tolist()))
            for row in output
        ]
        by_family[item.family].append(sum(rewards) / len(rewards))
        groups_with_signal += max(rewards) > min(rewards)
    print(
        f"{options.model}, {len(items)} reward_hacking train prompts x {options.generations} "
        f"replies ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {time.perf_counter() - started:.0f} s)"
    )
    for family, means in sorted(by_family.items()):
        mean = sum(means) / len(means)
        print(f"  {family:14s} {len(means)} prompts, mean loophole reward {mean:.3f}")
    print(f"  groups whose rewards differed: {groups_with_signal} of {len(items)}")


if __name__ == "__main__":
    main()
