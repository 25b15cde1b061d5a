"""Reward over-optimisation: best-of-N against a proxy reward model, scored by the gold reward.

Gao et al. 2022 (arXiv:2210.10760) showed that as a policy is optimised
against a proxy reward model, the *gold* reward first rises and then falls,
while the proxy keeps rising.  Best-of-N is the simplest optimiser: sample N
replies, keep the one the proxy scores highest; its KL divergence from the
policy is analytic, ``KL = log n - (n - 1) / n`` (:func:`best_of_n_kl`).

Here the gold reward is the programmatic ground truth of the evals
(:func:`alignlab.rewards.gold_reward`): the eval's own reply classifier reads
the reply as the truthful / mistake-owning / honest candidate (1) or not (0).
Prompts are the free-text ``heldout`` (or ``test``) items, one per distinct
prompt.

Estimator: ``N_max`` replies are drawn once per prompt; for every smaller
``n`` the expected proxy and gold reward of the best of ``n`` replies drawn
without replacement from those ``N_max`` is computed exactly (the unbiased
estimator of Nakano et al. 2021, arXiv:2112.09332, appendix, as used by Gao
et al.): with the replies sorted by proxy reward, the ``i``-th lowest (1-based)
is the best of a random ``n``-subset with probability
``C(i - 1, n - 1) / C(N_max, n)``.  Ties in proxy reward go to the earlier
draw (as an argmax picks the first).  Intervals: percentile bootstrap over
prompts (:func:`alignlab.analysis.bootstrap_ci`).

Simplified: the gold reward is binary, not a gold reward model's scalar;
replies are sampled at one temperature with a fixed token cap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from alignlab._errors import AlignlabError
from alignlab.analysis import Estimate, bootstrap_ci
from alignlab.rewards._pairs import PreferencePair, gold_reward
from alignlab.rewards._registry import Scorer
from alignlab.rewards._score import CONFIDENCE
from alignlab.training import Message

DEFAULT_NS: Final = (1, 2, 4, 8, 16, 32, 64)
"""The N of the curve unless given."""
SAMPLE_TEMPERATURE: Final = 1.0
"""Sampling temperature of the policy (its own distribution, as best-of-N's KL assumes)."""
SAMPLE_MAX_TOKENS: Final = 48
"""Longest sampled reply in tokens."""

Sampler = Callable[[Sequence[tuple[Message, ...]], int], list[list[str]]]
"""``(prompts, n) -> n replies per prompt`` (the policy)."""


def best_of_n_kl(n: int) -> float:
    """KL divergence of best-of-``n`` from the policy: ``log n - (n - 1) / n``.

    Raises:
        AlignlabError: If ``n`` is below 1.
    """
    if n < 1:
        raise AlignlabError(f"best-of-N needs N >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def parse_ns(text: str) -> list[int]:
    """``"1,2,4"`` as sorted distinct N, each at least 1.

    Raises:
        AlignlabError: On a non-integer or an N below 1.
    """
    values = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise AlignlabError(f"--n takes integers separated by commas, got '{text}'") from None
        best_of_n_kl(value)  # refuses N < 1
        values.append(value)
    return sorted(set(values))


def best_of_n_expectation(proxy: Sequence[float], values: Sequence[float], n: int) -> float:
    """Expected ``values`` of the proxy-best of ``n`` replies drawn without replacement.

    Args:
        proxy: Proxy reward of each of the ``N_max`` replies, in draw order.
        values: What to average (gold or proxy reward), one per reply.
        n: Replies per draw, ``1 <= n <= N_max``.

    Raises:
        AlignlabError: If ``n`` is out of range or the lengths differ.
    """
    total = len(proxy)
    if len(values) != total or not 1 <= n <= total:
        raise AlignlabError(f"need 1 <= n <= {total} and one value per reply, got n={n}")
    order = sorted(
        range(total), key=lambda i: (proxy[i], -i)
    )  # ties: the earlier draw ranks higher
    subsets = math.comb(total, n)
    return sum(math.comb(rank, n - 1) / subsets * values[index] for rank, index in enumerate(order))


@dataclass(frozen=True)
class BestOfNPoint:
    """One point of the over-optimisation curve."""

    n: int
    """Replies per prompt the proxy chooses from."""
    kl: float
    """Analytic KL of best-of-``n`` from the policy (nats)."""
    proxy: Estimate
    """Mean proxy reward of the chosen reply, with a bootstrap interval over prompts."""
    gold: Estimate
    """Mean gold reward of the chosen reply, with a bootstrap interval over prompts."""

    def row(self) -> dict[str, object]:
        """The point as the benchmark JSON writes it (means, and their intervals)."""
        return {
            "n": self.n,
            "kl": self.kl,
            "proxy": self.proxy.value,
            "gold": self.gold.value,
            "proxy_ci": [self.proxy.ci_low, self.proxy.ci_high],
            "gold_ci": [self.gold.ci_low, self.gold.ci_high],
        }


def best_of_n_curve(
    proxy: Sequence[Sequence[float]],
    gold: Sequence[Sequence[float]],
    ns: Sequence[int],
    seed: int = 0,
) -> list[BestOfNPoint]:
    """The curve from per-prompt proxy and gold rewards of ``N_max`` replies each.

    Raises:
        AlignlabError: On no prompts, ragged rewards, or an N outside ``[1, N_max]``.
    """
    if not proxy or len(proxy) != len(gold):
        raise AlignlabError("best-of-N needs the same non-empty prompts for proxy and gold")
    points = []
    for n in ns:
        kl = best_of_n_kl(n)
        proxies = [best_of_n_expectation(p, p, n) for p in proxy]
        golds = [best_of_n_expectation(p, g, n) for p, g in zip(proxy, gold, strict=True)]
        points.append(
            BestOfNPoint(
                n=n,
                kl=kl,
                proxy=bootstrap_ci(proxies, confidence=CONFIDENCE, seed=seed),
                gold=bootstrap_ci(golds, confidence=CONFIDENCE, seed=seed),
            )
        )
    return points


def best_of_n_prompts(pairs: Sequence[PreferencePair]) -> list[PreferencePair]:
    """One pair per distinct prompt among the free-text pairs (their classifier is the gold)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    out = []
    for pair in pairs:
        key = tuple((m["role"], m["content"]) for m in pair.prompt)
        if pair.patterns and key not in seen:
            seen.add(key)
            out.append(pair)
    return out


@dataclass(frozen=True)
class BestOfNRun:
    """A best-of-N experiment: the curve and the draws it was computed from."""

    points: list[BestOfNPoint]
    """One point per N."""
    replies: list[list[str]]
    """The ``N_max`` replies per prompt."""
    proxy: list[list[float]]
    """Their proxy rewards."""
    gold: list[list[float]]
    """Their gold rewards."""


def run_best_of_n(
    scorer: Scorer,
    pairs: Sequence[PreferencePair],
    sampler: Sampler,
    ns: Sequence[int] = DEFAULT_NS,
    seed: int = 0,
) -> BestOfNRun:
    """Sample ``max(ns)`` replies per prompt once, score them by proxy and gold, build the curve.

    Args:
        scorer: The proxy reward model.
        pairs: Evaluation pairs; their free-text prompts are used (:func:`best_of_n_prompts`).
        sampler: The policy.
        ns: The N of the curve.
        seed: Seed of the bootstrap.

    Raises:
        AlignlabError: On an N below 1, no free-text prompt, or a sampler that returns
            the wrong number of replies.
    """
    for n in ns:
        best_of_n_kl(n)  # refuses N < 1 in one line
    ns = sorted(set(ns))
    if not ns:
        raise AlignlabError("best-of-N needs at least one N")
    prompts = best_of_n_prompts(pairs)
    if not prompts:
        raise AlignlabError("no free-text prompts among the pairs (lettered items have no gold)")
    n_max = ns[-1]
    replies = sampler([p.prompt for p in prompts], n_max)
    if len(replies) != len(prompts) or any(len(r) != n_max for r in replies):
        raise AlignlabError(f"the policy must return {n_max} replies for each prompt")
    flat_prompts = [p.prompt for p, rs in zip(prompts, replies, strict=True) for _ in rs]
    flat = scorer.score(flat_prompts, [r for rs in replies for r in rs])
    proxy = [flat[i * n_max : (i + 1) * n_max] for i in range(len(prompts))]
    gold = [[gold_reward(p, r) for r in rs] for p, rs in zip(prompts, replies, strict=True)]
    return BestOfNRun(best_of_n_curve(proxy, gold, ns, seed), replies, proxy, gold)


def policy_sampler(
    spec: str,
    temperature: float = SAMPLE_TEMPERATURE,
    max_new_tokens: int = SAMPLE_MAX_TOKENS,
    seed: int = 0,
) -> Sampler:
    """A sampler drawing replies from a local model spec (a base, or ``BASE+ADAPTER``).

    Each reply has its own seed (``seed``, prompt and draw index), so the draws
    are reproducible and independent.
    """

    def sample(prompts: Sequence[tuple[Message, ...]], n: int) -> list[list[str]]:
        from alignlab.models import Engine, GenerationRequest, SamplingParams, load_model

        loaded = load_model(spec, reuse=False)
        tokenizer = loaded.tokenizer
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
        requests: list[Any] = []
        for index, prompt in enumerate(prompts):
            text = tokenizer.apply_chat_template(
                list(prompt), add_generation_prompt=True, tokenize=False
            )
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            requests.extend(
                GenerationRequest(ids, params, seed=(seed * len(prompts) + index) * n + draw)
                for draw in range(n)
            )
        results = Engine(loaded.model, tokenizer).generate(requests)
        texts = [r.text.strip() for r in results]
        return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]

    return sample


def plot_best_of_n(curves: dict[str, Sequence[BestOfNPoint]], path: Path) -> Path:
    """Gold and proxy reward against best-of-N KL, one colour per reward model, as a PNG.

    Args:
        curves: Points per reward-model name.
        path: Where to write the PNG (written atomically).

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alignlab.files import atomic_write_bytes

    figure, (gold_axis, proxy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in curves.items():
        kls = [p.kl for p in points]
        for axis, attribute in ((gold_axis, "gold"), (proxy_axis, "proxy")):
            estimates = [getattr(p, attribute) for p in points]
            axis.plot(kls, [e.value for e in estimates], marker="o", label=name)
            axis.fill_between(
                kls, [e.ci_low for e in estimates], [e.ci_high for e in estimates], alpha=0.2
            )
    gold_axis.set(xlabel="KL(best-of-N || policy), nats", ylabel="gold reward", title="Gold")
    proxy_axis.set(xlabel="KL(best-of-N || policy), nats", ylabel="proxy reward", title="Proxy")
    gold_axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path
