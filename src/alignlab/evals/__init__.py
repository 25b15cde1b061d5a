"""Evals of model psychology and behaviour, as Inspect tasks.

Each eval is one module whose task factory carries ``@eval_task`` plus one data
file in ``evals/data/``: it is then registered with Inspect as
``alignlab/<name>`` and listed by :func:`registered_evals` (and ``alignlab
evals``).  Nothing else is edited to add an eval.  What every eval shares
(splits, formats, the content split, rates, the canary) is in the scaffold;
the data files are read by one typed loader.
"""

from alignlab.evals._choice import (
    FIRST_ANSWER_KEY,
    REPLY_INDEX_KEY,
    AnswerMode,
    challenge_answer,
    choice_answer,
    choice_scorer,
    choice_task,
    chosen_letter,
    classify_reply,
    parse_letter,
    uses_choice_scoring,
)
from alignlab.evals._data import (
    DATA_DIR,
    Entry,
    EvalData,
    PooledData,
    load_data_file,
    load_eval_data,
)
from alignlab.evals._registry import (
    CLUSTER_KEY_KEY,
    DEFAULT_VARIANT,
    EVAL_NAME_KEY,
    EvalInfo,
    check_task_args,
    eval_task,
    get_eval,
    instantiate,
    metric_name,
    registered_evals,
    unregister,
)
from alignlab.evals._render import option_reply, render_prompt
from alignlab.evals._scaffold import (
    ALL,
    CANARY,
    CLUSTER_KEY,
    FORMATS,
    SPLITS,
    Format,
    Pool,
    Split,
    accuracy_where,
    belongs_to,
    check_formats,
    check_generator_args,
    check_positive,
    check_split,
    hash_split,
    pool,
    rate,
)

__all__ = [
    "ALL",
    "CANARY",
    "CLUSTER_KEY",
    "CLUSTER_KEY_KEY",
    "DATA_DIR",
    "DEFAULT_VARIANT",
    "EVAL_NAME_KEY",
    "FIRST_ANSWER_KEY",
    "FORMATS",
    "REPLY_INDEX_KEY",
    "SPLITS",
    "AnswerMode",
    "Entry",
    "EvalData",
    "EvalInfo",
    "Format",
    "Pool",
    "PooledData",
    "Split",
    "accuracy_where",
    "belongs_to",
    "challenge_answer",
    "check_formats",
    "check_generator_args",
    "check_positive",
    "check_split",
    "check_task_args",
    "choice_answer",
    "choice_scorer",
    "choice_task",
    "chosen_letter",
    "classify_reply",
    "eval_task",
    "get_eval",
    "hash_split",
    "instantiate",
    "load_data_file",
    "load_eval_data",
    "metric_name",
    "option_reply",
    "parse_letter",
    "pool",
    "rate",
    "registered_evals",
    "render_prompt",
    "unregister",
    "uses_choice_scoring",
]
