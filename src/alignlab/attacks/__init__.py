"""Red-teaming the evals: attacks that try to score well without the disposition.

An attack is one module with one ``@attack`` function (see
:mod:`alignlab.attacks._registry`); :func:`run_attack` scores an eval as it is
and under each of the attack's variants on the same samples and reports, per
metric, the paired effect with its interval and whether the variant scores as
aligned as the model.  ``alignlab redteam EVAL --model M --attack NAME`` is the
CLI.  Attacks so far: ``degenerate_policy`` (null models).

White-box measurements sit beside the attacks: :func:`eval_awareness_probe`
trains a linear probe per layer of a local model's residual stream to tell
the evals' eval-formatted prompts from their deployment-formatted ones
(``train`` split) and scores it on ``heldout`` phrasings, beside a
label-shuffled control (``alignlab probe eval-awareness``).
"""

from alignlab.attacks._awareness_probe import (
    DEFAULT_PROBE_EVALS,
    DEPLOYMENT_FORMATS,
    EVAL_FORMATS,
    ControlAccuracy,
    LayerProbe,
    ProbeAccuracy,
    ProbeReport,
    check_probe_evals,
    eval_awareness_probe,
    format_prompts,
    write_probe_report,
)
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

__all__ = [
    "DEFAULT_PROBE_EVALS",
    "DEFAULT_SPLITS",
    "DEPLOYMENT_FORMATS",
    "EVAL_FORMATS",
    "AttackInfo",
    "AttackReport",
    "AttackVariant",
    "ControlAccuracy",
    "LayerProbe",
    "MetricEffect",
    "NotApplicable",
    "ProbeAccuracy",
    "ProbeReport",
    "SplitResult",
    "VariantResult",
    "as_aligned",
    "attack",
    "check_probe_evals",
    "eval_awareness_probe",
    "format_prompts",
    "get_attack",
    "registered_attacks",
    "run_attack",
    "unregister",
    "write_probe_report",
    "write_report",
]
