"""``random/uniform``: the random-choice baseline as an Inspect model.

Every eval reports its numbers next to this baseline: a model that picks each
multiple-choice option (or candidate reply) uniformly at random.  It speaks
the same choice-scoring protocol as the ``alignlab`` provider, so evals treat
it like a local model, and it is deterministic: the choice is a hash of the
seed and the prompt.  Free generation (e.g. a chain of thought) returns an
empty reply.
"""

from __future__ import annotations

import hashlib

from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput, ModelUsage, modelapi

from alignlab.models._api import LocalModelAPI


def _transcript(input: list[ChatMessage]) -> str:
    return "\n".join(f"{m.role}: {m.text}" for m in input)


def _usage(transcript: str) -> ModelUsage:
    return ModelUsage(input_tokens=len(transcript.split()), output_tokens=0, total_tokens=0)


class RandomChoiceAPI(LocalModelAPI):
    """Uniformly random answers to choice-scoring requests; empty generations.

    Its ``model_name`` and model arguments are ignored (``uniform`` by convention).
    """

    async def choose(
        self, input: list[ChatMessage], options: list[str], config: GenerateConfig
    ) -> ModelOutput:
        """An option drawn uniformly, seeded by ``config.seed``, the prompt and the options."""
        transcript = _transcript(input)
        key = f"{config.seed or 0}\n{transcript}\n{options}".encode()
        index = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % len(options)
        probs = [1.0 / len(options)] * len(options)
        return self.choice_reply(options, index, probs, _usage(transcript))

    async def write(self, input: list[ChatMessage], config: GenerateConfig) -> ModelOutput:
        """An empty reply."""
        return self.reply("", _usage(_transcript(input)))


@modelapi(name="random")
def random_provider() -> type[RandomChoiceAPI]:
    """Register the random-choice baseline as ``random/uniform``."""
    return RandomChoiceAPI
