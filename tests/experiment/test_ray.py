"""The Ray executor against a local ``ray.init()``: same store contents as the local executor.

Skipped when ``ray`` is not installed (``pip install 'alignlab[ray]'``), except
under CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alignlab import AlignlabError
from alignlab.experiment import Plan, Store, execute, load_spec_text, make_plan, open_store
from alignlab.experiment._execute import UPSTREAM_FAILED
from alignlab.experiment._ray import INSTALL_HINT, WORKER_ENV, execute_ray, worker_env

SPEC = """\
version: 1
name: ray
base: {base}
methods:
  - name: none
  - name: sft_control
    params: {{token_budget: 200, batch_size: 2}}
evals:
  - name: sycophancy
    splits: [test]
    args: {{n_claims: 4}}
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        if _in_ci():
            pytest.fail(f"ray is required under CI: {exc}", pytrace=False)
        pytest.skip(f"ray is not installed ({exc}): pip install 'alignlab[ray]'")
    return ray


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = _ray()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


def _plan(base: Path) -> Plan:
    return make_plan(load_spec_text(SPEC.format(base=base), "ray.yaml"))


def _contents(store: Store, plan: Plan) -> dict[str, Any]:
    """What a run leaves in the store, without timestamps, owners and durations."""
    return {
        "cells": sorted((c.key, c.state, c.artifact, c.error) for c in store.cells(plan.run_id)),
        "metrics": sorted(
            (m.cell_key, m.metric, m.value, m.ci_low, m.ci_high, m.n)
            for m in store.metrics(plan.run_id)
        ),
        "curves": sorted((p.cell_key, p.step, p.loss) for p in store.curves(plan.run_id)),
        "comparisons": sorted(
            tuple(sorted(c.model_dump().items())) for c in store.comparisons(plan.run_id)
        ),
    }


def test_cells_pickle(tiny_model_dir: Path) -> None:
    plan = _plan(tiny_model_dir)
    for cell in [*plan.train_cells, *plan.eval_cells]:
        assert pickle.loads(pickle.dumps(cell)) == cell


def test_failed_train_cells_fail_their_evals_as_locally(
    monkeypatch: pytest.MonkeyPatch, tiny_model_copy: Path, tmp_path: Path
) -> None:
    ray = _ray()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    was_initialised = ray.is_initialized()  # not when run in file order: execute_ray starts one
    plan = _plan(tiny_model_copy)
    shutil.rmtree(tiny_model_copy)  # planned with the base; it is gone when training starts
    with open_store(tmp_path / "local.sqlite") as store:
        local = execute(plan, store, tmp_path / "local")
        expected = _contents(store, plan)
    with open_store(tmp_path / "results.sqlite") as store:
        summary = execute_ray(plan, store, tmp_path / "ray")
        assert summary.failed == local.failed and len(summary.failed) == 4
        assert summary.failed[2:] == [
            f"{c.train.variant.label} {c.eval}/{c.split}: {UPSTREAM_FAILED}"
            for c in plan.eval_cells
        ]
        assert (summary.done, summary.cached) == (0, 0)
        assert _contents(store, plan) == expected
    assert ray.is_initialized() == was_initialised  # what it started, it shut down


def test_ray_run_matches_the_local_executor(
    local_ray: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    plan = _plan(tiny_model_dir)
    with open_store(tmp_path / "local.sqlite") as store:
        local = execute(plan, store, tmp_path / "local")
        expected = _contents(store, plan)
    events: list[tuple[str, str]] = []
    with open_store(tmp_path / "results.sqlite") as store:
        summary = execute_ray(
            plan, store, tmp_path / "ray", on_event=lambda k, s, _: events.append((k, s))
        )
        got = _contents(store, plan)
        assert summary.failed == [] and summary.cached == 0
        assert summary.done == local.done == len(plan.train_cells) + len(plan.eval_cells)
        assert {c.state for c in store.cells(plan.run_id)} == {"done"}
        assert got["metrics"] and got["curves"] and got["comparisons"]
        assert got == expected
        for cell in plan.eval_cells:
            artifact = store.get_cell(cell.key).artifact  # type: ignore[union-attr]
            assert (tmp_path / "ray" / artifact).is_file()
        done = [k for k, s in events if s == "done"]
        assert sorted(done) == sorted(c.key for c in [*plan.train_cells, *plan.eval_cells])
        # a rerun (Ray already initialised) finds everything cached and submits nothing
        again = execute_ray(plan, store, tmp_path / "ray")
        assert (again.cached, again.done, again.failed) == (summary.done, 0, [])
        assert _contents(store, plan) == expected


def test_missing_ray_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with (
        open_store(tmp_path / "results.sqlite") as store,
        pytest.raises(AlignlabError) as caught,
    ):
        execute_ray(_plan(tiny_model_dir), store, tmp_path / "run")
    assert str(caught.value) == INSTALL_HINT


def test_unreachable_address_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path
) -> None:
    ray = _ray()
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # even if a fixture started one
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        open_store(tmp_path / "results.sqlite") as store,
        pytest.raises(AlignlabError) as caught,
    ):
        execute_ray(_plan(tiny_model_dir), store, tmp_path / "run", address=f"127.0.0.1:{port}")
    message = str(caught.value)
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in message
    assert "\n" not in message


def test_worker_env_forwards_the_set_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WORKER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGNLAB_CACHE", "/shared/cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "secret")
    assert worker_env() == {"ALIGNLAB_CACHE": "/shared/cache", "HF_HUB_OFFLINE": "1"}
