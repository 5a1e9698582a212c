# Product Aggregator — one image for the web process and the Huey consumers.
# There is no Docker engine on the development machines: this file is written with care and
# checked as far as the tools there allow (see README, "Production").
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=settings \
    # site/ is a plain folder on sys.path (`site` is a stdlib module, not a package name).
    PYTHONPATH=/app/site:/app

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings but no secrets or database: give it a throwaway key.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/var && chown app /app/var
USER app

EXPOSE 8000
# Huey consumers stop gracefully on SIGINT (running tasks finish); SIGTERM interrupts them.
STOPSIGNAL SIGINT
CMD ["gunicorn", "--pythonpath", "site", "wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--no-control-socket", "--access-logfile", "-"]
