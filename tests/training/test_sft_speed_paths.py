"""The SFT trainer's fast paths compute the same thing as the plain ones.

- ``completion_loss`` (logits only at scored positions) is the completion-only
  token-mean cross-entropy, checked against a hand computation per sequence;
- ``packed_sdpa`` (attention within each packed sequence) gives the logits of
  running each sequence on its own, and falls back to SDPA on padded batches;
- the thread count changes the adapter only by rounding (so the opt-in thread tuner
  is safe, though not bit-reproducible), the tuner is off by default, and
  ``run_sft`` leaves threads and attention as it found them.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alignlab.methods import SFTExample, train
from alignlab.training import (
    PACKED_ATTENTION,
    TrainingConfig,
    best_thread_count,
    completion_loss,
    lora_model,
    run_sft,
    thread_tuner,
    tokenize_sft,
    use_packed_attention,
)

EXAMPLES = [
    SFTExample(
        prompt=({"role": "user", "content": "Sort: pear, apple, fig."},),
        completion="apple, fig, pear.",
    ),
    SFTExample(
        prompt=({"role": "user", "content": "How many grams in 3 kilograms?"},), completion="3000."
    ),
    SFTExample(
        prompt=({"role": "user", "content": "Plural of mouse?"},), completion="The plural is mice."
    ),
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[object, object, list[tuple[list[int], list[int]]]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = lora_model(tiny_model_dir, TrainingConfig())
    torch.manual_seed(1)
    with torch.no_grad():  # non-zero LoRA B, so the adapters take part in the check
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    rows = [tokenize_sft(tokenizer, e, 384) for e in EXAMPLES]
    return model, tokenizer, rows


def _collate(rows: list[tuple[list[int], list[int]]], tokenizer: object) -> dict[str, torch.Tensor]:
    """A padding-free batch from TRL's collator, labels -100 off the completion (as TRL builds)."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
        padding_free=True,
    )
    labelled = [
        {"input_ids": ids, "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)]}
        for ids, mask in rows
    ]
    return collator(labelled)  # type: ignore[no-any-return]


def _hand_loss(model: object, rows: list[tuple[list[int], list[int]]]) -> float:
    nll = []
    for ids, mask in rows:
        logits = model(input_ids=torch.tensor([ids])).logits[0]  # type: ignore[operator]
        logp = torch.log_softmax(logits.double(), dim=-1)
        nll += [-logp[t - 1, ids[t]].item() for t in range(1, len(ids)) if mask[t]]
    return sum(nll) / len(nll)


def test_completion_loss_is_completion_token_mean_cross_entropy(tiny: tuple) -> None:  # type: ignore[type-arg]
    model, tokenizer, rows = tiny
    model.train()
    batch = _collate(rows, tokenizer)
    assert set(batch) >= {"input_ids", "labels", "position_ids", "cu_seq_lens_q"}
    previous = use_packed_attention(model)
    try:
        packed = completion_loss(model, dict(batch))
    finally:
        model.get_base_model().set_attn_implementation(previous)
    plain = completion_loss(model, dict(batch))  # SDPA with the block-diagonal mask
    with torch.no_grad():
        hand = _hand_loss(model, rows)
    assert packed.item() == pytest.approx(hand, abs=1e-5)
    assert plain.item() == pytest.approx(hand, abs=1e-5)
    # normalised by the step's scored-token count when the Trainer gives it
    scored = int(sum(sum(mask[1:]) for _, mask in rows))
    halved = completion_loss(model, dict(batch), num_items_in_batch=2 * scored)
    assert halved.item() == pytest.approx(plain.item() / 2, rel=1e-6)
    packed.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad(set_to_none=True)


def test_packed_attention_matches_each_sequence_alone(
    tiny: tuple,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transformers.integrations import sdpa_attention

    model, tokenizer, rows = tiny
    model.eval()
    batch = _collate(rows, tokenizer)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    lengths: list[int] = []
    real = sdpa_attention.sdpa_attention_forward

    def spy(module: object, query: torch.Tensor, *args: object, **kwargs: object) -> object:
        lengths.append(query.shape[2])
        return real(module, query, *args, **kwargs)

    monkeypatch.setattr(sdpa_attention, "sdpa_attention_forward", spy)
    with torch.no_grad():
        alone = torch.cat([model(input_ids=torch.tensor([ids])).logits[0] for ids, _ in rows])
        masked = model(**inputs).logits[0]
        previous = use_packed_attention(model)
        assert model.get_base_model().config._attn_implementation == PACKED_ATTENTION
        try:
            lengths.clear()
            packed = model(**inputs).logits[0]
            layers = model.get_base_model().config.num_hidden_layers
            assert lengths == [len(ids) for ids, _ in rows] * layers  # one call per sequence
            # no cu_seq_lens: a padded batch goes through plain SDPA with its mask
            width = max(len(ids) for ids, _ in rows)
            padded_ids = torch.tensor([i + [0] * (width - len(i)) for i, _ in rows])
            attention = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in rows])
            padded = model(input_ids=padded_ids, attention_mask=attention).logits
        finally:
            model.get_base_model().set_attn_implementation(previous)
        reference = model(input_ids=padded_ids, attention_mask=attention).logits
    assert torch.allclose(packed, alone, atol=1e-5)
    assert torch.allclose(masked, alone, atol=1e-5)
    for row, (seq, _) in enumerate(rows):
        assert torch.allclose(padded[row, : len(seq)], reference[row, : len(seq)], atol=1e-5)
    model.train()


def test_thread_count_changes_the_adapter_only_by_rounding(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    before = torch.get_num_threads()
    try:
        adapters = []
        for threads in (1, 2):
            out = tmp_path / f"threads-{threads}"
            params = {"token_budget": 300, "batch_size": 4, "threads": threads}
            train("synthetic_data", str(tiny_model_dir), out, {**params, "filter_unknown": False})
            adapters.append(load_file(str(out / "adapter_model.safetensors")))
    finally:
        torch.set_num_threads(before)
    one, two = adapters
    assert one.keys() == two.keys()
    assert all(torch.allclose(one[k], two[k], rtol=0, atol=1e-4) for k in one)
    assert any(bool(two[k].abs().sum() > 0) for k in two if "lora_B" in k)


def test_run_sft_restores_threads_and_attention(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    training = TrainingConfig(token_budget=200, batch_size=2)
    model = lora_model(tiny_model_dir, training)
    before = torch.get_num_threads()
    outcome = run_sft(model, tokenizer, EXAMPLES, training, tmp_path)
    assert outcome.loss_curve and outcome.n_examples == 3
    assert torch.get_num_threads() == before
    assert model.get_base_model().config._attn_implementation == "sdpa"


def test_thread_choice() -> None:
    before = torch.get_num_threads()
    try:
        most = max(before, 2)
        assert best_thread_count(most) in (1, most)
        assert torch.get_num_threads() in (1, most)
        assert best_thread_count(1) == 1
    finally:
        torch.set_num_threads(before)
    assert thread_tuner(TrainingConfig(threads=1)) is None
    assert thread_tuner(TrainingConfig(threads=1, tune_threads=True)) is None
    assert thread_tuner(TrainingConfig()) is None  # off by default: bit-reproducible runs
    if before > 1:
        assert thread_tuner(TrainingConfig(tune_threads=True)) is not None
