# Tchatator: every target bootstraps its own virtual environment (.venv).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick demo screenshots clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: start the server on the embedded defaults (.tchatator, SQLite, generated certs and admin key)
run: $(STAMP)
	$(BIN)/tchatator-server --config .tchatator serve

## test: the whole test suite (real server, real TLS, offscreen Qt)
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 --dist loadfile

# The "type: ignore" comments in protocol/ and server/ today: never more (type the code instead).
TYPE_IGNORES := 6

## lint: ruff (rules and format), mypy over protocol/ and server/, no new "type: ignore",
## no import cycle and each layer importing only what it may (scripts/check_imports.py)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/check_imports.py
	@found=$$(cat $$(find protocol server -name '*.py') | grep -c 'type: ignore'); \
	if [ "$$found" -gt $(TYPE_IGNORES) ]; then \
	  echo "$$found 'type: ignore' in protocol/ and server/, at most $(TYPE_IGNORES): type the code instead"; \
	  exit 1; \
	fi

## demo: fill the database of `make run` with demo users and conversations
demo: $(STAMP)
	$(BIN)/tchatator-server --config .tchatator demo

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) build dist *.egg-info
