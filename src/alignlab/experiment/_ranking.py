"""The run's ranking settings: ``rank_on`` and the robustness verdicts, stored in the run directory.

Why a copy: the report reads stored results only (``alignlab report`` rebuilds
it from the run directory and the store, possibly after the benchmark has
rewritten ``benchmarks/results/robustness.json``), so the verdicts a run is
ranked by are copied into the run directory when the run starts, with the
source's path and SHA-256, in one versioned file written atomically.  The
file is rewritten only when its content changes, and its hash is one of the
report's fingerprinted inputs, so a changed robustness file (or a changed
``rank_on``) rebuilds the report on the next ``alignlab run`` and nothing else
does.

Why not the store: the settings are not part of the run id (the same
results ranked another way are the same experiment), while the store keeps
one record per run id, written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from alignlab._errors import AlignlabError
from alignlab.attacks import RobustnessFile
from alignlab.experiment._spec import LoadedSpec, RankOn

RANKING_FILE: Final = "ranking.json"
"""The run directory's copy of the ranking settings."""
RANKING_SETTINGS_VERSION: Final = 1


class RankingSettings(BaseModel):
    """What the report ranks methods on, as the spec said when the run last started."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = RANKING_SETTINGS_VERSION
    """Schema version."""
    rank_on: RankOn = "all"
    """``all`` or ``robust`` (the spec's ``rank_on``)."""
    source: str | None = None
    """The robustness file's path as the spec gave it (None without one)."""
    source_sha256: str | None = None
    """SHA-256 of its bytes when copied."""
    robustness: RobustnessFile | None = None
    """Its content (matrix and verdicts)."""


def ranking_settings(loaded: LoadedSpec) -> RankingSettings:
    """The settings a loaded spec asks for."""
    return RankingSettings(
        rank_on=loaded.spec.rank_on,
        source=loaded.spec.robustness,
        source_sha256=loaded.robustness_sha256,
        robustness=loaded.robustness,
    )


def store_ranking_settings(run_dir: Path, loaded: LoadedSpec) -> Path:
    """Write the spec's ranking settings into ``run_dir`` (atomically; only when they changed).

    Returns:
        The file's path.
    """
    from alignlab.files import atomic_write_text

    path = run_dir / RANKING_FILE
    text = ranking_settings(loaded).model_dump_json(indent=2) + "\n"
    try:
        unchanged = path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        unchanged = False
    if not unchanged:
        atomic_write_text(path, text)
    return path


def read_ranking_settings(run_dir: Path) -> RankingSettings:
    """The run's stored ranking settings (the defaults when the run has none stored).

    Raises:
        AlignlabError: If the file exists but cannot be read or is invalid (one line).
    """
    path = run_dir / RANKING_FILE
    if not path.exists():
        return RankingSettings()
    try:
        return RankingSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignlabError(f"cannot read {path}: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise AlignlabError(
            f"{path} is invalid ({where}: {error['msg']}); rerun `alignlab run` to rewrite it"
        ) from None
