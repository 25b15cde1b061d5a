"""The one typed loader for eval data files: errors name the file and line; canary required."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab import AlignlabError
from alignlab.evals import CANARY, DATA_DIR, Entry, EvalData, load_data_file, registered_evals


class Row(Entry):
    subject: str
    value: int


class Table(EvalData):
    rows: list[Row]


GOOD = f"""canary: '{CANARY}'
version: 1
rows:
  - subject: one
    value: 1
  - subject: two
    value: 2
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.yaml"
    path.write_text(text)
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    data = load_data_file(_write(tmp_path, GOOD), Table)
    assert [r.value for r in data.rows] == [1, 2]


def test_bad_value_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("value: 2", "value: two"))
    with pytest.raises(AlignlabError, match=rf"^{path}:7: rows\.1\.value: "):
        load_data_file(path, Table)


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    value: 1\n", "    value: 1\n    colour: red\n"))
    with pytest.raises(AlignlabError, match=rf"^{path}:6: rows\.0\.colour: Extra inputs"):
        load_data_file(path, Table)


def test_missing_field_names_the_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    value: 1\n", ""))
    with pytest.raises(AlignlabError, match=rf"^{path}:4: rows\.0\.value: Field required"):
        load_data_file(path, Table)


def test_canary_and_version_are_required(tmp_path: Path) -> None:
    no_canary = _write(tmp_path, GOOD.replace(f"canary: '{CANARY}'", "canary: hello"))
    with pytest.raises(AlignlabError, match=r":1: canary: .*canary string"):
        load_data_file(no_canary, Table)
    future = _write(tmp_path, GOOD.replace("version: 1", "version: 99"))
    with pytest.raises(AlignlabError, match=r":2: version: .*unsupported data version 99"):
        load_data_file(future, Table)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = _write(tmp_path, GOOD + "  - subject: [unclosed\n")
    with pytest.raises(AlignlabError, match=r"table\.yaml:\d+: not valid YAML"):
        load_data_file(broken, Table)
    with pytest.raises(AlignlabError, match="cannot read eval data file"):
        load_data_file(tmp_path / "absent.yaml", Table)


def test_every_generated_eval_has_a_data_file_with_the_canary() -> None:
    for name, info in registered_evals().items():
        if info.external_data:
            continue
        path = DATA_DIR / f"{name}.yaml"
        assert path.is_file(), name
        assert CANARY in path.read_text(), name


def test_misspelt_required_key_points_at_the_typo(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    value: 2\n", "    valeu: 2\n"))
    with pytest.raises(AlignlabError, match=rf"^{path}:7: rows\.1\.valeu: Extra inputs"):
        load_data_file(path, Table)
