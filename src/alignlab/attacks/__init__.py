"""Red-teaming the evals: attacks that try to score well without the disposition.

An attack is one module with one ``@attack`` function (see
:mod:`alignlab.attacks._registry`); :func:`run_attack` scores an eval as it is
and under each of the attack's variants on the same samples and reports, per
metric, the paired effect with its interval and whether the variant scores as
aligned as the model.  ``alignlab redteam EVAL --model M --attack NAME`` is the
CLI.  Attacks: ``degenerate_policy`` (null models), ``answer_position``
(every cyclic permutation of the options, with the spread of per-position
recall), ``paraphrase`` (meaning-preserving rewrites), ``eval_awareness_prompt``
("you are being evaluated" vs "you are deployed"), ``master_key`` (fixed
replies such as ":" read by the free-text scorers), ``train_on_public``
(a contaminated adapter: test gain minus heldout gain, and the Min-K%
detector :func:`contamination_check`), ``eval_cue_organism`` (a model
organism aligned only on eval-looking items, per surface format).

Verdicts (:mod:`alignlab.attacks._verdict`) turn the reports into a
robustness matrix and one word per metric (``robust`` / ``gameable:<attacks>``);
a benchmark writes them as a :class:`RobustnessFile` (:func:`read_robustness`),
which an experiment spec names to rank methods on robust metrics only.

A hardening is one module with one ``@hardening`` function (see
:mod:`alignlab.attacks._harden`): a new version of the eval that every attack
can be run on (``run_attack(..., hardening=NAME)``; ``alignlab harden``), so an
attack's effect on the eval as it is can be compared with its effect on the
hardened eval.  Hardenings so far: ``position_debias`` (PriDe),
``position_debias_per_condition`` (one PriDe prior per prompt type),
``paraphrase_ensemble`` (answers pooled over paraphrases),
``prefix_invariant`` (candidate replies ranked without their shared opening) and
``refusal_controls`` (items where refusing is misaligned).

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
    CUE_GAP_KEY,
    REFERENCE_VARIANT,
    AttackInfo,
    AttackVariant,
    Diagnostics,
    NotApplicable,
    attack,
    build_attack,
    check_attack_args,
    get_attack,
    registered_attacks,
    unregister,
)
from alignlab.attacks._robustness_file import (
    ROBUSTNESS_FILE_VERSION,
    MatrixRow,
    RobustnessFile,
    parse_robustness,
    read_robustness,
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
from alignlab.attacks._verdict import (
    ROBUST_MARGIN,
    VERDICT_SPLIT,
    MatrixCell,
    attack_cells,
    effect_verdict,
    is_robust,
    matrix_json,
    metric_verdicts,
    organism_verdict,
    policy_verdict,
    reference_verdict,
    verdicts_after_hardening,
    without_attacks,
    worse_verdict,
)
from alignlab.attacks.eval_cue_organism import (
    OrganismOptions,
    format_gaps,
    organism_spec,
    organism_variant,
)
from alignlab.attacks.train_on_public import (
    ContaminationCheck,
    TrainOnPublicOptions,
    contamination_check,
    overfitting_gap,
)

__all__ = [
    "CUE_GAP_KEY",
    "DEFAULT_PROBE_EVALS",
    "DEFAULT_SPLITS",
    "DEPLOYMENT_FORMATS",
    "EVAL_FORMATS",
    "LETTER_FIELD_SUFFIX",
    "LETTER_KEYED_FIELDS",
    "REFERENCE_VARIANT",
    "ROBUSTNESS_FILE_VERSION",
    "ROBUST_MARGIN",
    "VERDICT_SPLIT",
    "AttackInfo",
    "AttackReport",
    "AttackVariant",
    "ContaminationCheck",
    "ControlAccuracy",
    "Diagnostics",
    "Hardening",
    "HardeningInfo",
    "LayerProbe",
    "MatrixCell",
    "MatrixRow",
    "MetricEffect",
    "NotApplicable",
    "OrganismOptions",
    "ProbeAccuracy",
    "ProbeReport",
    "RobustnessFile",
    "SampleTransform",
    "SolverWrapper",
    "SplitResult",
    "TrainOnPublicOptions",
    "VariantResult",
    "as_aligned",
    "attack",
    "attack_cells",
    "build_attack",
    "check_attack_args",
    "check_probe_evals",
    "contamination_check",
    "effect_verdict",
    "eval_awareness_probe",
    "format_gaps",
    "format_prompts",
    "get_attack",
    "get_hardening",
    "gold_position",
    "harden_eval",
    "hardening",
    "is_lettered",
    "is_robust",
    "matrix_json",
    "metric_verdicts",
    "move_gold_to",
    "organism_spec",
    "organism_variant",
    "organism_verdict",
    "overfitting_gap",
    "parse_robustness",
    "policy_verdict",
    "read_robustness",
    "reference_verdict",
    "registered_attacks",
    "registered_hardenings",
    "rotate_options",
    "run_attack",
    "unregister",
    "unregister_hardening",
    "unreorderable_reason",
    "verdicts_after_hardening",
    "without_attacks",
    "worse_verdict",
    "write_probe_report",
    "write_report",
]
