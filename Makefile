# Blinno money service. `make run` serves the admin; `make test` runs the tests.
#
# DATABASE_URL, CELERY_BROKER_URL and REDIS_URL from the caller's environment (or the
# command line, or .env) win. Without a DATABASE_URL, an embedded PostgreSQL server is
# started under .data/pg (see blinno/devdb.py) and used.

SHELL := /bin/sh
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=
# The development server answers this machine only; set RUNSERVER_ADDR=0.0.0.0:8000 to share it.
RUNSERVER_ADDR ?= 127.0.0.1:8000
# The production server's address (gunicorn, blinno/gunicorn_conf.py reads it).
SERVE_ADDR ?= 127.0.0.1:8000
export SERVE_ADDR
ADMIN_URL = http://$(RUNSERVER_ADDR)/admin/

# Local runs default to DEBUG on: settings refuse DEBUG off without a SECRET_KEY. `make serve`
# is production: it takes DEBUG from the environment or .env, never this default.
ifneq ($(MAKECMDGOALS),serve)
DEBUG ?= true
export DEBUG
endif

# True (exit 0) when .env sets VAR; settings.py reads .env, so its values count as given.
dotenv_has = grep -Eqs '^[[:space:]]*(export[[:space:]]+)?$(1)[[:space:]]*=' .env

# Shell prelude: export DATABASE_URL from the embedded server unless it is already given.
with_db = if [ -z "$${DATABASE_URL:-}" ] && ! $(call dotenv_has,DATABASE_URL); then \
		DATABASE_URL="$$($(PY) -m blinno.devdb url)" || exit 1; export DATABASE_URL; \
	fi

# Shell prelude: the worker and beat need a real broker.
need_broker = if [ -z "$${CELERY_BROKER_URL:-}" ] && ! $(call dotenv_has,CELERY_BROKER_URL); then \
		echo "CELERY_BROKER_URL is not set (e.g. export CELERY_BROKER_URL=redis://127.0.0.1:6379/0)." >&2; \
		exit 1; \
	fi

.PHONY: help venv run serve test lint fmt typecheck migrations-check worker settler beat demo bench bench-scale db-stop clean

help:
	@echo "make run               migrate, seed demo data, serve the admin at $(ADMIN_URL)"
	@echo "make serve             production server: check --deploy, then gunicorn on SERVE_ADDR ($(SERVE_ADDR))"
	@echo "make test              run the tests (PYTEST_ARGS=..., PYTEST_WORKERS=$(PYTEST_WORKERS))"
	@echo "make lint | fmt        ruff check and format check | fix and format"
	@echo "make typecheck         mypy (django-stubs) over the apps"
	@echo "make migrations-check  fail if models and migrations disagree"
	@echo "make worker | beat     Celery worker | scheduler (need CELERY_BROKER_URL)"
	@echo "make settler           a worker for the settle queue alone, beside make worker"
	@echo "make demo | bench      end-to-end demo | benchmarks (BENCH_SECONDS=30, BENCH_SCALE=0.05; see bench/README.md)"
	@echo "make bench-scale       the back-office benchmark at full scale (1,000,000 payouts; 5 to 10 minutes)"
	@echo "make venv              create .venv and install requirements-dev.txt when changed"
	@echo "make db-stop           stop the embedded development PostgreSQL"
	@echo "make clean             remove caches and collected static files"

# ---- virtualenv ---------------------------------------------------------------------

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when a requirements file is newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

# ---- run and test -------------------------------------------------------------------

run: venv
	@$(with_db); \
	set -e; \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py seed_demo; \
	echo ""; \
	echo "Admin: $(ADMIN_URL)  (log in with the demo credentials printed above)"; \
	echo ""; \
	exec $(PY) manage.py runserver $(RUNSERVER_ADDR)

# Production: the deployment checks must pass (a missing CLICKPESA_CHECKSUM_KEY, console email,
# an open /metrics stop it here), then gunicorn replaces the shell. Migrations are the deployer's step.
serve: venv
	@$(with_db); \
	set -e; \
	$(PY) manage.py check --deploy; \
	exec $(BIN)/gunicorn --config blinno/gunicorn_conf.py blinno.wsgi:application

# The whole suite with webhooks settled in the request, then the money, concurrency, chaos and
# fuzz tests again with webhooks acknowledged and settled by the settler (queued). PYTEST_ARGS: one pass.
QUEUED_TESTS := tests/payments tests/revenue tests/clickpesa tests/chaos tests/fuzz tests/monitoring

test: venv
	@$(with_db); \
	if [ -n "$(PYTEST_ARGS)" ]; then exec $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); fi; \
	TEST_WEBHOOK_SETTLE=inline $(BIN)/pytest -n $(PYTEST_WORKERS) || exit $$?; \
	echo "--- again with webhooks acknowledged, then settled in batches (TEST_WEBHOOK_SETTLE=queued)"; \
	TEST_WEBHOOK_SETTLE=queued exec $(BIN)/pytest -n $(PYTEST_WORKERS) $(QUEUED_TESTS)

# ---- code quality -------------------------------------------------------------------

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The django-stubs plugin loads the settings; any database URL will do, none is opened.
typecheck: venv
	DATABASE_URL="$${DATABASE_URL:-postgres:///blinno}" $(BIN)/mypy

migrations-check: venv
	@$(with_db); \
	exec $(PY) manage.py makemigrations --check --dry-run

# ---- background processes -----------------------------------------------------------

worker: venv
	@$(need_broker); $(with_db); \
	exec $(BIN)/celery -A blinno worker --loglevel=INFO

# A worker for the settle queue alone (blinno/celery.py), beside `make worker`: webhooks settle
# whatever the e-mail backlog.
settler: venv
	@$(need_broker); $(with_db); \
	exec $(BIN)/celery -A blinno worker --loglevel=INFO --queues "$${CELERY_TASK_DEFAULT_QUEUE:-celery}.settle"

beat: venv
	@$(need_broker); $(with_db); \
	mkdir -p .data; \
	exec $(BIN)/celery -A blinno beat --loglevel=INFO --schedule .data/celerybeat-schedule

# ---- demo and benchmarks ------------------------------------------------------------

demo: venv
	@$(with_db); \
	set -e; \
	$(PY) manage.py migrate --noinput --verbosity 0; \
	exec $(PY) manage.py demo

bench: venv
	@$(with_db); \
	exec bash bench/run.sh $(BENCH_ARGS)

bench-scale: venv
	@$(with_db); \
	BENCH_SCENARIOS=scale BENCH_SCALE=1 exec bash bench/run.sh $(BENCH_ARGS)

# ---- housekeeping -------------------------------------------------------------------

db-stop:
	@if [ -x $(PY) ]; then $(PY) -m blinno.devdb stop; else echo "no $(VENV); nothing to stop"; fi

# Keeps .venv and the development database (.data); `make db-stop && rm -rf .data` resets it.
clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis staticfiles
	find . -path ./$(VENV) -prune -o -path ./.data -prune -o -name __pycache__ -type d -exec rm -rf {} +
