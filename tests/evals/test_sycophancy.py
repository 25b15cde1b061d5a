import ast
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage

import alignlab
from alignlab import AlignlabError
from alignlab.evals import CANARY, DATA_DIR, Split, classify_reply, load_data_file, pool
from alignlab.evals.sycophancy import (
    SycophancyData,
    agrees_with_claim,
    sided_with_user,
    sycophancy,
    sycophancy_data,
    sycophancy_samples,
)
from tests._scripted import run_metrics, scripted_model


def test_deterministic() -> None:
    first = sycophancy_samples("test", 20, seed=3)
    again = sycophancy_samples("test", 20, seed=3)
    other = sycophancy_samples("test", 20, seed=4)
    assert [_text(s) for s in first] == [_text(s) for s in again]
    assert [_text(s) for s in first] != [_text(s) for s in other]


def _text(sample: Sample) -> str:
    if isinstance(sample.input, str):
        return sample.input
    return "\n".join(m.text for m in sample.input)


def test_splits_disjoint() -> None:
    samples = {split: sycophancy_samples(split, 300) for split in ("train", "test", "heldout")}
    claims = {split: {s.metadata["claim"] for s in ss} for split, ss in samples.items()}  # type: ignore[index]
    assert not claims["train"] & claims["test"]
    assert not claims["heldout"] & (claims["train"] | claims["test"])
    # content, not just claims: no fact subject or operand pair crosses train/test
    subjects = {
        split: {c.split(" is ")[0] for c in cs if "+" not in c} for split, cs in claims.items()
    }
    assert not subjects["train"] & subjects["test"]
    assert not subjects["heldout"] & (subjects["train"] | subjects["test"])
    # heldout templates and system prompts appear in no other split
    shared_text = [_text(s) for s in samples["train"] + samples["test"]]
    heldout_text = [_text(s) for s in samples["heldout"]]
    for marker in ("What is your opinion", "Ledgerly", "Can you double-check"):
        assert any(marker in t for t in shared_text)
        assert not any(marker in t for t in heldout_text)
    for marker in ("Ticket #", "Orbit Outfitters", "Settle something"):
        assert any(marker in t for t in heldout_text)
        assert not any(marker in t for t in shared_text)


def test_formats_and_families_rotate() -> None:
    samples = sycophancy_samples("test", 12)
    assert {s.metadata["format"] for s in samples} == {"multiple_choice", "chat", "deployment"}  # type: ignore[index]
    assert {s.metadata["family"] for s in samples} == {"addition", "facts"}  # type: ignore[index]
    only_chat = sycophancy_samples("test", 6, format="chat")
    assert {s.metadata["format"] for s in only_chat} == {"chat"}  # type: ignore[index]
    with pytest.raises(AlignlabError, match="unknown format 'email'"):
        sycophancy_samples("test", 6, format="email")


def test_candidate_replies_classify_to_themselves() -> None:
    for split in ("train", "heldout"):
        samples = sycophancy_samples(split, 30)  # type: ignore[arg-type]
        with_patterns = [s for s in samples if (s.metadata or {}).get("reply_patterns")]
        assert with_patterns, split
        for sample in with_patterns:
            patterns = (sample.metadata or {})["reply_patterns"]
            assert sample.choices is not None
            for index, reply in enumerate(sample.choices):
                assert classify_reply(reply, patterns) == index, reply


def test_bad_split() -> None:
    with pytest.raises(AlignlabError, match="unknown split 'dev'"):
        sycophancy_samples("dev")  # type: ignore[arg-type]


def _answer(sample: Sample, agree: bool) -> str:
    """The scripted reply: a letter for multiple choice, else the candidate reply text."""
    index = 0 if agree else 1
    if sample.metadata["format"] == "multiple_choice":  # type: ignore[index]
        return "AB"[index]
    assert sample.choices is not None
    return sample.choices[index]


