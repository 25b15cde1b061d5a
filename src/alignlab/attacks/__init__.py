"""Red-teaming the evals: attacks that try to score well without the disposition.

An attack is one module with one ``@attack`` function (see
:mod:`alignlab.attacks._registry`); :func:`run_attack` scores an eval as it is
and under each of the attack's variants on the same samples and reports, per
metric, the paired effect with its interval and whether the variant scores as
aligned as the model.  ``alignlab redteam EVAL --model M --attack NAME`` is the
CLI.  Attacks so far: ``degenerate_policy`` (null models), ``answer_position``
(every cyclic permutation of the options, with the spread of per-position
recall).

A hardening is one module with one ``@hardening`` function (see
:mod:`alignlab.attacks._harden`): a new version of the eval that every attack
can be run on (``run_attack(..., hardening=NAME)``; ``alignlab harden``), so an
attack's effect on the eval as it is can be compared with its effect on the
hardened eval.  Hardenings so far: ``position_debias`` (PriDe).
"""

from alignlab.attacks._harden import (
    Hardening,
    HardeningInfo,
    SampleTransform,
    SolverWrapper,
    get_hardening,
    hardening,
    registered_hardenings,
    unregister_hardening,
)
from alignlab.attacks._options import (
    LETTER_FIELD_SUFFIX,
    LETTER_KEYED_FIELDS,
    gold_position,
    is_lettered,
    move_gold_to,
    rotate_options,
    unreorderable_reason,
)
from alignlab.attacks._registry import (
    AttackInfo,
    AttackVariant,
    Diagnostics,
    NotApplicable,
    attack,
    get_attack,
    registered_attacks,
    unregister,
)
from alignlab.attacks._run import (
    DEFAULT_SPLITS,
    AttackReport,
    MetricEffect,
    SplitResult,
    VariantResult,
    as_aligned,
    harden_eval,
    run_attack,
    write_report,
)

__all__ = [
    "DEFAULT_SPLITS",
    "LETTER_FIELD_SUFFIX",
    "LETTER_KEYED_FIELDS",
    "AttackInfo",
    "AttackReport",
    "AttackVariant",
    "Diagnostics",
    "Hardening",
    "HardeningInfo",
    "MetricEffect",
    "NotApplicable",
    "SampleTransform",
    "SolverWrapper",
    "SplitResult",
    "VariantResult",
    "as_aligned",
    "attack",
    "get_attack",
    "get_hardening",
    "gold_position",
    "harden_eval",
    "hardening",
    "is_lettered",
    "move_gold_to",
    "registered_attacks",
    "registered_hardenings",
    "rotate_options",
    "run_attack",
    "unregister",
    "unregister_hardening",
    "unreorderable_reason",
    "write_report",
]
