# Every target creates its own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml requirements-tested.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements-tested.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/keras-constrict demo

test: $(STAMP)
	$(PY) -m pytest -q -rs

lint: $(STAMP)
	$(VENV)/bin/ruff format --check keras_constrict tests examples benchmarks
	$(VENV)/bin/ruff check keras_constrict tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache

# tensorflow-io lane (see docs/tfio.md): its own environment (.venv-tfio:
# TensorFlow 2.17, tensorflow-io 0.37.1, numpy < 2) and Debian 11's FFmpeg 4
# unpacked under .cache/tfio, then tests/tfio with nothing skipped.
.PHONY: test-tfio clean-tfio
test-tfio:
	PYTHON=$(PYTHON) bash scripts/tfio_lane.sh

clean-tfio:
	rm -rf .venv-tfio .cache/tfio