def _run_scripted(policy: Callable[[Sample], bool], log_dir: Path) -> dict[str, float]:
    task = sycophancy(n_claims=12)
    model = scripted_model(list(task.dataset), lambda s, m: _answer(s, policy(s)))
    return run_metrics(task, model, log_dir)


def test_controls_separate(tmp_path: Path) -> None:
    honest = _run_scripted(lambda s: bool(s.metadata["claim_true"]), tmp_path)  # type: ignore[index]
    follower = _run_scripted(
        lambda s: {"user_agrees": True, "user_disagrees": False}.get(
            s.metadata["condition"],  # type: ignore[index]
            bool(s.metadata["claim_true"]),  # type: ignore[index]
        ),
        tmp_path,
    )
    assert honest["sycophancy_rate"] == 0.0 and follower["sycophancy_rate"] == 1.0
    assert honest["opinion_shift"] == 0.0 and follower["opinion_shift"] == 1.0
    assert honest["no_opinion_accuracy"] == 1.0
    contrarian = _run_scripted(lambda s: not s.metadata["claim_true"], tmp_path)  # type: ignore[index]
    assert contrarian["no_opinion_accuracy"] == 0.0


def _run_pushback(first_correct: bool, holds: bool, log_dir: Path) -> float:
    task = sycophancy(n_claims=8, variant="are_you_sure")

    def policy(sample: Sample, messages: list[ChatMessage]) -> str:
        right = bool(sample.metadata["claim_true"])  # type: ignore[index]
        first = right if first_correct else not right
        challenged = any("Are you sure?" in m.text for m in messages if m.role == "user")
        return _answer(sample, first if (holds or not challenged) else not first)

    [log] = eval(
        task, model=scripted_model(list(task.dataset), policy), display="none", log_dir=str(log_dir)
    )
    assert log.results is not None and log.samples is not None
    assert len(log.samples) == 8
    assert all("Are you sure?" in s.messages[-2].text for s in log.samples)
    return float(log.results.scores[0].metrics["flip_rate"].value)


def test_are_you_sure_controls_separate(tmp_path: Path) -> None:
    assert _run_pushback(first_correct=True, holds=True, log_dir=tmp_path) == 0.0
    assert _run_pushback(first_correct=True, holds=False, log_dir=tmp_path) == 1.0
    # a model that was wrong to begin with has no correct answer to abandon
    assert math.isnan(_run_pushback(first_correct=False, holds=False, log_dir=tmp_path))


def test_unknown_variant() -> None:
    with pytest.raises(AlignlabError, match="unknown variant 'nope'"):
        sycophancy(variant="nope")


def test_unknown_answer_mode() -> None:
    from alignlab.evals import choice_answer

    with pytest.raises(AlignlabError, match="unknown answer mode 'guess'"):
        choice_answer(mode="guess")  # type: ignore[arg-type]


def test_data_file_loads_with_both_pools() -> None:
    data = sycophancy_data()
    assert data.canary == CANARY and data.version == 1
    assert data.options == ("Agree", "Disagree")
    for name in ("shared", "heldout"):
        content = data.content(name)  # type: ignore[arg-type]
        assert content.facts and content.challenge and content.system
    assert not set(data.shared.facts) & set(data.heldout.facts)
    assert data.shared.challenge != data.heldout.challenge


def test_bad_data_file_is_reported_with_its_line(tmp_path: Path) -> None:
    text = (DATA_DIR / "sycophancy.yaml").read_text()
    bad = text.replace("template: a {subject} has {value} legs", "template: a {subject} has legs")
    assert bad != text
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "has legs" in t)
    path = tmp_path / "sycophancy.yaml"
    path.write_text(bad)
    with pytest.raises(AlignlabError, match=rf"sycophancy.yaml:{line}: .*\{{value\}}"):
        load_data_file(path, SycophancyData)


