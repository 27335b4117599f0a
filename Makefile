# fleet: the two quick-start commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
PG_URL ?= postgresql://fleet:fleet@127.0.0.1:55432/fleet_test

.PHONY: translations run setup test test-sqlite test-postgres system-deps-run system-deps-test lint bench clean

## Set everything up and serve fleet over HTTPS on https://localhost:8443/ (SQLite, local files).
run: setup
	$(BIN)/fleet serve

$(BIN)/fleet: pyproject.toml
	tools/install-system-deps.sh run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/fleet

setup: $(BIN)/fleet

## Install what the tests need (Debian packages included), lint (ruff), and run the whole suite
## on SQLite, then the database tests again on a real PostgreSQL.
test: setup system-deps-test lint test-sqlite test-postgres

system-deps-test:
	tools/install-system-deps.sh test

test-sqlite:
	$(BIN)/pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

test-postgres:
	tools/pg-test-server.sh start
	FLEET_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 -p no:cacheprovider -m db $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check fleet tests benchmarks

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info

## Re-extract translatable strings and update the fr/pt/es catalogs, then compile them.
translations: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o fleet/translations/messages.pot .
	$(BIN)/pybabel update -i fleet/translations/messages.pot -d fleet/translations
	$(BIN)/pybabel compile -f -d fleet/translations
