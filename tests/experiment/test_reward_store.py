"""Reward-model records in the results store: both backends, NaN-safe, and v1 stores migrated."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from alignlab.experiment import (
    BestOfNRecord,
    CellRecord,
    RewardComparisonRecord,
    RewardPairRecord,
    RobustnessRecord,
    RunRecord,
    _store,
    open_store,
)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "run" / "results.sqlite")
    return str(request.getfixturevalue("pg_url"))


RUN = RunRecord(
    run_id="r", name="n", spec_yaml="", spec_json={}, created_at="t", alignlab_version="0"
)


def _cells() -> list[CellRecord]:
    return [
        CellRecord(key="m", run_id="r", kind="train", label="none", inputs={}),
        CellRecord(key="rm", run_id="r", kind="rm_train", label="classic", inputs={}),
        CellRecord(key="acc", run_id="r", kind="rm_accuracy", label="classic", inputs={}),
        CellRecord(key="rob", run_id="r", kind="rm_robustness", label="classic", inputs={}),
        CellRecord(key="bon", run_id="r", kind="rm_best_of_n", label="classic", inputs={}),
    ]


def test_reward_records_round_trip_and_replace(location: str) -> None:
    pairs = [
        RewardPairRecord(
            cell_key="acc", position=i, family="opinion", item_id=f"i{i}",
            chosen_reward=float(i), rejected_reward=math.nan if i == 1 else 0.5,
        )
        for i in range(3)
    ]  # fmt: skip
    drop = RobustnessRecord(
        cell_key="rob", position=0, transform="polite_filler", n_pairs=3,
        original=1.0, transformed=0.5, accuracy_drop=0.5, ci_low=0.0, ci_high=math.nan,
    )  # fmt: skip
    points = [
        BestOfNRecord(
            cell_key="bon", n=n, kl=math.log(n) - (n - 1) / n, proxy=0.1 * n,
            proxy_ci_low=0.0, proxy_ci_high=1.0, gold=0.5, gold_ci_low=0.0,
            gold_ci_high=1.0, n_prompts=2,
        )
        for n in (2, 1)
    ]  # fmt: skip
    comparison = RewardComparisonRecord(
        run_id="r", label="cloud", reference="classic", base="b", seed=0, split="heldout",
        difference=0.1, ci_low=-0.2, ci_high=0.4, mcnemar_p=1.0, n_pairs=3,
    )  # fmt: skip
    with open_store(location) as store:
        store.add_run(RUN)
        store.plan_cells("r", _cells())
        store.finish_cell("acc", artifact=None, finished_at="t", duration_s=1.0, results=pairs)
        store.finish_cell("rob", artifact=None, finished_at="t", duration_s=1.0, results=[drop])
        store.finish_cell("bon", artifact=None, finished_at="t", duration_s=1.0, results=points)
        store.replace_reward_comparisons("r", [comparison])
        got = store.reward_pairs("r")
        assert [p.item_id for p in got] == ["i0", "i1", "i2"]
        assert math.isnan(got[1].rejected_reward) and got[2].chosen_reward == 2.0
        (back,) = store.robustness_rows("r")
        assert back.accuracy_drop == 0.5 and math.isnan(back.ci_high)
        assert [p.n for p in store.best_of_n_points("r")] == [1, 2]  # ordered by N
        assert store.reward_comparisons("r") == [comparison]
        # finishing a cell again replaces its rows, as for metrics
        store.finish_cell("acc", artifact=None, finished_at="t", duration_s=1.0, results=pairs[:1])
        assert len(store.reward_pairs("r")) == 1
        store.replace_reward_comparisons("r", [])
        assert store.reward_comparisons("r") == []
        with pytest.raises(ValueError, match="given to finish_cell"):
            store.finish_cell("rob", artifact=None, finished_at="t", duration_s=1.0, results=pairs)


def _v1_schema() -> list[str]:
    """The version-1 tables, as alignlab wrote them before reward-model cells."""
    wide = f"CONSTRAINT cells_kind_check CHECK (kind IN ({_store._KINDS_SQL}))"
    statements = [s.replace(wide, "CHECK (kind IN ('train', 'eval'))") for s in _store._SCHEMA]
    return [s for s in statements if " rm_" not in s]


def test_a_version_1_store_is_migrated_keeping_its_rows(location: str) -> None:
    statements = [
        *_v1_schema(),
        "CREATE TABLE schema_version (version BIGINT NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (1)",
        "INSERT INTO runs VALUES ('r', 'n', '', '{}', 't', '0')",
        "INSERT INTO cells (key, run_id, kind, label, inputs, state)"
        " VALUES ('old', 'r', 'eval', 'none', '{}', 'done')",
        "INSERT INTO run_cells VALUES ('r', 'old', 0)",
        "INSERT INTO metrics VALUES ('old', 'accuracy', 0.5, 0.4, 0.6, 10, 0)",
    ]
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]
    else:
        Path(location).parent.mkdir(parents=True)
        with sqlite3.connect(location, isolation_level=None) as connection:
            for statement in statements:
                connection.execute(statement)
        connection.close()
    with open_store(location) as store:
        assert [c.key for c in store.cells("r")] == ["old"]
        assert [m.value for m in store.metrics("r")] == [0.5]
        store.plan_cells("r", _cells())  # the new kinds pass the widened check
        assert [c.kind for c in store.cells("r")][-1] == "rm_best_of_n"
        with store._read() as sql:
            assert sql.one("SELECT version FROM schema_version") == (_store.SCHEMA_VERSION,)
    with open_store(location) as store:  # opening again is a no-op
        assert len(store.cells("r")) == 6