@pytest.mark.parametrize("split", ["train", "test", "heldout"])
def test_structured_metadata_matches_the_rendered_sample(split: Split) -> None:
    content = sycophancy_data().content(pool(split))
    samples = sycophancy_samples(split, 60, seed=2)
    assert {s.metadata["family"] for s in samples} == {"addition", "facts"}  # type: ignore[index]
    for sample in samples:
        meta = sample.metadata
        assert meta is not None and sample.choices is not None
        condition, claim, claim_true = meta["condition"], meta["claim"], meta["claim_true"]
        # letters
        assert meta["agree_letter"] == "A"
        assert sample.choices[0] in ("Agree", *(r[0] for r in _replies()))
        assert meta["correct_letter"] == sample.target == ("A" if claim_true else "B")
        expected_user = {"none": None, "user_agrees": "A", "user_disagrees": "B"}[condition]
        assert meta["user_letter"] == expected_user
        assert meta["user_opinion"] == {"none": None, "user_agrees": "agree"}.get(
            condition, "disagree"
        )
        assert meta["user_wrong"] == (
            expected_user is not None and expected_user != meta["correct_letter"]
        )
        # the pushback of the sample's pool
        assert meta["challenge"] == content.challenge
        # the claim's content
        if meta["family"] == "addition":
            a, b = meta["operands"]
            assert content.operands.low <= min(a, b) <= max(a, b) <= content.operands.high
            assert meta["true_sum"] == a + b
            assert claim == f"{a} + {b} = {meta['shown_sum']}"
            assert meta["truth"] == f"{a} + {b} = {a + b}"
            assert claim_true == (meta["shown_sum"] == a + b)
        else:
            table = content.facts[meta["fact_kind"]]
            assert table.rows[meta["subject"]] == meta["true_value"]
            assert meta["shown_value"] in table.rows.values()
            shown = table.template.format(subject=meta["subject"], value=meta["shown_value"])
            assert claim == shown
            assert meta["truth"] == table.template.format(
                subject=meta["subject"], value=meta["true_value"]
            )
            assert claim_true == (meta["shown_value"] == meta["true_value"])
        assert (meta["truth"] == claim) == claim_true
        assert claim in _text(sample)


def _replies() -> list[tuple[str, str]]:
    data = sycophancy_data()
    return [data.replies.chat, data.replies.deployment]


def test_are_you_sure_sends_the_pools_challenge() -> None:
    for split, content in (("test", "shared"), ("heldout", "heldout")):
        task = sycophancy(split=split, n_claims=3, variant="are_you_sure")
        challenge = sycophancy_data().content(content).challenge  # type: ignore[arg-type]
        assert {s.metadata["challenge"] for s in task.dataset} == {challenge}  # type: ignore[index]


def test_sided_with_user_is_the_per_sample_rule() -> None:
    [plain, agrees, disagrees] = sycophancy_samples("test", 1)
    assert sided_with_user("A", plain.metadata or {}) is None  # no opinion
    assert sided_with_user(None, agrees.metadata or {}) is None  # no answer
    assert sided_with_user("A", agrees.metadata or {}) is True
    assert sided_with_user("B", agrees.metadata or {}) is False
    assert sided_with_user("B", disagrees.metadata or {}) is True
    # logs written before ``user_letter`` existed: the same rule from the condition
    old = {k: v for k, v in (disagrees.metadata or {}).items() if k != "user_letter"}
    assert sided_with_user("B", old) is True and sided_with_user("A", old) is False
    assert agrees_with_claim("A", plain.metadata or {}) is True
    assert agrees_with_claim("B", plain.metadata or {}) is False
    assert agrees_with_claim(None, plain.metadata or {}) is None


def test_methods_import_no_private_eval_names() -> None:
    """Methods read eval data through sample metadata, never through an eval's internals."""
    methods = Path(alignlab.__file__).parent / "methods"
    offenders = []
    for path in sorted(methods.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "alignlab.evals."
            ):
                offenders += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert offenders == []
