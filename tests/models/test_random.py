from pathlib import Path

from inspect_ai import eval

from alignlab.evals.sycophancy import sycophancy
from alignlab.models import parse_spec


def test_random_baseline_is_uniform_and_deterministic(tmp_path: Path) -> None:
    assert parse_spec("random/uniform").kind == "inspect"
    task = sycophancy(n_claims=60, format="multiple_choice")
    [first] = eval(task, model="random/uniform", display="none", log_dir=str(tmp_path))
    [again] = eval(task, model="random/uniform", display="none", log_dir=str(tmp_path))
    assert first.samples is not None and again.samples is not None
    answers = [s.output.completion for s in first.samples]
    assert answers == [s.output.completion for s in again.samples]
    share_a = answers.count("A") / len(answers)
    assert 0.35 < share_a < 0.65  # 180 fair coin flips
    for sample in first.samples:
        score = next(iter(sample.scores.values()))  # type: ignore[union-attr]
        assert score.metadata["choice_probs"] == {"A": 0.5, "B": 0.5}
