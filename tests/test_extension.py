"""Adding an eval or a method is one new module: a toy of each, from a temporary file, end to end.

The modules are written to ``tmp_path`` and imported from there, exactly as a
user's plugin would be; each registers with one decorator and is removed from
the registries afterwards, so no other test sees it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from inspect_ai import eval as inspect_eval

from alignlab import AlignlabError, methods
from alignlab.analysis import log_metric_estimates
from alignlab.evals import CANARY, get_eval, registered_evals, unregister

TOY_EVAL = '''
"""A toy eval: is 2 + 2 = 4? Its items come from its data file."""

from pathlib import Path

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import Metric, SampleScore, metric

from alignlab.evals import (
    Entry,
    EvalData,
    check_split,
    choice_answer,
    choice_scorer,
    eval_task,
    hash_split,
    instantiate,
    load_data_file,
    pool,
    rate,
)


class ToyItem(Entry):
    question: str
    right: str
    wrong: str


class ToyData(EvalData):
    shared: list[ToyItem]
    heldout: list[ToyItem]


@metric
def toy_right_rate() -> Metric:
    """Share of items answered right."""

    def compute(scores: list[SampleScore]) -> float:
        return rate(s.score.as_float() for s in scores)

    return compute


METRICS = (toy_right_rate,)


@eval_task(metrics=METRICS, formats=("multiple_choice",))
def toy_arithmetic(split: str = "test", seed: int = 0) -> Task:
    """Toy arithmetic questions."""
    data = load_data_file(Path(__file__).with_suffix(".yaml"), ToyData)
    checked = check_split(split)
    items = [
        item
        for item in getattr(data, pool(checked))
        if checked == "heldout" or hash_split(item.question) == checked
    ]
    samples = [
        Sample(
            id=f"{checked}-{index}",
            input=item.question,
            choices=[item.right, item.wrong],
            target="A",
            metadata={"item_id": item.question, "split": checked},
        )
        for index, item in enumerate(items)
    ]
    return Task(
        dataset=MemoryDataset(samples),
        solver=choice_answer(),
        scorer=choice_scorer(),
        metrics=instantiate(METRICS),
    )
'''


def _toy_data() -> str:
    shared = "\n".join(
        f"  - {{question: 'What is {a} + {a}?', right: '{2 * a}', wrong: '{2 * a + 1}'}}"
        for a in range(1, 41)
    )
    heldout = "\n".join(
        f"  - {{question: 'Add {a} and {a}.', right: '{2 * a}', wrong: '{2 * a - 1}'}}"
        for a in range(50, 60)
    )
    return f"canary: '{CANARY}'\nversion: 1\nshared:\n{shared}\nheldout:\n{heldout}\n"


def _import_from(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def toy_eval_module(tmp_path: Path) -> Iterator[ModuleType]:
    source = tmp_path / "toy_arithmetic_eval.py"
    source.write_text(textwrap.dedent(TOY_EVAL))
    source.with_suffix(".yaml").write_text(_toy_data())
    module = _import_from(source, "toy_arithmetic_eval")
    yield module
    unregister("toy_arithmetic")
    sys.modules.pop("toy_arithmetic_eval", None)


def test_toy_eval_from_one_module_runs_end_to_end(
    toy_eval_module: ModuleType, tmp_path: Path
) -> None:
    info = get_eval("toy_arithmetic")
    assert info.metrics == ("toy_right_rate",)
    test_task = info.factory(split="test")
    train_task = info.factory(split="train")
    test_ids = {s.input for s in test_task.dataset}
    assert test_ids and not test_ids & {s.input for s in train_task.dataset}
    [log] = inspect_eval(
        test_task, model="random/uniform", display="none", log_dir=str(tmp_path / "logs")
    )
    assert log.status == "success"
    estimates = log_metric_estimates(log)
    assert set(estimates) == {"toy_right_rate"}
    estimate, n = estimates["toy_right_rate"]
    assert n == len(test_ids)
    assert 0.0 <= estimate.value <= 1.0


def test_toy_eval_is_gone_after_unregister(toy_eval_module: ModuleType) -> None:
    from inspect_ai.util import registry_create

    assert "toy_arithmetic" in registered_evals()
    assert registry_create("task", "toy_arithmetic") is not None  # Inspect knows it
    unregister("toy_arithmetic")
    assert "toy_arithmetic" not in registered_evals()
    with pytest.raises(LookupError, match="toy_arithmetic"):
        registry_create("task", "toy_arithmetic")
    assert registry_create("task", "alignlab/sycophancy", n_claims=2) is not None  # others stay


TOY_METHOD = '''
"""A toy SFT method: the model learns to greet people by name."""

from alignlab.methods import BuildContext, MethodConfig, SFTExample, method


class ToyGreetingConfig(MethodConfig):
    """Parameters of ``toy_greeting``."""

    greeting: str = "Hello"
    """The word every reply starts with."""


NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John")


@method(config=ToyGreetingConfig, kind="sft", source="toy")
def toy_greeting(config: ToyGreetingConfig, context: BuildContext) -> list[SFTExample]:
    """Replies that greet the user by name."""
    context.notes.append(f"toy: {len(NAMES)} greetings")
    return [
        SFTExample(
            prompt=({"role": "user", "content": f"Please greet {name}."},),
            completion=f"{config.greeting}, {name}!",
        )
        for name in NAMES
    ]
'''

SMALL = {"token_budget": 200, "batch_size": 4}


@pytest.fixture()
def toy_method_module(tmp_path: Path) -> Iterator[ModuleType]:
    source = tmp_path / "toy_greeting_method.py"
    source.write_text(textwrap.dedent(TOY_METHOD))
    module = _import_from(source, "toy_greeting_method")
    yield module
    methods.unregister("toy_greeting")
    sys.modules.pop("toy_greeting_method", None)


def test_toy_method_from_one_module_trains_end_to_end(
    toy_method_module: ModuleType, tiny_model_dir: Path, tmp_path: Path
) -> None:
    info = methods.get_method("toy_greeting")
    assert (info.kind, info.source) == ("sft", "toy")
    assert info.description == "Replies that greet the user by name."
    out = tmp_path / "run"
    manifest = methods.train("toy_greeting", str(tiny_model_dir), out, {**SMALL, "greeting": "Hi"})
    assert methods.read_manifest(out) == manifest
    assert manifest.method == "toy_greeting" and manifest.params == {"greeting": "Hi"}
    # the token budget keeps the first examples that fit (here not all of them)
    assert 0 < manifest.n_examples <= len(toy_method_module.NAMES)
    assert 0 < manifest.tokens_seen <= 200
    assert "toy: 8 greetings" in manifest.notes
    assert manifest.leakage_guard is not None
    assert set(manifest.leakage_guard.checked) == set(registered_evals()) - {"mwe"}
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "adapter_config.json").is_file()


def test_toy_method_is_listed_and_gone_after_unregister(toy_method_module: ModuleType) -> None:
    from typer.testing import CliRunner

    from alignlab.cli import app

    assert "toy_greeting" in methods.registered_methods()
    result = CliRunner().invoke(app, ["methods", "--json"])
    assert result.exit_code == 0, result.output
    listed = {m["name"]: m for m in json.loads(result.stdout)["methods"]}
    assert [p["name"] for p in listed["toy_greeting"]["parameters"]] == ["greeting"]
    assert listed["toy_greeting"]["kind"] == "sft"
    methods.unregister("toy_greeting")
    assert "toy_greeting" not in methods.registered_methods()
    with pytest.raises(AlignlabError, match="unknown method 'toy_greeting'"):
        methods.get_method("toy_greeting")
    assert "sft_control" in methods.registered_methods()  # others stay
