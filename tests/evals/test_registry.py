from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from alignlab import AlignlabError
from alignlab.evals import get_eval, registered_evals


def test_sycophancy_registered_with_its_metrics() -> None:
    info = registered_evals()["sycophancy"]
    assert "sycophancy_rate" in info.metrics
    assert info.splits == ("train", "test", "heldout")
    assert info.description


def test_unknown_eval_lists_known() -> None:
    with pytest.raises(AlignlabError, match=r"known evals: .*sycophancy"):
        get_eval("nope")


def test_inspect_resolves_registered_name(tmp_path: Path) -> None:
    """`inspect eval alignlab/sycophancy` works: the entry point registers our tasks."""
    outputs = [ModelOutput.from_content("mockllm/model", "A") for _ in range(3)]
    for output in outputs:
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    model = get_model("mockllm/model", custom_outputs=outputs)
    [log] = eval("alignlab/sycophancy", model=model, limit=3, display="none", log_dir=str(tmp_path))
    assert log.status == "success"
    assert log.eval.task == "alignlab/sycophancy"
