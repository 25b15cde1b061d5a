from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.models import parse_spec


def test_embedded_spec() -> None:
    spec = parse_spec("smollm2-135m")
    assert spec.kind == "embedded" and spec.adapter is None and spec.is_local


def test_local_dir_and_adapter(tmp_path: Path) -> None:
    spec = parse_spec(f"{tmp_path}+{tmp_path / 'adapter'}")
    assert spec.kind == "local_dir"
    assert spec.base == str(tmp_path.resolve())
    assert spec.adapter == tmp_path / "adapter"


def test_inspect_passthrough_and_hub() -> None:
    assert parse_spec("openai/gpt-4o-mini").kind == "inspect"
    assert not parse_spec("anthropic/claude-x").is_local
    assert parse_spec("HuggingFaceTB/SmolLM2-135M-Instruct").kind == "hub"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nosuch", "unknown model spec 'nosuch'; known models: smollm2-135m"),
        ("", "empty model spec"),
        ("./missing/dir", "does not exist"),
        ("openai/gpt-4o+/tmp/x", "adapters need local weights"),
        ("smollm2-135m+/a+/b", "stacks two adapters"),
    ],
)
def test_bad_specs(text: str, fragment: str) -> None:
    with pytest.raises(AlignlabError, match=None) as info:
        parse_spec(text)
    assert fragment in str(info.value)
