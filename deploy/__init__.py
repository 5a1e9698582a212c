"""The deployment kit: gunicorn's settings, the container's health probe, PostgreSQL backups."""
