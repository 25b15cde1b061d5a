"""Best-of-N: the analytic KL, the exact subset estimator, and scripted proxies as controls.

A proxy equal to the gold reward must make gold rise with N; an
anti-correlated proxy must make it fall (Gao et al. 2022's over-optimisation
in its starkest form).  The policy is scripted: each draw is the pair's
chosen reply with probability 0.3, else the rejected one.
"""

from __future__ import annotations

import itertools
import math
import random
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from alignlab._errors import AlignlabError
from alignlab.rewards import (
    PreferencePair,
    best_of_n_expectation,
    best_of_n_kl,
    gold_reward,
    parse_ns,
    plot_best_of_n,
    preference_pairs,
    run_best_of_n,
)
from alignlab.training import Message
from tests.test_cli import ALIGNLAB


def test_kl_matches_the_formula() -> None:
    assert best_of_n_kl(1) == 0.0
    for n in (2, 4, 64):
        assert best_of_n_kl(n) == pytest.approx(math.log(n) - (n - 1) / n)
    with pytest.raises(AlignlabError, match="N >= 1"):
        best_of_n_kl(0)
    assert parse_ns("4, 1,2,4") == [1, 2, 4]
    for bad in ("0,2", "-1", "two"):
        with pytest.raises(AlignlabError) as error:
            parse_ns(bad)
        assert "\n" not in str(error.value)


def test_subset_estimator_equals_brute_force() -> None:
    rng = random.Random(0)
    proxy = [rng.choice([0.0, 0.5, 1.0, 2.0]) for _ in range(6)]  # with ties
    gold = [rng.random() for _ in range(6)]
    for n in range(1, 7):
        subsets = list(itertools.combinations(range(6), n))
        # ties broken by draw order: the earlier draw wins (as argmax picks the first)
        best = [max(s, key=lambda i: (proxy[i], -i)) for s in subsets]
        expected = sum(gold[i] for i in best) / len(subsets)
        assert best_of_n_expectation(proxy, gold, n) == pytest.approx(expected)
    assert best_of_n_expectation(proxy, gold, 1) == pytest.approx(sum(gold) / 6)


@pytest.fixture(scope="module")
def pairs() -> list[PreferencePair]:
    return preference_pairs("heldout", 8, seed=0)


def _sampler(pairs: Sequence[PreferencePair]):  # type: ignore[no-untyped-def]
    by_prompt = {repr(p.prompt): p for p in pairs}

    def sample(prompts: Sequence[tuple[Message, ...]], n: int) -> list[list[str]]:
        rng = random.Random(0)
        return [
            [
                by_prompt[repr(p)].chosen if rng.random() < 0.3 else by_prompt[repr(p)].rejected
                for _ in range(n)
            ]
            for p in prompts
        ]

    return sample


class _Proxy:
    def __init__(self, pairs: Sequence[PreferencePair], sign: float) -> None:
        self.by_prompt, self.sign = {repr(p.prompt): p for p in pairs}, sign

    def score(
        self, prompts: Sequence[tuple[Message, ...]], responses: Sequence[str]
    ) -> list[float]:
        return [
            self.sign * gold_reward(self.by_prompt[repr(p)], r)
            for p, r in zip(prompts, responses, strict=True)
        ]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gold_rises_with_a_faithful_proxy_and_falls_with_an_anti_correlated_one(
    pairs: list[PreferencePair], sign: float, tmp_path: Path
) -> None:
    run = run_best_of_n(_Proxy(pairs, sign), pairs, _sampler(pairs), [1, 2, 4, 8, 16])
    golds = [p.gold.value for p in run.points]
    assert [p.kl for p in run.points] == [best_of_n_kl(n) for n in (1, 2, 4, 8, 16)]
    assert 0.1 < golds[0] < 0.5  # about the policy's 0.3
    steps = [b - a for a, b in itertools.pairwise(golds)]
    if sign > 0:
        assert all(s >= 0 for s in steps) and golds[-1] > 0.9
    else:
        assert all(s <= 0 for s in steps) and golds[-1] < 0.05
    proxies = [p.proxy.value for p in run.points]
    assert proxies == sorted(proxies)  # the proxy always rises with N
    png = plot_best_of_n({"scripted": run.points}, tmp_path / "bon.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_n_below_one_is_refused(pairs: list[PreferencePair]) -> None:
    with pytest.raises(AlignlabError, match="N >= 1"):
        run_best_of_n(_Proxy(pairs, 1.0), pairs, _sampler(pairs), [0, 2])
    result = subprocess.run(
        [ALIGNLAB, "rm", "best-of-n", "/nonexistent", "--n", "0,2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "N >= 1" in lines[0], result.stderr
