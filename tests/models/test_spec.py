import subprocess
import sys
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.models import inspect_providers, parse_spec


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
    "text",
    [
        "deepseek/deepseek-chat",
        "cloudflare/@cf/meta/llama-3.1-8b-instruct",
        "sambanova/Meta-Llama-3.1-8B-Instruct",
        "vllm-completions/meta-llama/Llama-3.1-8B",
        "random/uniform",
    ],
)
def test_providers_come_from_inspect(text: str) -> None:
    spec = parse_spec(text)
    assert spec.kind == "inspect" and spec.base == text and not spec.is_local


def test_non_providers_are_hub_ids() -> None:
    assert parse_spec("deepseek-ai/DeepSeek-V3").kind == "hub"
    assert parse_spec("cf/model").kind == "hub"  # an old hand-copied name Inspect never had
    assert parse_spec("alignlab/smollm2-135m").kind == "hub"  # our wrapper: type the bare spec
    assert "alignlab" not in inspect_providers()
    assert {"openai", "anthropic", "deepseek", "random"} <= inspect_providers()


def test_provider_lookup_imports_no_provider_sdk() -> None:
    code = (
        "import sys; from alignlab.models import parse_spec; "
        "assert parse_spec('openai/gpt-4o-mini').kind == 'inspect'; "
        "assert parse_spec('anthropic/claude-x').kind == 'inspect'; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'openai', 'anthropic', 'mistralai', 'groq', 'boto3', 'vllm', 'torch'} "
        "or m.startswith('google.genai')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.strip() == "[]"


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
