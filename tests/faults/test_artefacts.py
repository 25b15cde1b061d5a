"""Artefacts that must not look usable: full disks, NaN weights, changed files, other bases.

In-process runs of ``train`` on the tiny model, and loads of ``BASE+ADAPTER``:
a run that fails while writing leaves nothing that blocks a rerun, a finished
run vouches for its files by SHA-256 (rerun and load check them), non-finite
adapter weights are refused when written and when loaded, and an adapter is
matched to its base by the base's weights, not by where they live.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from alignlab import AlignlabError
from alignlab.files import file_hashes
from alignlab.methods import read_manifest, train
from alignlab.models import load_model
from tests.conftest import build_tiny_model

SMALL = {"token_budget": 300, "batch_size": 4}
ADAPTER = "adapter_model.safetensors"


def _no_scratch(out: Path) -> bool:
    return not list(out.parent.glob(f".{out.name}.partial-*"))


@pytest.fixture(scope="module")
def finished(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    train("sft_control", str(tiny_model_dir), out, SMALL)
    return out


@pytest.fixture()
def run_copy(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run that a test may damage."""
    return Path(shutil.copytree(finished, tmp_path / "run"))


def _one_line_error(call: Any, match: str) -> str:
    with pytest.raises(AlignlabError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def _rehash(run: Path) -> None:
    """Make the manifest vouch for the files as they are now (as a forger would)."""
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = file_hashes(run, exclude=frozenset({"manifest.json"}))
    (run / "manifest.json").write_text(json.dumps(manifest))


def _poison(adapter: Path, value: float = float("nan")) -> None:
    weights = load_file(str(adapter / ADAPTER))
    name = sorted(weights)[0]
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] = value
    save_file(weights, str(adapter / ADAPTER), metadata={"format": "pt"})


