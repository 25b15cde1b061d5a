"""``none``: the untouched base, the reference row of every comparison.

It still writes an adapter: a freshly initialised LoRA whose B matrices are
zero, so it computes exactly the base model while having the same structure
and loading path as every trained variant.
"""

from __future__ import annotations

from alignlab.methods._config import MethodConfig
from alignlab.methods._registry import BuildContext, method


class NoneConfig(MethodConfig):
    """No parameters."""


@method(config=NoneConfig, kind="none", source="reference row (no training)")
def none(config: NoneConfig, context: BuildContext) -> list[object]:
    """The untouched base model (an identity LoRA adapter, zero tokens)."""
    return []
