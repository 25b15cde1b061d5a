"""``regularized``: ``synthetic_data`` SFT with a sparsity penalty added to the loss.

The question it serves: does keeping the fine-tuning change *small* change
what generalises from the anti-sycophancy data?  Two penalties, each scaled by
``strength``:

- ``l1_adapter``: the L1 norm of every LoRA A and B weight (sparse, small
  adapters; L1 weight decay as in Tibshirani 1996, applied to the update only);
- ``activation_l1``: the mean absolute value of the MLP hidden activations
  (the input of every ``down_proj``), the sparsity penalty of sparse
  autoencoders (e.g. Bricken et al. 2023, "Towards Monosemanticity"), here on
  the fine-tuned model itself, pushing the behaviour onto fewer active units.

The two penalties live on very different scales, so ``strength`` defaults per
penalty (:data:`DEFAULT_STRENGTH`); sweep it on a log scale around those values.

The data are exactly ``synthetic_data``'s (Wei et al. 2023, arXiv:2308.03958),
built by calling its builder, so ``strength=0`` is plain ``synthetic_data`` bit
for bit (the penalty is still computed, and contributes exact zeros).

The penalty is a ``model -> scalar tensor`` that the SFT trainer adds to the
loss after every forward pass (the ``sft`` kind takes a penalty, in
:mod:`alignlab.training`).
``activation_l1`` registers forward pre-hooks the first time it sees the model,
so the first optimiser step is not penalised (the hooks cannot exist before
the penalty first sees the model).  The hooks keep only the latest forward's
activations, one tensor per layer (overwritten, never appended), and the
penalty empties that store each step, so nothing accumulates.

Simplified: a constant strength (no warm-up or schedule), and plain
subgradient L1 under AdamW (no proximal step, so weights get small, not
exactly zero).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from alignlab._errors import AlignlabError
from alignlab.methods._registry import BuildContext, method
from alignlab.methods.synthetic_data import SyntheticDataConfig, synthetic_data
from alignlab.training import SFTExample

Penalty = Literal["l1_adapter", "activation_l1"]


class RegularizedConfig(SyntheticDataConfig):
    """Parameters of ``regularized`` (``synthetic_data``'s data options, and the penalty)."""

    penalty: Penalty = "l1_adapter"
    """``l1_adapter`` (L1 of LoRA weights) or ``activation_l1`` (mean |MLP hidden activation|)."""
    strength: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    """Multiplier of the penalty; 0 is plain ``synthetic_data``; None: :data:`DEFAULT_STRENGTH`."""


DEFAULT_STRENGTH: dict[Penalty, float] = {"l1_adapter": 1e-5, "activation_l1": 1.0}
"""Strengths that add about 0.2-0.4 to a loss of about 2 at the start of training on
SmolLM2-135M (r=16): the adapter's L1 norm is about 4.4e4 at initialisation (the A
matrices; B starts at zero), the mean |MLP hidden activation| about 0.18."""


class AdapterL1:
    """``strength`` times the L1 norm of every LoRA A/B weight of the model."""

    def __init__(self, strength: float) -> None:
        self.strength = strength
        self._params: list[Any] | None = None

    def __call__(self, model: Any) -> Any:
        """The penalty for the model's current weights (a scalar tensor)."""
        if self._params is None:
            self._params = [
                p for name, p in model.named_parameters() if "lora_A" in name or "lora_B" in name
            ]
            if not self._params:
                raise AlignlabError("l1_adapter found no LoRA weights in the model")
        return self.strength * sum(p.abs().sum() for p in self._params)


class ActivationL1:
    """``strength`` times the mean |activation| entering every MLP ``down_proj``."""

    def __init__(self, strength: float) -> None:
        self.strength = strength
        self.stash: dict[str, Any] = {}
        """Latest forward's activation per hooked module (cleared by every call)."""
        self._hooked: Any = None
        self._handles: list[Any] = []

    def _attach(self, model: Any) -> None:
        for handle in self._handles:
            handle.remove()
        names = [n for n, _ in model.named_modules() if n.endswith("mlp.down_proj")]
        if not names:
            raise AlignlabError("activation_l1 needs Llama-style 'mlp.down_proj' modules")
        self._handles = [
            model.get_submodule(name).register_forward_pre_hook(self._hook(name)) for name in names
        ]
        self._hooked = model

    def _hook(self, name: str) -> Any:
        def stash(module: Any, args: tuple[Any, ...]) -> None:
            self.stash[name] = args[0]

        return stash

    def __call__(self, model: Any) -> Any:
        """The penalty for the last forward's activations (hooks attach on the first call)."""
        import torch

        if self._hooked is not model:
            self._attach(model)
        activations = list(self.stash.values())
        self.stash.clear()
        if not activations:  # the first step: the hooks were not there during its forward
            return torch.zeros(())
        total = sum(a.abs().sum() for a in activations)
        count = sum(a.numel() for a in activations)
        return self.strength * total / count


def make_penalty(config: RegularizedConfig) -> AdapterL1 | ActivationL1:
    """The loss term for ``config`` (``model -> scalar tensor``)."""
    strength = DEFAULT_STRENGTH[config.penalty] if config.strength is None else config.strength
    if config.penalty == "l1_adapter":
        return AdapterL1(strength)
    return ActivationL1(strength)


@method(
    config=RegularizedConfig,
    kind="sft",
    features=("synthetic_data", "regularisation"),
    source="synthetic_data (arXiv:2308.03958) with an L1 penalty on adapter or activations",
    penalty=make_penalty,
)
def regularized(config: RegularizedConfig, context: BuildContext) -> list[SFTExample]:
    """``synthetic_data`` SFT plus an L1 penalty on the LoRA weights or MLP activations."""
    data_config = SyntheticDataConfig(
        filter_unknown=config.filter_unknown, n_claims=config.n_claims
    )
    return synthetic_data(data_config, context)