# --- full disk ---------------------------------------------------------------------------


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_at_the_manifest_leaves_nothing_that_blocks(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alignlab.methods._train as train_module

    out = tmp_path / "out"
    monkeypatch.setattr(train_module, "atomic_write_text", _enospc)
    _one_line_error(
        lambda: train("sft_control", str(tiny_model_dir), out, SMALL),
        r"cannot write .*out: No space left on device; nothing was written",
    )
    assert not out.exists() and _no_scratch(out)
    monkeypatch.undo()
    manifest = train("sft_control", str(tiny_model_dir), out, SMALL)
    assert read_manifest(out) == manifest and _no_scratch(out)


def test_full_disk_when_publishing_keeps_an_unfinished_output_replaceable(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    out = tmp_path / "out"
    out.mkdir()  # e.g. created by the experiment runner, or an older alignlab's half-run
    (out / ADAPTER).write_bytes(b"half")
    real_rename = os.rename

    def rename(source: Any, target: Any) -> None:
        if ".partial-" in str(source):
            _enospc()
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(AlignlabError, match="No space left on device"):
        train("sft_control", str(tiny_model_dir), out, SMALL)
    assert not (out / "manifest.json").exists() and _no_scratch(out)
    monkeypatch.undo()
    train("sft_control", str(tiny_model_dir), out, SMALL)
    assert read_manifest(out) is not None and _no_scratch(out)


# --- non-finite weights --------------------------------------------------------------------


def test_training_refuses_to_write_non_finite_weights(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alignlab.methods._train as train_module

    real_run = train_module.run

    def diverging_run(*args: Any, **kwargs: Any) -> Any:
        outcome = real_run(*args, **kwargs)
        _poison(kwargs["adapter_dir"], float("inf"))  # a finite loss, then an overflow
        return outcome

    monkeypatch.setattr(train_module, "run", diverging_run)
    out = tmp_path / "out"
    _one_line_error(
        lambda: train("sft_control", str(tiny_model_dir), out, SMALL),
        "training produced NaN or infinite adapter weights",
    )
    assert not out.exists() and _no_scratch(out)


def test_nan_adapter_is_refused_at_load(tiny_model_dir: Path, run_copy: Path) -> None:
    spec = f"{tiny_model_dir}+{run_copy}"
    _poison(run_copy)
    # as written: the manifest no longer vouches for the file
    _one_line_error(lambda: load_model(spec, reuse=False), rf"{ADAPTER} was changed or truncated")
    # hashes forged to match, or no manifest at all (a third-party adapter): the NaN check
    _rehash(run_copy)
    _one_line_error(lambda: load_model(spec, reuse=False), "has NaN or infinite weights")
    (run_copy / "manifest.json").unlink()
    _one_line_error(lambda: load_model(spec, reuse=False), "has NaN or infinite weights")


# --- files the manifest vouches for ---------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "delete", "change config"])
def test_damaged_run_is_refused_by_rerun_and_load(
    damage: str, tiny_model_dir: Path, run_copy: Path
) -> None:
    adapter = run_copy / ADAPTER
    name = ADAPTER
    if damage == "truncate":
        adapter.write_bytes(adapter.read_bytes()[:1000])
        match = "was changed or truncated"
    elif damage == "delete":
        adapter.unlink()
        match = "is missing"
    else:
        name = "adapter_config.json"
        config = json.loads((run_copy / name).read_text())
        (run_copy / name).write_text(json.dumps({**config, "lora_alpha": 1}))
        match = "was changed or truncated"
    before = (run_copy / "manifest.json").read_text()
    for call in (
        lambda: train("sft_control", str(tiny_model_dir), run_copy, SMALL),
        lambda: load_model(f"{tiny_model_dir}+{run_copy}", reuse=False),
    ):
        message = _one_line_error(call, rf"{name} {match}")
        assert "delete the directory and rerun" in message
    assert (run_copy / "manifest.json").read_text() == before  # the rerun touched nothing


def test_rerun_of_intact_run_is_verified_no_op(
    tiny_model_dir: Path, run_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alignlab.methods._train as train_module

    checked: list[Path] = []
    real_verify = train_module.verify_hashes
    monkeypatch.setattr(
        train_module, "verify_hashes", lambda d, e: (checked.append(d), real_verify(d, e))
    )
    before = {p.name: p.read_bytes() for p in run_copy.iterdir()}
    train("sft_control", str(tiny_model_dir), run_copy, SMALL)
    assert checked == [run_copy]
    assert {p.name: p.read_bytes() for p in run_copy.iterdir()} == before


def test_version_1_manifest_is_accepted_unverified(tiny_model_dir: Path, run_copy: Path) -> None:
    manifest = json.loads((run_copy / "manifest.json").read_text())
    for field in ("files", "device", "base_weights_sha256"):
        del manifest[field]
    (run_copy / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    adapter = run_copy / ADAPTER
    weights = load_file(str(adapter))
    save_file({k: v * 2 for k, v in weights.items()}, str(adapter), metadata={"format": "pt"})
    # nothing to verify against: the same run is reused, the adapter loads (path check)
    assert train("sft_control", str(tiny_model_dir), run_copy, SMALL).version == 1
    load_model(f"{tiny_model_dir}+{run_copy}", reuse=False)


# --- the base, by its weights ----------------------------------------------------------------


def test_same_base_weights_elsewhere_are_accepted_other_weights_refused(
    tiny_model_dir: Path, smollm2_dir: Path, finished: Path, tmp_path: Path
) -> None:
    moved = Path(shutil.copytree(tiny_model_dir, tmp_path / "elsewhere" / "tiny"))
    (moved / ".alignlab-weights-sha256.json").unlink(missing_ok=True)  # hashed afresh
    ids = torch.tensor([[1, 2, 3, 4]])
    here = load_model(f"{tiny_model_dir}+{finished}", reuse=False).model
    there = load_model(f"{moved}+{finished}", reuse=False).model
    with torch.inference_mode():
        assert torch.equal(here(ids).logits, there(ids).logits)
    other = build_tiny_model(tmp_path / "other", smollm2_dir, seed=1)
    _one_line_error(
        lambda: load_model(f"{other}+{finished}", reuse=False),
        r"was trained on '.*', whose weights differ from those of '.*other'",
    )


@pytest.fixture()
def embedded_in(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point ALIGNLAB_CACHE at a directory whose 'converted' smollm2-135m is the tiny model."""
    from alignlab.models import _load

    monkeypatch.setattr(_load, "_model_cache", {})  # specs are cached by name, not by cache

    def use(cache: Path) -> None:
        target = cache / "models" / "smollm2-135m"
        shutil.copytree(tiny_model_dir, target)
        (target / ".alignlab-weights-sha256.json").unlink(missing_ok=True)
        (target / _load.CONVERSION_MARKER).write_text(json.dumps({"version": 1}))
        monkeypatch.setenv("ALIGNLAB_CACHE", str(cache))
        _load._model_cache.clear()

    yield use


def test_embedded_base_under_another_cache_is_accepted(embedded_in: Any, tmp_path: Path) -> None:
    embedded_in(tmp_path / "cache-a")
    out = tmp_path / "run"
    manifest = train("none", "smollm2-135m", out)
    assert manifest.base_weights == str(tmp_path / "cache-a" / "models" / "smollm2-135m")
    embedded_in(tmp_path / "cache-b")
    load_model(f"smollm2-135m+{out}", reuse=False)  # was: "trained on '.../cache-a/...'"
    # and without the manifest, the path comparison of old still applies
    (out / "manifest.json").unlink()
    _one_line_error(lambda: load_model(f"smollm2-135m+{out}", reuse=False), "was trained on")


def test_weights_hash_is_cached_and_follows_changes(
    tiny_model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignlab.models import _load, weights_sha256

    (tiny_model_copy / ".alignlab-weights-sha256.json").unlink(missing_ok=True)
    first = weights_sha256(tiny_model_copy)
    assert first is not None and (tiny_model_copy / ".alignlab-weights-sha256.json").is_file()
    hashed: list[Path] = []
    real = _load.sha256_file
    monkeypatch.setattr(_load, "sha256_file", lambda p: (hashed.append(p), real(p))[1])
    assert weights_sha256(tiny_model_copy) == first and hashed == []
    weights = next(tiny_model_copy.glob("*.safetensors"))
    tensors = load_file(str(weights))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1
    save_file(tensors, str(weights), metadata={"format": "pt"})
    assert weights_sha256(tiny_model_copy) not in (None, first) and hashed == [weights]


# --- weight conversion ----------------------------------------------------------------------


def test_conversion_stages_in_pid_named_scratch_and_removes_stale_staging(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignlab.models import _load

    tiny = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: tiny)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    target = tmp_path / "cache" / "models" / "smollm2-135m"
    target.parent.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = target.parent / f".smollm2-135m.partial-{dead}"  # a killed conversion's 538 MB
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"x" * 1000)
    _load._convert_gguf(gguf, target)
    assert not stale.exists()
    assert [p.name for p in target.parent.iterdir() if "partial" in p.name] == []
    marker = json.loads((target / _load.CONVERSION_MARKER).read_text())
    (target / ".alignlab-weights-sha256.json").unlink(missing_ok=True)
    assert marker["weights_sha256"] == _load._weights_record(target)[1]
    assert _load.weights_sha256(target) == marker["weights_sha256"]  # read from the marker
    assert not (target / ".alignlab-weights-sha256.json").exists()

    # a conversion that fails half-way leaves neither staging nor a target
    def full_disk(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    other = tmp_path / "cache" / "models" / "other"
    monkeypatch.setattr(type(tiny), "save_pretrained", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _load._convert_gguf(gguf, other)
    assert not other.exists()
    assert [p.name for p in target.parent.iterdir() if "partial" in p.name] == []
