# Product Aggregator — the commands a newcomer needs. `make run` starts everything; `make test`
# runs the whole suite. Both build the virtualenv first when it is missing or stale.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint deploy-check format superuser clean loadtest

help:
	@echo "make run        start web, worker and Offers simulator on http://127.0.0.1:8000"
	@echo "make test       run the whole test suite (SQLite; PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint       ruff check, format check, the layering contracts (import-linter), the OpenAPI schema"
	@echo "make deploy-check  hadolint on the Dockerfile; docker-compose config with .env.example"
	@echo "make superuser  create a staff account for the admin"
	@echo "make loadtest   50 signed-in users on gunicorn while the sync runs (bench/load.py; PostgreSQL and Redis)"

# Django 6 needs Python >= 3.12; the system python3 may be older, so look for one that is not.
$(PY):
	@py=""; \
	for c in python3 python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	  if command -v "$$c" >/dev/null 2>&1 && "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py="$$c"; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: Python >= 3.12 is required (Django 6) and none was found." >&2; \
	  echo "       Install one (for example 'pyenv install 3.12') and run make again." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$py ($$("$$py" --version))"; \
	"$$py" -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
	  echo "error: $(VENV) was built with $$($(PY) --version); Python >= 3.12 is required. Remove $(VENV) and run make again." >&2; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

# Development settings, written once and never committed: DEBUG on, a random secret, and the
# local Offers simulator that `make run` starts.
.env: | $(PY)
	@echo "Writing .env with development settings"
	@printf '%s\n' \
	  "# Development settings written by 'make run'. Not for production; not committed." \
	  "DEBUG=true" \
	  "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  "ALLOWED_HOSTS=127.0.0.1,localhost" \
	  "OFFERS_BASE_URL=http://127.0.0.1:8001/api/v1" \
	  "OFFERS_REFRESH_TOKEN=dev-refresh-token" \
	  "OFFERS_SYNC_INTERVAL=60" > $@

run: $(STAMP) .env
	@# migrate also creates the database cache's table (accounts.apps).
	$(PY) manage.py migrate --no-input
	@echo "Starting web (http://127.0.0.1:8000), worker and Offers simulator (:8001). Ctrl-C stops them all."
	$(VENV)/bin/honcho --procfile Procfile.dev start

# Test settings come from the test run itself (pyproject.toml sets DJANGO_TESTING); no .env.
test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=site $(VENV)/bin/lint-imports --no-cache
	@# The API's OpenAPI schema: valid, and no endpoint drf-spectacular cannot describe.
	@# Production settings with a throwaway key: test mode (DJANGO_TESTING) exists only under pytest.
	DJANGO_TESTING=0 ENV_FILE=/dev/null SECRET_KEY=openapi-schema-only $(PY) manage.py spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml

# The deployment files, as far as a machine without a Docker engine can check them (README,
# "Deploying"): the Dockerfile by hadolint (from PyPI), the compose file by Debian's
# docker-compose, with .env.example as the app's settings, with and without the simulator.
deploy-check: $(STAMP)
	$(VENV)/bin/hadolint Dockerfile
	@command -v docker-compose >/dev/null || { \
	  echo "error: docker-compose is missing: apt-get install docker-compose" >&2; exit 1; }
	APP_ENV_FILE=.env.example docker-compose config --quiet
	APP_ENV_FILE=.env.example docker-compose --profile simulator config --quiet
	@echo "deploy-check: the Dockerfile and docker-compose.yml pass"

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

superuser: $(STAMP) .env
	$(PY) manage.py createsuperuser

# bench/load.py: its own database on this PostgreSQL server (dropped afterwards) and this Redis
# database (flushed at the start and the end: not the one `make run` or the tests use).
LOADTEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
LOADTEST_REDIS_URL ?= redis://127.0.0.1:6379/7
loadtest: $(STAMP)
	$(PY) bench/load.py --database-url $(LOADTEST_DATABASE_URL) --redis-url $(LOADTEST_REDIS_URL) $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles var/*.sqlite3* var/*.json
