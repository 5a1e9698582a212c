"""The optional state file (``--state``): registrations that survive a restart.

The file is JSON, ``{"version": 1, "registrations": [{"id", "name", "description"}, ...]}``,
rewritten whole after each change through a temporary file and ``os.replace``, so a crash leaves
either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

VERSION = 1


class StateFileError(Exception):
    """The state file exists but cannot be used; the message says why."""


class StateFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> list[dict[str, str]]:
        """The stored registrations; none when the file does not exist yet."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            raise StateFileError(f"cannot read state file {self.path}: {error}") from error
        try:
            return [
                {
                    "id": str(uuid.UUID(item["id"])),
                    "name": _text(item["name"]),
                    "description": _text(item["description"]),
                }
                for item in data["registrations"]
            ]
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            raise StateFileError(f"state file {self.path} is not a simulator state file") from error

    def save(self, registrations: list[dict[str, str]]) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": VERSION, "registrations": registrations}, indent=1)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            # No fsync: this guards against our own crash, not the machine's, and stays fast.
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
