"""Serve plotly.js from the installed plotly package as `static/vendor/plotly.min.js`.

runserver and collectstatic both ask the finders, so the file is served in development and
collected (then compressed and cached forever by whitenoise) in production, and it always
matches the plotly version in requirements.txt. No CDN, no copy in the repository.
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS_PATH = "vendor/plotly.min.js"
_PACKAGE_DATA = Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyJsFinder(BaseFinder):
    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        match = str(_PACKAGE_DATA / "plotly.min.js") if path == PLOTLY_JS_PATH else None
        if find_all:
            return [match] if match else []
        return match

    def list(self, ignore_patterns):
        storage = FileSystemStorage(location=_PACKAGE_DATA)
        storage.prefix = "vendor"  # collectstatic stores the file as vendor/plotly.min.js
        yield "plotly.min.js", storage
