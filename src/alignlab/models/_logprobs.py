"""Per-token log-probabilities of given token sequences under a loaded model.

What membership-inference detectors read: Min-K% prob (Shi et al. 2023,
arXiv:2310.16789) averages the least likely tokens of a text, and a text the
model was trained on has fewer very unlikely tokens.  The score itself is in
:func:`alignlab.analysis.min_k_prob`; this module only runs the model.

Token ``t`` (for ``t >= 1``) gets ``log p(ids[t] | ids[:t])``; the first token
has no prefix and gets no score.  Sequences are scored one at a time (no
padding, so no attention-mask subtleties); detector runs are a few hundred
items, which a small model scores in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from alignlab._errors import AlignlabError

if TYPE_CHECKING:
    from alignlab.models._load import LoadedModel

MIN_TOKENS = 2
"""A sequence needs a first token (no score) and at least one scored successor."""


def token_logprobs(loaded: LoadedModel, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
    """``log p(token | prefix)`` of every token but the first, for each sequence.

    Args:
        loaded: A model from :func:`alignlab.models.load_model` (with or without adapter).
        sequences: Token ids, each at least two tokens long.

    Returns:
        One list per sequence, ``len(ids) - 1`` log-probabilities (natural log).

    Raises:
        AlignlabError: A sequence shorter than two tokens, or non-finite log-probabilities.
    """
    import torch

    device = next(loaded.model.parameters()).device
    out: list[list[float]] = []
    with torch.inference_mode():
        for index, ids in enumerate(sequences):
            if len(ids) < MIN_TOKENS:
                raise AlignlabError(f"sequence {index} has fewer than two tokens to score")
            tensor = torch.tensor([list(ids)], device=device)
            logits = loaded.model(input_ids=tensor).logits[0, :-1].float()
            logps = torch.log_softmax(logits, dim=-1)
            picked = logps.gather(1, tensor[0, 1:].unsqueeze(1)).squeeze(1)
            if not bool(torch.isfinite(picked).all()):
                raise AlignlabError(
                    f"sequence {index}: the model gave non-finite log-probabilities"
                )
            out.append([float(v) for v in picked.cpu()])
    return out
