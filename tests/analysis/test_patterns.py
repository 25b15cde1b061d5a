"""Feature tags against scores across methods: means with and without each tag."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alignlab import AlignlabError
from alignlab.analysis import FEATURE_EFFECT_COLUMNS, feature_effects


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": ["m1", "m2", "m3", "m4", "m5", "m6"],
            "features": [
                ("preference", "rl", "self_generated"),
                ("preference",),
                ("synthetic",),
                (),
                ["synthetic", "rl"],  # any collection of tags
                ("regularisation",),
            ],
            "score": [0.4, 0.1, -0.1, 0.0, 0.2, math.nan],  # m6 has no score: left out
        }
    )


def test_feature_effects_by_hand() -> None:
    effects = feature_effects(_table(), seed=0)
    assert list(effects.columns) == list(FEATURE_EFFECT_COLUMNS)
    # sorted by difference: self_generated .35, rl .3, preference .2167, synthetic -.1167
    assert list(effects["feature"]) == ["self_generated", "rl", "preference", "synthetic"]
    rows = effects.set_index("feature")

    rl = rows.loc["rl"]
    assert (rl["n_with"], rl["n_without"]) == (2, 3)
    assert rl["mean_with"] == pytest.approx(0.3) and rl["mean_without"] == pytest.approx(0.0)
    assert rl["difference"] == pytest.approx(0.3)
    # resampling methods within each group: the difference lies between
    # min(with) - max(without) = 0.1 and max(with) - min(without) = 0.5
    assert 0.1 - 1e-9 <= rl["ci_low"] < 0.3 < rl["ci_high"] <= 0.5 + 1e-9

    preference = rows.loc["preference"]
    assert preference["difference"] == pytest.approx(0.25 - 0.1 / 3)
    synthetic = rows.loc["synthetic"]
    assert synthetic["difference"] == pytest.approx(0.05 - 0.5 / 3)

    # one method with the tag: a difference, but no spread across methods to show
    self_generated = rows.loc["self_generated"]
    assert self_generated["n_with"] == 1
    assert self_generated["difference"] == pytest.approx(0.4 - 0.05)
    assert math.isnan(self_generated["ci_low"]) and math.isnan(self_generated["ci_high"])

    assert feature_effects(_table(), seed=0).equals(effects)


def test_a_tag_every_method_has_cannot_be_contrasted() -> None:
    table = pd.DataFrame(
        {"label": ["a", "b"], "features": [("lora",), ("lora", "rl")], "score": [0.1, 0.3]}
    )
    effects = feature_effects(table)
    assert list(effects["feature"]) == ["rl", "lora"]  # undefined differences last
    lora = effects.set_index("feature").loc["lora"]
    assert lora["n_without"] == 0 and math.isnan(lora["difference"])


def test_bad_tables() -> None:
    with pytest.raises(AlignlabError, match="columns"):
        feature_effects(pd.DataFrame({"label": ["a"], "score": [0.1]}))
    with pytest.raises(AlignlabError, match="collection of tags"):
        feature_effects(pd.DataFrame({"label": ["a"], "features": ["rl"], "score": [0.1]}))
    empty = feature_effects(pd.DataFrame({"label": [], "features": [], "score": []}))
    assert empty.empty and list(empty.columns) == list(FEATURE_EFFECT_COLUMNS)
