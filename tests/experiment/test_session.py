"""Bad input to `alignlab run` fails in one line before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.experiment import open_session, run_session

SPEC = """\
version: 1
name: {name}
base: {base}
methods:
  - none
evals:
  - name: sycophancy
    splits: [test]
    args: {{n_claims: 2}}
"""


def _spec(tmp_path: Path, base: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, base=base))
    return path


def test_a_directory_holding_another_spec_is_refused_before_any_work(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    first = open_session(_spec(tmp_path, tiny_model_dir, "first"), out=run_dir)
    (run_dir).mkdir()
    (run_dir / "run_id").write_text("0" * 64 + "\n")
    with pytest.raises(AlignlabError, match=r"holds another experiment .*choose another --out"):
        run_session(first, write_report=False)
    assert not (run_dir / "adapters").exists()


def test_an_unreachable_database_is_refused_before_any_work(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    session = open_session(
        _spec(tmp_path, tiny_model_dir, "db"),
        out=run_dir,
        db="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    with pytest.raises(AlignlabError) as info:
        run_session(session, write_report=False)
    assert "\n" not in str(info.value)
    assert not (run_dir / "adapters").exists()


def test_unknown_executor_and_address_without_ray(tiny_model_dir: Path, tmp_path: Path) -> None:
    session = open_session(_spec(tmp_path, tiny_model_dir, "ex"), out=tmp_path / "run")
    with pytest.raises(AlignlabError, match="unknown executor 'dask'"):
        run_session(session, executor="dask")
    with pytest.raises(AlignlabError, match="--address is for the ray executor"):
        run_session(session, address="127.0.0.1:6379")
