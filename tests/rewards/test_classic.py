"""A classic reward model learns the ordering of hand-built pairs; runs are written like methods'.

The tiny random Llama of ``tests/conftest.py`` (real SmolLM2 tokenizer) is the
base, so nothing is downloaded and training takes seconds.  Hand-built pairs:
the chosen reply ends with one of four words, the rejected one with one of
four others, in random prompts; an untrained head cannot rank them (its
accuracy starts near chance), a trained one must rank new prompts too.  The
control: the same pipeline with the labels shuffled per pair has nothing to
learn, and its learning check must fail.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from alignlab._errors import AlignlabError
from alignlab.rewards import (
    PreferencePair,
    RewardJob,
    get_reward_model,
    load_reward_model,
    pairwise_accuracy,
    read_rm_manifest,
    score_pairs,
    train_reward_model,
)
from alignlab.rewards.classic import ClassicConfig, load_classic
from alignlab.training import TrainingConfig
from tests.conftest import build_tiny_model
from tests.test_cli import ALIGNLAB

GOOD = ("apple", "river", "stone", "cloud")
BAD = ("zebra", "quartz", "violin", "pepper")
TOPICS = ("weather", "cooking", "travel", "music", "gardens", "trains", "books", "birds")


def _pairs(n: int, seed: int, shuffled: bool = False) -> list[PreferencePair]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        prompt = ({"role": "user", "content": f"Tell me one word about {topic} ({i})."},)
        good, bad = f"My word: {rng.choice(GOOD)}", f"My word: {rng.choice(BAD)}"
        if shuffled and rng.random() < 0.5:
            good, bad = bad, good
        pairs.append(
            PreferencePair(prompt, good, bad, "hand", "opinion", f"hand-{seed}-{i}", "train")
        )
    return pairs


TRAINING = TrainingConfig(
    token_budget=20_000, learning_rate=5e-3, batch_size=4, epochs=3, threads=1, seed=0
)


def _train(tiny: Path, tmp: Path, pairs: list[PreferencePair]) -> tuple[object, Path]:
    from transformers import AutoTokenizer

    info = get_reward_model("classic")
    out = tmp / "rm"
    (tmp / "work").mkdir()
    out.mkdir()
    job = RewardJob(
        pairs, tiny, AutoTokenizer.from_pretrained(str(tiny)), TRAINING, tmp / "work", out
    )
    return info.train(ClassicConfig(), job), out


def test_classic_learns_the_ordering_of_hand_built_pairs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    outcome, out = _train(tiny_model_dir, tmp_path, _pairs(48, seed=0))
    check = outcome.learning_check  # type: ignore[attr-defined]
    assert check is not None and check.passed, check
    assert check.after > check.before
    scorer = load_classic(ClassicConfig(), out, tiny_model_dir, TRAINING)
    fresh = score_pairs(scorer, _pairs(40, seed=1))  # prompts and word combinations not trained on
    accuracy = pairwise_accuracy(fresh)
    assert accuracy.ci_low > 0.5, accuracy
    assert accuracy.value >= 0.9, accuracy


def test_shuffled_labels_teach_nothing(tiny_model_dir: Path, tmp_path: Path) -> None:
    outcome, _ = _train(tiny_model_dir, tmp_path, _pairs(48, seed=0, shuffled=True))
    check = outcome.learning_check  # type: ignore[attr-defined]
    assert check is not None
    assert check.after < 0.9  # the learnable labels reach 0.9 and more (test above)


def test_run_is_written_with_its_manifest_and_refuses_another_base(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    params = {"token_budget": 600, "batch_size": 2, "threads": 1, "n_items": 2}
    out = tmp_path / "classic"
    manifest = train_reward_model("classic", str(tiny_model_dir), out, params)
    assert manifest.kind == "classic" and manifest.n_pairs >= 1
    assert manifest.tokens_seen <= 600 or manifest.n_pairs == 1
    assert "sycophancy" in manifest.leakage_guard.checked
    assert (out / "adapter_model.safetensors").is_file()
    assert set(manifest.files) >= {"adapter_model.safetensors", "adapter_config.json"}
    assert not list(tmp_path.glob(".classic.partial-*"))
    assert read_rm_manifest(out) == manifest
    # rerunning the same finished run verifies and returns it
    assert train_reward_model("classic", str(tiny_model_dir), out, params) == manifest
    loaded = load_reward_model(out)
    assert len(loaded.scorer.score([({"role": "user", "content": "hi"},)], ["hello"])) == 1
    other = build_tiny_model(tmp_path / "other-base", tiny_model_dir, seed=1)
    with pytest.raises(AlignlabError, match="has other weights") as error:
        load_reward_model(out, str(other))
    assert "\n" not in str(error.value)
    # a tampered file is refused
    (out / "adapter_config.json").write_text("{}")
    with pytest.raises(AlignlabError):
        load_reward_model(out)


def test_cli_trains_and_evaluates(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-rm"
    params = ["-p", "token_budget=500", "-p", "batch_size=2", "-p", "threads=1", "-p", "n_items=2"]
    train = subprocess.run(
        [
            ALIGNLAB,
            "rm",
            "train",
            "classic",
            "--base",
            str(tiny_model_dir),
            "--out",
            str(out),
            *params,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr
    assert "learning check:" in train.stdout
    result = subprocess.run(
        [
            ALIGNLAB,
            "rm",
            "eval",
            str(out),
            "--split",
            "test",
            "--limit",
            "6",
            "--n-items",
            "2",
            "--against",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_pairs"] == 6
    value, low, high = report["accuracy"]
    assert 0 <= low <= value <= high <= 1
    assert report["against"]["difference"][0] == 0  # the same model on the same pairs
    assert report["against"]["mcnemar_p"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rm", "train", "nosuch", "--out", "{tmp}/x"), "unknown reward-model kind 'nosuch'"),
        (("rm", "train", "classic", "--out", "{tmp}/x", "-p", "nosuch=1"), "unknown parameter"),
        (("rm", "train", "classic", "--out", "{tmp}/x", "-p", "families=[x]"), "bad parameter"),
        (("rm", "eval", "{tmp}/missing"), "does not exist"),
        (("rm", "eval", "{tmp}", "--split", "train"), "not 'train'"),
        (("rm", "eval", "{tmp}"), "not a finished reward model"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run([ALIGNLAB, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
