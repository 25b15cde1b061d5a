"""Batched generation and choice scoring for one local causal LM, in plain torch.

Why not ``model.generate``: on a 2-core CPU the decode loop is bound by small
matmuls, and every wasted row costs as much as a useful one.  This loop

- sorts requests by prompt length and cuts batches by a token budget
  (length bucketing: little padding in the prefill, big batches for short prompts);
- computes logits only for the last position in the prefill;
- drops finished rows from the batch and the KV cache once a quarter of the
  batch has finished (no wasted decode steps on rows that hit EOS);
- samples each row with its own seeded generator, so a request's output does
  not depend on which other requests shared its batch.

Choice scoring reads log-likelihoods instead of generating: when every option
is a single token, one forward pass over the prompt scores all of them; else
the prompt+option rows of all requests go through one padded forward pass.

Simplified: no beam search, no speculative decoding, no prefix sharing between
choice rows; stop sequences are matched on decoded text.

Device: the engine runs wherever the model's weights are (:attr:`Engine.device`;
:func:`~alignlab.models.load_model` puts them on the GPU when there is one) and
creates every tensor there.  The one exception is sampling: each request's
generator is a CPU generator, so its random stream does not depend on the
device, and the probabilities are copied to the CPU (once per decode step) to
draw from it.

Both entry points take ``should_stop``: checked between batches, decode
steps and, inside a forward pass, before each decoder layer, it ends the call
with :class:`EngineStopped` (the provider stops work whose callers were all
cancelled, so an interrupted eval ends in about a second).
Non-finite log-probabilities raise :class:`NonFiniteLogprobsError` instead of
picking an arbitrary option.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignlab._errors import AlignlabError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

StopCheck = Callable[[], bool] | None
"""A callable that says the results are no longer wanted (None: never)."""


class EngineStopped(Exception):
    """The call was ended early because ``should_stop`` returned True."""


class NonFiniteLogprobsError(AlignlabError):
    """Choice scoring met a NaN or infinite log-probability (corrupt weights, usually)."""


def _stop_if_asked(should_stop: StopCheck) -> None:
    if should_stop is not None and should_stop():
        raise EngineStopped("stopped: the results are no longer wanted")


_Scores = tuple[list[float], int]
"""One choice request's option log-likelihoods, and the tokens run to score them."""


DEFAULT_MAX_BATCH_SIZE = 64
"""Most rows decoded together.  64 measured fastest on a 2-core CPU with
SmolLM2-135M (see benchmarks/RESULTS.md)."""

DEFAULT_MAX_BATCH_TOKENS = 8192
"""Most padded prompt tokens in one prefill."""


@dataclass(frozen=True)
class SamplingParams:
    """How to pick the next token; requests with equal params may share a batch."""

    max_new_tokens: int = 64
    """Upper bound on generated tokens."""
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (sampled decoding only)."""
    top_k: int = 0
    """Keep only the k most likely tokens (0: off; sampled decoding only)."""
    stop_seqs: tuple[str, ...] = ()
    """Text that ends generation; it is cut from the output."""

    @property
    def greedy(self) -> bool:
        """True for greedy decoding."""
        return self.temperature <= 0.0


@dataclass
class GenerationRequest:
    """One prompt to complete."""

    prompt_ids: list[int]
    """Token ids of the full prompt (chat template already applied)."""
    params: SamplingParams = field(default_factory=SamplingParams)
    """Decoding parameters."""
    seed: int = 0
    """Seed of this request's private generator (sampled decoding only)."""


@dataclass
class GenerationResult:
    """What one request produced."""

    text: str
    """Decoded completion, stop sequence removed."""
    token_ids: list[int]
    """Generated token ids (including a final EOS if one was produced)."""
    prompt_tokens: int
    """Length of the prompt in tokens."""
    stop_reason: str
    """``stop`` (EOS or stop sequence) or ``max_tokens``."""


