"""Red-teaming the evals: attacks that try to score well without the disposition.

An attack is one module with one ``@attack`` function (see
:mod:`alignlab.attacks._registry`); :func:`run_attack` scores an eval as it is
and under each of the attack's variants on the same samples and reports, per
metric, the paired effect with its interval and whether the variant scores as
aligned as the model.  ``alignlab redteam EVAL --model M --attack NAME`` is the
CLI.  Verdicts (:mod:`alignlab.attacks._verdict`) turn the reports into a
robustness matrix and one word per metric (``robust`` / ``gameable:<attacks>``).
"""

from alignlab.attacks._registry import (
    AttackInfo,
    AttackVariant,
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
    run_attack,
    write_report,
)
from alignlab.attacks._verdict import (
    ROBUST_MARGIN,
    VERDICT_SPLIT,
    MatrixCell,
    attack_cells,
    effect_verdict,
    is_robust,
    matrix_json,
    metric_verdicts,
    policy_verdict,
)

__all__ = [
    "DEFAULT_SPLITS",
    "ROBUST_MARGIN",
    "VERDICT_SPLIT",
    "AttackInfo",
    "AttackReport",
    "AttackVariant",
    "MatrixCell",
    "MetricEffect",
    "NotApplicable",
    "SplitResult",
    "VariantResult",
    "as_aligned",
    "attack",
    "attack_cells",
    "effect_verdict",
    "get_attack",
    "is_robust",
    "matrix_json",
    "metric_verdicts",
    "policy_verdict",
    "registered_attacks",
    "run_attack",
    "unregister",
    "write_report",
]
