#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

# The project configuration lives in site/, a plain folder rather than a package: `site` is a
# stdlib module and cannot be a package name. manage.py, wsgi.py, asgi.py, pytest, ruff and the
# Dockerfile all put it on sys.path, so DJANGO_SETTINGS_MODULE is simply "settings".
sys.path.insert(0, str(Path(__file__).resolve().parent / "site"))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
