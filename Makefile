# Every target sets up what it needs: a .venv with keras_rlr installed from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: quickstart test faults lint format bench memorization clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

quickstart: $(STAMP)
	$(BIN)/python train.py --flagfile=configs/quickstart.cfg

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal tests

# The slow fault-injection campaign (strace SIGKILL and ENOSPC at chosen calls, and
# damage on disk to every file a rerun reads), then the count of faults and outcomes.
FAULT_LOG := $(CURDIR)/runs/faults.jsonl
faults: $(STAMP)
	mkdir -p runs && rm -f $(FAULT_LOG)
	KERAS_RLR_FAULTS=1 KERAS_RLR_FAULT_LOG=$(FAULT_LOG) $(BIN)/python -m pytest -n 2 \
		tests/test_fault_campaign.py tests/test_faults.py; status=$$?; \
	$(BIN)/python tests/fault_tally.py $(FAULT_LOG) && exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Not part of `test`: trains 3 seeds of the quickstart with 10 % label noise (~10 min).
memorization: $(STAMP)
	$(BIN)/python experiments/memorization_label_noise.py

clean:
	rm -rf $(VENV) runs dist build