@dataclass
class ChoiceRequest:
    """A prompt and the options whose likelihood to compare."""

    prompt_ids: list[int]
    """Token ids of the prompt."""
    option_ids: list[list[int]]
    """Token ids of each option's continuation (non-empty each)."""


@dataclass
class ChoiceResult:
    """Log-likelihoods of each option given the prompt."""

    logprobs: list[float]
    """Sum of token log-probabilities of each option."""
    probs: list[float]
    """Softmax of ``logprobs`` over the options (sums to 1)."""
    prompt_tokens: int
    """Prompt length in tokens."""
    scored_tokens: int
    """Tokens that went through the model for this request."""

    @property
    def best(self) -> int:
        """Index of the most likely option."""
        return max(range(len(self.logprobs)), key=self.logprobs.__getitem__)

    def per_token(self, option_lengths: Sequence[int]) -> ChoiceResult:
        """The same result ranked by mean log-probability per option token.

        Args:
            option_lengths: Token count of each option.

        Returns:
            A result whose ``logprobs`` are per-token means and ``probs`` their softmax.
        """
        means = [lp / n for lp, n in zip(self.logprobs, option_lengths, strict=True)]
        return ChoiceResult(
            logprobs=means,
            probs=_softmax(means),
            prompt_tokens=self.prompt_tokens,
            scored_tokens=self.scored_tokens,
        )


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


MIN_SHARED_PREFIX = 4
"""Shorter shared prefixes are not worth a separate forward pass."""


