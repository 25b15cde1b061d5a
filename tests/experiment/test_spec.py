"""Experiment specs: shape and names validated before any work, errors name file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.experiment import load_spec, load_spec_text

GOOD = """\
version: 1
name: t
base: smollm2-135m
methods:
  - none
  - name: reward_misspecification
    params: {p: [0.0, 0.5], n_claims: 40}
  - name: pessimization
    params: {sources: [sycophancy]}
evals:
  - name: sycophancy
    splits: [test, heldout]
    args: {n_claims: 20}
  - mistakes
"""


def _load(text: str) -> object:
    return load_spec_text(textwrap.dedent(text), "spec.yaml")


def test_good_spec_expands_sweeps_and_keeps_list_typed_values() -> None:
    loaded = load_spec_text(GOOD, "spec.yaml")
    labels = [v.label for v in loaded.variants]
    assert labels == [
        "none",
        "reward_misspecification[p=0.0]",
        "reward_misspecification[p=0.5]",
        "pessimization",
    ]
    assert loaded.variants[3].params == {"sources": ["sycophancy"]}
    assert loaded.spec.bases == ["smollm2-135m"]
    assert loaded.spec.evals[1].splits == ["test", "heldout"]


def test_list_of_lists_sweeps_a_list_typed_parameter() -> None:
    text = GOOD.replace("{sources: [sycophancy]}", "{sources: [[sycophancy], [mistakes]]}")
    labels = [v.label for v in load_spec_text(text, "s").variants]
    assert "pessimization[sources=[sycophancy]]" in labels
    assert "pessimization[sources=[mistakes]]" in labels


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("name: t", "name: t\ncolour: red"), r"^spec\.yaml:3: colour: Extra inputs"),
        (("  - mistakes", "  - mistake"), r"^spec\.yaml:14: evals\.1: unknown eval 'mistake'"),
        (("  - none", "  - nonexistent"), r"^spec\.yaml:5: methods\.0: unknown method"),
        (
            ("n_claims: 40", "n_clams: 40"),
            r"^spec\.yaml:7: methods\.1\.params: unknown parameter 'n_clams'",
        ),
        (("p: [0.0, 0.5]", "p: [0.0, 2.0]"), r"^spec\.yaml:7: methods\.1\.params: bad parameter"),
        (
            ("p: [0.0, 0.5]", "p: []"),
            r"spec\.yaml:7: methods\.1\.params: a sweep here expands to no variant",
        ),
        (
            ("splits: [test, heldout]", "splits: [test, nope]"),
            r"^spec\.yaml:12: evals\.0\.splits\.1: eval 'sycophancy' has no split 'nope'",
        ),
        (
            ("args: {n_claims: 20}", "args: {n_claims: many}"),
            r"^spec\.yaml:13: evals\.0\.args: .*must be int",
        ),
        (
            ("args: {n_claims: 20}", "args: {split: test}"),
            r"^spec\.yaml:13: evals\.0\.args: .*give 'split'",
        ),
        (
            ("base: smollm2-135m", "base: openai/gpt-4o"),
            r"^spec\.yaml:3: base: base 'openai/gpt-4o' must be a local model",
        ),
        (("version: 1", "version: 2"), r"^spec\.yaml:1: version: Input should be 1"),
    ],
)
def test_bad_specs_are_one_line_with_line_and_key(change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(AlignlabError, match=message) as info:
        load_spec_text(text, "spec.yaml")
    assert "\n" not in str(info.value)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AlignlabError, match=r"^spec\.yaml:\d+: not valid YAML"):
        load_spec_text("version: 1\nmethods: [none\n", "spec.yaml")
    with pytest.raises(AlignlabError, match="cannot read experiment spec"):
        load_spec(tmp_path / "absent.yaml")


def test_duplicate_variant_is_refused() -> None:
    with pytest.raises(AlignlabError, match="method variant 'none' appears twice"):
        load_spec_text(GOOD.replace("  - none\n", "  - none\n  - none\n"), "s")


def test_labels_name_two_unswept_variants_of_one_method() -> None:
    text = GOOD.replace(
        "  - none\n",
        "  - none\n  - {name: sft_control, label: chores_short, params: {token_budget: 500}}\n"
        "  - {name: sft_control, label: chores_long, params: {token_budget: [900, 1200]}}\n",
    )
    labels = [v.label for v in load_spec_text(text, "s").variants]
    assert labels[1:4] == [
        "chores_short",
        "chores_long[token_budget=900]",
        "chores_long[token_budget=1200]",
    ]
