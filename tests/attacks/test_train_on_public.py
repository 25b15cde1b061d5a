"""``train_on_public``: the flagged contamination method, the narrow guard exemption,
the overfitting gap (scripted control) and the Min-K% detector."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log

from alignlab._errors import AlignlabError
from alignlab.analysis import auroc, difference_of_independent, min_k_prob
from alignlab.attacks import (
    AttackVariant,
    attack,
    contamination_check,
    overfitting_gap,
    run_attack,
    unregister,
)
from alignlab.evals import get_eval
from alignlab.methods import BuildContext, check_no_leakage, get_method, train, validate_request
from alignlab.training import Contamination, GuardExemption
from tests._scripted import scripted_model

FLAG = {"i_know_this_contaminates": True}
SMALL = {"token_budget": 2000, "batch_size": 4, "learning_rate": 5e-3, "epochs": 3}
SYCOPHANCY_MC = {"n_claims": 6, "format": "multiple_choice"}


# --- the statistics, on hand-made numbers ---------------------------------------------


def test_min_k_prob_averages_the_least_likely_tokens() -> None:
    logprobs = [-0.1, -5.0, -0.2, -3.0, -0.3]
    assert min_k_prob(logprobs, 0.2) == -5.0  # ceil(0.2 * 5) = 1 token
    assert min_k_prob(logprobs, 0.4) == -4.0  # the two lowest: -5 and -3
    assert min_k_prob(logprobs, 1.0) == pytest.approx(-8.6 / 5)
    memorised, surprising = [-0.1, -0.2, -0.1, -0.3], [-0.1, -6.0, -0.2, -0.1]
    assert min_k_prob(memorised) > min_k_prob(surprising)  # seen text has no rare tokens
    with pytest.raises(AlignlabError, match="share"):
        min_k_prob(logprobs, 0.0)
    with pytest.raises(AlignlabError, match="at least one"):
        min_k_prob([])


def test_auroc_on_scripted_scores() -> None:
    separated = auroc([3.0, 4.0, 5.0, 6.0], [0.0, 1.0, 2.0])
    assert separated.value == 1.0 and separated.ci_low == 1.0
    assert auroc([0.0, 1.0], [5.0, 6.0]).value == 0.0
    assert auroc([1.0, 1.0], [1.0, 1.0]).value == 0.5  # ties count half
    mixed = auroc([1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 0.0])
    assert mixed.value == pytest.approx(10 / 16)  # 10 of 16 pairs ordered right
    assert mixed.ci_low <= mixed.value <= mixed.ci_high and mixed.ci_high - mixed.ci_low > 0
    with pytest.raises(AlignlabError, match="member"):
        auroc([], [1.0])


def test_difference_of_independent_adds_errors_in_quadrature() -> None:
    z = 1.959963984540054
    gap = difference_of_independent(
        (0.5, 0.5 - 0.3 * z, 0.5 + 0.3 * z), (0.1, 0.1 - 0.4 * z, 0.1 + 0.4 * z)
    )
    assert gap.value == pytest.approx(0.4)
    assert gap.ci_high - gap.value == pytest.approx(0.5 * z)  # hypot(0.3, 0.4) = 0.5


# --- the method: flag, narrow guard exemption, manifest -------------------------------


def test_the_flag_is_required_in_one_line(tiny_model_dir: Path) -> None:
    with pytest.raises(AlignlabError) as caught:
        validate_request("train_on_public", str(tiny_model_dir), {"eval_name": "sycophancy"})
    message = str(caught.value)
    assert "\n" not in message and "i_know_this_contaminates=true" in message
    with pytest.raises(AlignlabError, match="unknown eval 'nosuch'"):
        validate_request("train_on_public", str(tiny_model_dir), {"eval_name": "nosuch", **FLAG})
    with pytest.raises(AlignlabError, match="reads a user's file"):
        validate_request("train_on_public", str(tiny_model_dir), {"eval_name": "mwe", **FLAG})
    with pytest.raises(AlignlabError, match="split"):
        validate_request(
            "train_on_public",
            str(tiny_model_dir),
            {"eval_name": "sycophancy", "split": "heldout", **FLAG},
        )


def _contaminating_data(eval_name: str = "sycophancy") -> tuple[list[Any], BuildContext]:
    info = get_method("train_on_public")
    context = BuildContext(seed=0, token_budget=2000, base_spec="unused")
    config = info.config(eval_name=eval_name, n_items=6, **FLAG)
    return info.builder(config, context), context


def _exemption(
    method: str = "train_on_public",
    eval_name: str = "sycophancy",
    split: str = "test",
    ok: bool = True,
) -> GuardExemption:
    return GuardExemption(method, Contamination(eval=eval_name, split=split, n_items=6), ok)


def test_guard_exempts_only_the_flagged_method_on_its_own_eval_split() -> None:
    data, context = _contaminating_data()
    assert len(data) == 6 and context.contamination == Contamination(
        eval="sycophancy", split="test", n_items=6
    )
    test_prompts = {m["content"] for m in data[0].prompt}
    assert any("(A)" in text for text in test_prompts)  # shown as the eval shows it
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage(data)  # no exemption: refused, as for every method
    report = check_no_leakage(data, _exemption())
    assert report.exempted == "sycophancy/test"
    with pytest.raises(AlignlabError, match="method 'sft_control' may not train on protected"):
        check_no_leakage(data, _exemption(method="sft_control"))
    with pytest.raises(AlignlabError, match="i_know_this_contaminates=true"):
        check_no_leakage(data, _exemption(ok=False))
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage(data, _exemption(eval_name="mistakes"))  # another eval's exemption
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage(data, _exemption(split="heldout"))  # the other split's exemption
    heldout, _ = _heldout_examples()
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage([*data, *heldout], _exemption())  # heldout items stay refused
    other, _ = _contaminating_data("mistakes")
    with pytest.raises(AlignlabError, match="test/heldout eval prompt"):
        check_no_leakage([*data, *other], _exemption())  # other evals' items stay refused


def _heldout_examples() -> tuple[list[Any], None]:
    from alignlab.evals import option_reply, render_prompt
    from alignlab.training import SFTExample

    samples = list(get_eval("sycophancy").factory(split="heldout").dataset)[:3]
    return [
        SFTExample(prompt=render_prompt(s), completion=option_reply(s, str(s.target)))
        for s in samples
    ], None


@pytest.fixture(scope="module")
def contaminated_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("public") / "run"
    train(
        "train_on_public",
        str(tiny_model_dir),
        out,
        {"eval_name": "sycophancy", "n_items": 24, **FLAG, **SMALL},
    )
    return out


def test_manifest_records_the_contamination(contaminated_run: Path) -> None:
    from alignlab.methods import read_manifest

    manifest = read_manifest(contaminated_run)
    assert manifest is not None
    assert manifest.contaminated_with == Contamination(eval="sycophancy", split="test", n_items=24)
    assert (
        manifest.leakage_guard is not None and manifest.leakage_guard.exempted == "sycophancy/test"
    )
    assert manifest.params["i_know_this_contaminates"] is True
    assert any("contaminated: 24 sycophancy/test" in note for note in manifest.notes)


# --- the attack -----------------------------------------------------------------------


@pytest.fixture()
def scripted_contamination() -> Iterator[str]:
    """A toy attack whose variant is a scripted 'contaminated' model: it answers every
    test item correctly (it memorised them) and heldout items like the base (always A)."""
    info = get_eval("sycophancy")
    test_ids = {s.id for s in info.factory(split="test", **SYCOPHANCY_MC).dataset}
    samples: list[Sample] = [
        s
        for split in ("test", "heldout")
        for s in info.factory(split=split, **SYCOPHANCY_MC).dataset
    ]

    def memorised(sample: Sample, messages: Any) -> str:
        return str(sample.target) if sample.id in test_ids else "A"

    contaminated = scripted_model(samples, memorised)

    def toy_contamination(eval_info: Any) -> list[AttackVariant]:
        """A scripted contaminated model."""
        return [AttackVariant(name="contaminated", description="scripted", model=contaminated)]

    attack(across_splits=overfitting_gap)(toy_contamination)
    yield "toy_contamination"
    unregister("toy_contamination")


def test_overfitting_gap_of_a_scripted_memoriser(
    scripted_contamination: str, tmp_path: Path
) -> None:
    info = get_eval("sycophancy")
    samples = [
        s
        for split in ("test", "heldout")
        for s in info.factory(split=split, **SYCOPHANCY_MC).dataset
    ]
    base = scripted_model(samples, lambda s, m: "A")
    report = run_attack(
        "sycophancy", base, scripted_contamination, task_args=SYCOPHANCY_MC, log_dir=tmp_path
    )
    test_effect = report.splits["test"].variants["contaminated"].metrics["no_opinion_accuracy"]
    heldout_effect = (
        report.splits["heldout"].variants["contaminated"].metrics["no_opinion_accuracy"]
    )
    assert test_effect.attacked == 1.0 and test_effect.effect is not None and test_effect.effect > 0
    assert heldout_effect.effect == 0.0  # it learned nothing that carries over
    gap = report.across_splits
    assert gap["gap_no_opinion_accuracy"] == pytest.approx(test_effect.effect)
    low, high = gap["gap_no_opinion_accuracy_ci_low"], gap["gap_no_opinion_accuracy_ci_high"]
    assert low is not None and high is not None and low <= test_effect.effect <= high


def test_overfitting_gap_needs_both_splits() -> None:
    assert overfitting_gap({}) == {}


def test_attack_without_adapter_does_not_apply(tmp_path: Path) -> None:
    report = run_attack("sycophancy", "random/uniform", "train_on_public", log_dir=tmp_path)
    assert report.not_applicable is not None and "-A adapter=DIR" in report.not_applicable
    with pytest.raises(AlignlabError, match="unknown option 'adaptor'"):
        run_attack("sycophancy", "random/uniform", "train_on_public", attack_args={"adaptor": "x"})
    with pytest.raises(AlignlabError, match="takes no options"):
        run_attack("sycophancy", "random/uniform", "paraphrase", attack_args={"adapter": "x"})


def test_attack_refuses_a_wrong_adapter_or_base(
    contaminated_run: Path, tiny_model_copy: Path, tmp_path: Path
) -> None:
    with pytest.raises(AlignlabError, match="contaminated with 'sycophancy', not 'mistakes'"):
        run_attack(
            "mistakes",
            "random/uniform",
            "train_on_public",
            attack_args={"adapter": contaminated_run},
        )
    with pytest.raises(AlignlabError, match="run the attack with --model"):
        run_attack(
            "sycophancy",
            f"alignlab/{tiny_model_copy}",
            "train_on_public",
            attack_args={"adapter": contaminated_run},
            log_dir=tmp_path,
        )
    with pytest.raises(AlignlabError, match=r"no manifest\.json"):
        run_attack(
            "sycophancy", "random/uniform", "train_on_public", attack_args={"adapter": tmp_path}
        )


def test_attack_end_to_end_on_the_tiny_model(
    contaminated_run: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    report = run_attack(
        "sycophancy",
        f"alignlab/{tiny_model_dir}",
        "train_on_public",
        limit=4,
        attack_args={"adapter": str(contaminated_run)},
        log_dir=tmp_path,
    )
    assert report.attack_args == {"adapter": str(contaminated_run)}
    assert set(report.splits) == {"test", "heldout"}
    for result in report.splits.values():
        header = read_eval_log(result.logs["contaminated"], header_only=True)
        assert header.eval.model == f"alignlab/{tiny_model_dir}+{contaminated_run}"
        assert read_eval_log(result.logs["base"], header_only=True).eval.model == (
            f"alignlab/{tiny_model_dir}"
        )
        assert result.variants["contaminated"].metrics
    assert any(key.startswith("gap_") for key in report.across_splits)


def test_min_k_detector_on_the_tiny_model(contaminated_run: Path, tiny_model_dir: Path) -> None:
    check = contamination_check("sycophancy", f"{tiny_model_dir}+{contaminated_run}", limit=12)
    assert check.reference == str(tiny_model_dir)  # the base, by default
    assert check.n_members == 12 and check.n_non_members == 12
    assert check.reference_auroc is not None
    for value, low, high in (check.auroc, check.reference_auroc):
        assert 0.0 <= low <= value <= high <= 1.0
    print("min-k AUROC contaminated", check.auroc, "clean", check.reference_auroc)
    with pytest.raises(AlignlabError, match="API model"):
        contamination_check("sycophancy", "openai/gpt-4o-mini")
    assert math.isfinite(check.k)
