from pathlib import Path

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from alignlab.evals.sycophancy import sycophancy
from alignlab.models import DEFAULT_MAX_CONNECTIONS


def test_generate_sets_usage_and_batches(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = get_model(f"alignlab/{tiny_model_dir}", max_batch_size=8)
    samples = [Sample(input=f"Say something about {i}.", target="x") for i in range(20)]
    task = Task(dataset=samples, solver=generate(), scorer=includes())
    [log] = eval(
        task,
        model=model,
        max_tokens=5,
        max_connections=DEFAULT_MAX_CONNECTIONS,
        display="none",
        log_dir=str(tmp_path),
    )
    assert log.status == "success"
    assert log.samples is not None and len(log.samples) == 20
    for sample in log.samples:
        assert sample.output.usage is not None
        assert sample.output.usage.input_tokens > 0
        assert 0 < sample.output.usage.output_tokens <= 5
    batcher = next(iter(model.api._batchers.values()))  # type: ignore[attr-defined]
    # 20 concurrent samples must not be served one by one
    assert batcher.batches_run < 20


def test_choice_scoring_exposes_probabilities(tiny_model_dir: Path, tmp_path: Path) -> None:
    [log] = eval(
        sycophancy(n_claims=4),
        model=f"alignlab/{tiny_model_dir}",
        max_connections=DEFAULT_MAX_CONNECTIONS,
        display="none",
        log_dir=str(tmp_path),
    )
    assert log.status == "success" and log.samples
    for sample in log.samples:
        assert sample.output.usage is not None
        score = next(iter(sample.scores.values()))  # type: ignore[union-attr]
        probs = score.metadata["choice_probs"]
        assert set(probs) == {"A", "B"}
        assert abs(sum(probs.values()) - 1.0) < 1e-6
        assert score.answer == max(probs, key=probs.get)
