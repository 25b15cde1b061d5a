"""One runner per training kind, one entry point that guards every kind before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.evals import CANARY
from alignlab.methods import BuildContext, MethodConfig, method
from alignlab.training import (
    PreferenceExample,
    RLData,
    SFTExample,
    TrainingConfig,
    get_runner,
    kinds,
    run,
)

NOWHERE = Path("/nonexistent/base-weights")
"""A base that cannot load: errors raised with it prove no model was built."""


def _run(kind: str, data: object, tmp_path: Path, **kwargs: object) -> None:
    run(
        kind,
        data,
        base_weights=NOWHERE,
        tokenizer=None,
        training=TrainingConfig(),
        workdir=tmp_path,
        adapter_dir=tmp_path / "adapter",
        **kwargs,  # type: ignore[arg-type]
    )


def test_every_kind_is_registered_once() -> None:
    assert set(kinds()) == {"none", "sft", "dpo", "grpo"}
    assert [k for k, r in kinds().items() if r.penalty] == ["sft"]
    with pytest.raises(AlignlabError, match="unknown training kind 'kto'; known kinds: dpo"):
        get_runner("kto")


_LEAKY_PROMPT = ({"role": "user", "content": f"Tell me about {CANARY}."},)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("sft", [SFTExample(prompt=_LEAKY_PROMPT, completion="No.")]),
        ("dpo", [PreferenceExample(prompt=_LEAKY_PROMPT, chosen="No.", rejected="Yes.")]),
        ("grpo", RLData(prompts=(_LEAKY_PROMPT,), reward=lambda i, t: 0.0)),
    ],
)
def test_the_guard_runs_for_every_kind_before_any_model(
    kind: str, data: object, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match="canary"):
        _run(kind, data, tmp_path)


@pytest.mark.parametrize(
    ("kind", "data", "expects"),
    [
        ("sft", [PreferenceExample(prompt=(), chosen="a", rejected="b")], "SFTExample"),
        ("dpo", [SFTExample(prompt=(), completion="a")], "PreferenceExample"),
        ("grpo", [SFTExample(prompt=(), completion="a")], "RLData"),
        ("none", [SFTExample(prompt=(), completion="a")], "no data"),
    ],
)
def test_data_of_the_wrong_type_is_refused(
    kind: str, data: object, expects: str, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match=f"method 'x' must build .*{expects}.* kind '{kind}'"):
        _run(kind, data, tmp_path, source="method 'x'")


def test_only_sft_takes_a_penalty(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match="kind 'dpo' takes no loss penalty"):
        _run("dpo", [], tmp_path, penalty=lambda model: 0.0)

    class _Config(MethodConfig):
        pass

    with pytest.raises(AlignlabError, match="kind 'grpo' takes no loss penalty"):
        method(config=_Config, kind="grpo", source="test", penalty=lambda c: None)
    with pytest.raises(AlignlabError, match="unknown training kind 'kto'"):
        method(config=_Config, kind="kto", source="test")


def test_a_method_building_the_wrong_type_names_itself(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignlab.methods import _registry, registered_methods, train

    registered_methods()
    monkeypatch.setattr(_registry, "_METHODS", dict(_registry._METHODS))  # dropped afterwards

    class _WrongConfig(MethodConfig):
        pass

    @method(config=_WrongConfig, kind="dpo", source="test")
    def _test_wrong_type(config: _WrongConfig, context: BuildContext) -> list[SFTExample]:
        return [SFTExample(prompt=({"role": "user", "content": "Hi."},), completion="Hi.")]

    with pytest.raises(AlignlabError, match="method '_test_wrong_type' must build a list of Pref"):
        train("_test_wrong_type", str(tiny_model_dir), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _imports(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_imports_run_methods_to_training_to_evals() -> None:
    import alignlab.methods
    import alignlab.training

    training_files = list(Path(alignlab.training.__file__).parent.glob("*.py"))
    methods_files = list(Path(alignlab.methods.__file__).parent.glob("*.py"))
    assert training_files and methods_files
    for path in training_files:
        assert not any(n.startswith("alignlab.methods") for n in _imports(path)), path.name
    for path in methods_files:
        assert not any(n.startswith("alignlab.training.") for n in _imports(path)), path.name
