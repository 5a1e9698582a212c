# syntax=docker/dockerfile:1
# Product Aggregator: one image for the web process, the release step and the Huey consumers
# (README, "Deploying"). There is no Docker engine on our development machines: CI lints this
# file with hadolint, and deploy/tests/test_deploy_files.py checks that every command it runs
# exists in the project.

# --- Build: every requirement as a wheel, so the runtime needs no compiler and no index --------
FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels --requirement requirements.txt

# --- Runtime -----------------------------------------------------------------------------------
FROM python:3.12-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=settings \
    # site/ is a plain folder on sys.path (`site` is a stdlib module, not a package name).
    PYTHONPATH=/app/site:/app

# The wheels are mounted for this one step, not copied: they stay out of the image's layers.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels /wheels/*.whl \
    && groupadd --gid 10001 app \
    && useradd --create-home --uid 10001 --gid 10001 app

WORKDIR /app
# The code and the static files stay root's: the app's user reads them and writes only in var/.
COPY . .
# Static files are collected and compressed at build time (whitenoise serves them, plotly.js
# included, with hashed names cached for ever). collectstatic reads the settings but needs no
# secret and no database: a throwaway key is enough.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input --verbosity 0 \
    && mkdir -p /app/var && chown app:app /app/var
# By number, so that a platform can tell without /etc/passwd that it is not root.
USER 10001:10001

EXPOSE 8000
# Asks /healthz (database and cache) with Python: the slim image has no curl. Only the web
# process serves it; docker-compose.yml turns the check off for the consumers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]
# gunicorn's settings (workers, timeouts, port, logs) and how to change them: deploy/gunicorn.conf.py.
# SIGTERM, Docker's stop signal, is gunicorn's graceful stop.
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py"]
