"""Reward models: trained on gold-labelled preference pairs, scored on held-out ones.

A reward model is where alignment training learns what "good" means, so the
workbench trains them and measures them against a known truth.  The pairs
(:func:`preference_pairs`) come from the evals' items, whose programmatic
ground truth is the gold label: hold a correct answer vs cave, own a real
mistake vs defend it, the honest answer vs the grader exploit.  ``train``
pairs train, ``test``/``heldout`` pairs evaluate, and the leakage guard checks
every training pair.

Each kind is one module with one ``@reward_model`` decorator (``classic``:
LoRA plus a scalar head with TRL's ``RewardTrainer``); :func:`train_reward_model`
owns what kinds share (parameters, guard, atomic output, manifest) and
:func:`load_reward_model` refuses a base other than the one trained on.
:func:`pairwise_accuracy` and :func:`compare_reward_models` score them with
intervals and paired tests.

:func:`robustness` measures the accuracy drop under rewrites that keep the
gold label (:data:`TRANSFORMS`); :func:`run_best_of_n` draws N replies from a
policy, picks by the proxy reward model and scores by the gold reward, for the
over-optimisation curve of Gao et al. 2022 (arXiv:2210.10760).

Import direction: ``alignlab.rewards -> alignlab.training -> alignlab.evals ->
alignlab.models``; nothing here imports :mod:`alignlab.methods`.
"""

from alignlab.rewards._best_of_n import (
    DEFAULT_NS,
    BestOfNPoint,
    BestOfNRun,
    Sampler,
    best_of_n_curve,
    best_of_n_expectation,
    best_of_n_kl,
    best_of_n_prompts,
    parse_ns,
    plot_best_of_n,
    policy_sampler,
    run_best_of_n,
)
from alignlab.rewards._config import (
    RM_MANIFEST,
    RM_MANIFEST_VERSION,
    RewardManifest,
    RewardModelConfig,
)
from alignlab.rewards._pairs import (
    EVAL_SPLITS,
    PAIR_FAMILIES,
    SOURCES,
    PairFamily,
    PreferencePair,
    gold_reward,
    guarded_examples,
    preference_pairs,
)
from alignlab.rewards._registry import (
    RewardJob,
    RewardModelInfo,
    Scorer,
    get_reward_model,
    registered_reward_models,
    reward_model,
    unregister,
)
from alignlab.rewards._robustness import (
    MASTER_KEYS,
    TRANSFORMS,
    PairTransform,
    TransformResult,
    check_transforms,
    robustness,
    transform_pairs,
)
from alignlab.rewards._score import (
    PairOutcome,
    RewardComparison,
    accuracy_by_family,
    compare_reward_models,
    pairwise_accuracy,
    score_pairs,
    wilson_interval,
)
from alignlab.rewards._train import (
    LoadedRewardModel,
    load_reward_model,
    pair_items,
    read_rm_manifest,
    train_reward_model,
    validate_rm_request,
)

__all__ = [
    "DEFAULT_NS",
    "EVAL_SPLITS",
    "MASTER_KEYS",
    "PAIR_FAMILIES",
    "RM_MANIFEST",
    "RM_MANIFEST_VERSION",
    "SOURCES",
    "TRANSFORMS",
    "BestOfNPoint",
    "BestOfNRun",
    "LoadedRewardModel",
    "PairFamily",
    "PairOutcome",
    "PairTransform",
    "PreferencePair",
    "RewardComparison",
    "RewardJob",
    "RewardManifest",
    "RewardModelConfig",
    "RewardModelInfo",
    "Sampler",
    "Scorer",
    "TransformResult",
    "accuracy_by_family",
    "best_of_n_curve",
    "best_of_n_expectation",
    "best_of_n_kl",
    "best_of_n_prompts",
    "check_transforms",
    "compare_reward_models",
    "get_reward_model",
    "gold_reward",
    "guarded_examples",
    "load_reward_model",
    "pair_items",
    "pairwise_accuracy",
    "parse_ns",
    "plot_best_of_n",
    "policy_sampler",
    "preference_pairs",
    "read_rm_manifest",
    "registered_reward_models",
    "reward_model",
    "robustness",
    "run_best_of_n",
    "score_pairs",
    "train_reward_model",
    "transform_pairs",
    "unregister",
    "validate_rm_request",
    "wilson_interval",
]