def _common_prefix_len(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by every row."""
    first = rows[0]
    length = min(len(r) for r in rows)
    for row in rows[1:]:
        k = 0
        while k < length and row[k] == first[k]:
            k += 1
        length = k
    return length


def _batches_by_budget(
    order: Sequence[int], lengths: Sequence[int], max_batch: int, max_tokens: int
) -> Iterator[list[int]]:
    """Cut an ordering into batches of <= ``max_batch`` rows and <= ``max_tokens`` padded tokens."""
    batch: list[int] = []
    longest = 0
    for index in order:
        new_longest = max(longest, lengths[index])
        if batch and (len(batch) >= max_batch or new_longest * (len(batch) + 1) > max_tokens):
            yield batch
            batch, new_longest = [], lengths[index]
        batch.append(index)
        longest = new_longest
    if batch:
        yield batch


class Engine:
    """Generation and choice scoring on one loaded model."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ) -> None:
        """Wrap a model.

        Args:
            model: A causal LM.
            tokenizer: Its tokenizer.
            max_batch_size: Most rows decoded together (see :data:`DEFAULT_MAX_BATCH_SIZE`).
            max_batch_tokens: Most padded prompt tokens in one prefill.
        """
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        pad = tokenizer.pad_token_id
        self.pad_id: int = int(pad if pad is not None else tokenizer.eos_token_id)
        self.eos_ids: frozenset[int] = self._eos_ids()
        self.reused_prefix_tokens = 0
        """Prompt tokens whose forward pass was skipped by prefix sharing (a counter)."""

    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        config_eos: Any = getattr(
            getattr(self.model, "generation_config", None), "eos_token_id", None
        )
        if isinstance(config_eos, int):
            ids.add(config_eos)
        elif isinstance(config_eos, list):
            ids.update(int(x) for x in config_eos)
        return frozenset(ids)

    @contextlib.contextmanager
    def _stoppable(self, should_stop: StopCheck) -> Iterator[None]:
        """Check ``should_stop`` before every decoder layer while the block runs.

        A prefill of a full batch takes tens of seconds on a small CPU; checking
        between layers bounds the wait to one layer.  Only this thread's calls
        are stopped (another thread may share the model).
        """
        if should_stop is None:
            yield
            return
        import torch

        owner = threading.get_ident()

        def check(module: Any, args: Any) -> None:
            if threading.get_ident() == owner:
                _stop_if_asked(should_stop)

        layers = [
            layer
            for module in self.model.modules()
            if isinstance(module, torch.nn.ModuleList) and len(module) > 1
            for layer in module
        ]
        handles = [layer.register_forward_pre_hook(check) for layer in layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.model.parameters()).device

    # -- generation -----------------------------------------------------------------

    def generate(
        self, requests: Sequence[GenerationRequest], should_stop: StopCheck = None
    ) -> list[GenerationResult]:
        """Complete every request; results come back in request order.

        Args:
            requests: Prompts with their sampling parameters.
            should_stop: Checked before each batch and decode step.

        Returns:
            One result per request.

        Raises:
            EngineStopped: When ``should_stop`` returned True.
        """
        import torch

        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[SamplingParams, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.params, []).append(index)
        lengths = [len(r.prompt_ids) for r in requests]
        with torch.inference_mode(), self._stoppable(should_stop):
            for params, members in groups.items():
                order = sorted(members, key=lengths.__getitem__)
                for batch in _batches_by_budget(
                    order, lengths, self.max_batch_size, self.max_batch_tokens
                ):
                    outputs = self._generate_batch(
                        [requests[i] for i in batch], params, should_stop
                    )
                    for index, output in zip(batch, outputs, strict=True):
                        results[index] = output
        return [r for r in results if r is not None]

    def _left_pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                attention[i, width - len(row) :] = 1
        return input_ids.to(self.device), attention.to(self.device)

    def _prefill(
        self, rows: Sequence[Sequence[int]], max_prefix: int, logits_to_keep: int
    ) -> tuple[Any, Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the prompt forward pass, computing a prefix shared by all rows only once.

        Chat prompts share the template's opening (system prompt, role tags): its
        keys and values are computed for one row and repeated across the batch.

        Args:
            rows: Token ids per row.
            max_prefix: Upper bound on the shared prefix length.
            logits_to_keep: Passed to the model (0: logits at every suffix position).

        Returns:
            ``(model_output, cache, attention_mask, position_ids, suffix_ids)``; the
            mask spans prefix and suffix, the rest only the (left-padded) suffix.
        """
        import torch
        from transformers import DynamicCache

        prefix_len = min(_common_prefix_len(rows), max_prefix)
        cache = DynamicCache()
        if len(rows) < 2 or prefix_len < MIN_SHARED_PREFIX:
            prefix_len = 0
        else:
            prefix = torch.tensor([list(rows[0][:prefix_len])], device=self.device)
            self.model(input_ids=prefix, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(len(rows))
            self.reused_prefix_tokens += prefix_len * (len(rows) - 1)
        suffix_ids, suffix_attention = self._left_pad([r[prefix_len:] for r in rows])
        attention = torch.cat(
            [suffix_attention.new_ones((len(rows), prefix_len)), suffix_attention], dim=1
        )
        positions = (attention.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        out = self.model(
            input_ids=suffix_ids,
            attention_mask=attention,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=logits_to_keep,
        )
        return out, cache, attention, positions, suffix_ids

    def _generate_batch(
        self,
        batch: Sequence[GenerationRequest],
        params: SamplingParams,
        should_stop: StopCheck = None,
    ) -> list[GenerationResult]:
        import torch

        _stop_if_asked(should_stop)
        rows = [r.prompt_ids for r in batch]
        # keep at least one token of every prompt out of the shared prefix
        out, cache, attention, positions, _ = self._prefill(
            rows, max_prefix=min(len(r) for r in rows) - 1, logits_to_keep=1
        )
        generators = None
        if not params.greedy:
            generators = [torch.Generator(device="cpu").manual_seed(r.seed) for r in batch]
        alive = list(range(len(batch)))  # batch row -> request index
        next_pos = positions[:, -1] + 1
        generated: list[list[int]] = [[] for _ in batch]
        finished = [False] * len(batch)
        stop_reason = ["max_tokens"] * len(batch)
        logits = out.logits[:, -1, :]
        for step in range(params.max_new_tokens):
            tokens = self._pick(
                logits, params, [generators[i] for i in alive] if generators else None
            )
            for row, token in enumerate(tokens.tolist()):
                request_index = alive[row]
                generated[request_index].append(token)
                if token in self.eos_ids or self._hit_stop(generated[request_index], params):
                    finished[request_index] = True
                    stop_reason[request_index] = "stop"
            if step == params.max_new_tokens - 1 or all(finished[i] for i in alive):
                break
            _stop_if_asked(should_stop)
            keep_rows = [row for row, i in enumerate(alive) if not finished[i]]
            # Compact when a quarter of the rows are done: copying the cache costs
            # about one decode step, so compacting for a single row does not pay.
            if len(keep_rows) <= 0.75 * len(alive):
                index = torch.tensor(keep_rows, device=self.device)
                cache.batch_select_indices(index)
                attention, next_pos, tokens = attention[index], next_pos[index], tokens[index]
                alive = [alive[row] for row in keep_rows]
            attention = torch.cat([attention, attention.new_ones((attention.shape[0], 1))], dim=1)
            out = self.model(
                input_ids=tokens[:, None],
                attention_mask=attention,
                position_ids=next_pos[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            next_pos = next_pos + 1
            logits = out.logits[:, -1, :]
        return [
            self._result(batch[i], generated[i], stop_reason[i], params) for i in range(len(batch))
        ]

    def _hit_stop(self, generated: list[int], params: SamplingParams) -> bool:
        if not params.stop_seqs:
            return False
        tail = self.tokenizer.decode(generated[-16:], skip_special_tokens=True)
        return any(stop in tail for stop in params.stop_seqs)

    def _result(
        self, request: GenerationRequest, tokens: list[int], reason: str, params: SamplingParams
    ) -> GenerationResult:
        text = str(self.tokenizer.decode(tokens, skip_special_tokens=True))
        for stop in params.stop_seqs:
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        return GenerationResult(
            text=text, token_ids=tokens, prompt_tokens=len(request.prompt_ids), stop_reason=reason
        )

    @staticmethod
    def _pick(
        logits: torch.Tensor, params: SamplingParams, generators: list[torch.Generator] | None
    ) -> torch.Tensor:
        """The next token of every row: argmax, or a draw from each row's own generator.

        The generators live on the CPU (see the module docstring), so the sampling
        probabilities are moved there in one copy; the picks go back to ``logits``'s device.
        """
        import torch

        if params.greedy or generators is None:
            return logits.argmax(dim=-1)
        scaled = logits.float() / params.temperature
        if params.top_k > 0:
            kth = torch.topk(scaled, min(params.top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, -math.inf)
        probs = torch.softmax(scaled, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs > params.top_p
            sorted_probs = sorted_probs.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, sorted_idx, sorted_probs)
        probs = probs.cpu()  # the generators' device; a no-op on the CPU
        picks = [
            torch.multinomial(probs[row], 1, generator=gen) for row, gen in enumerate(generators)
        ]
        return torch.cat(picks).to(logits.device)

    # -- choice scoring -------------------------------------------------------------

    def score_choices(
        self, requests: Sequence[ChoiceRequest], should_stop: StopCheck = None
    ) -> list[ChoiceResult]:
        """Score every option of every request by log-likelihood.

        Args:
            requests: Prompts with the options to compare.
            should_stop: Checked before each batch.

        Returns:
            One result per request, in order.

        Raises:
            EngineStopped: When ``should_stop`` returned True.
            NonFiniteLogprobsError: When an option's log-probability is NaN or
                +inf, or every option's is -inf.
        """
        import torch

        single = [i for i, r in enumerate(requests) if all(len(o) == 1 for o in r.option_ids)]
        multi = [i for i, r in enumerate(requests) if i not in set(single)]
        with torch.inference_mode(), self._stoppable(should_stop):
            scores = {
                **self._score_single_token(requests, single, should_stop),
                **self._score_sequences(requests, multi, should_stop),
            }
        results = []
        for i, request in enumerate(requests):
            values, scored = scores[i]
            if any(math.isnan(v) or v == math.inf for v in values) or max(values) == -math.inf:
                raise NonFiniteLogprobsError(
                    "model produced non-finite log-probabilities: its weights are probably corrupt"
                )
            results.append(
                ChoiceResult(
                    logprobs=values,
                    probs=_softmax(values),
                    prompt_tokens=len(request.prompt_ids),
                    scored_tokens=scored,
                )
            )
        return results

    def _scoring_batches(
        self, order: list[int], lengths: list[int], should_stop: StopCheck
    ) -> Iterator[list[int]]:
        """Batches of rows to score (no decoding, so four times the generation batch size)."""
        for batch in _batches_by_budget(
            order, lengths, 4 * self.max_batch_size, self.max_batch_tokens
        ):
            _stop_if_asked(should_stop)
            yield batch

    def _score_single_token(
        self, requests: Sequence[ChoiceRequest], members: list[int], should_stop: StopCheck
    ) -> dict[int, _Scores]:
        """Scores of the ``members`` requests whose options are one token each (one prefill)."""
        import torch

        scores: dict[int, _Scores] = {}
        lengths = [len(r.prompt_ids) for r in requests]
        order = sorted(members, key=lengths.__getitem__)
        for batch in self._scoring_batches(order, lengths, should_stop):
            rows = [requests[i].prompt_ids for i in batch]
            out, _, _, _, _ = self._prefill(
                rows, max_prefix=min(len(r) for r in rows) - 1, logits_to_keep=1
            )
            log_probs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            for row, i in enumerate(batch):
                option_tokens = [o[0] for o in requests[i].option_ids]
                scores[i] = (log_probs[row, option_tokens].tolist(), lengths[i])
        return scores

    def _score_sequences(
        self, requests: Sequence[ChoiceRequest], members: list[int], should_stop: StopCheck
    ) -> dict[int, _Scores]:
        """Scores of the ``members`` requests, one prompt + option row per option."""
        import torch

        logprobs: dict[int, list[float]] = {}
        scored: dict[int, int] = {}
        rows: list[tuple[int, int, list[int]]] = []  # (request, option, ids)
        for i in members:
            for k, option in enumerate(requests[i].option_ids):
                rows.append((i, k, requests[i].prompt_ids + option))
            logprobs[i] = [0.0] * len(requests[i].option_ids)
            scored[i] = 0
        lengths = [len(r[2]) for r in rows]
        order = sorted(range(len(rows)), key=lengths.__getitem__)
        for batch in self._scoring_batches(order, lengths, should_stop):
            # the logits that predict each option's first token must lie in the suffix
            max_prefix = min(
                len(rows[j][2]) - len(requests[rows[j][0]].option_ids[rows[j][1]]) - 1
                for j in batch
            )
            # rows are left-padded, so every option lies in the last `keep` positions:
            # only those need the (vocabulary-sized) output projection and softmax
            keep = 1 + max(len(requests[rows[j][0]].option_ids[rows[j][1]]) for j in batch)
            out, _, _, _, suffix_ids = self._prefill(
                [rows[j][2] for j in batch], max_prefix=max_prefix, logits_to_keep=keep
            )
            log_probs = torch.log_softmax(out.logits[:, :-1, :].float(), dim=-1)
            targets = suffix_ids[:, -(keep - 1) :]
            token_lp = log_probs.gather(-1, targets[..., None]).squeeze(-1)
            for row, j in enumerate(batch):
                i, k, ids = rows[j]
                option_len = len(requests[i].option_ids[k])
                # the option's tokens are the last option_len targets of the row
                logprobs[i][k] = float(token_lp[row, keep - 1 - option_len :].sum())
                scored[i] += len(ids)
        return {i: (logprobs[i], scored[i]) for i in members}
