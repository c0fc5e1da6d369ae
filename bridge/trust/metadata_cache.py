"""The cache folder (``metadata.cache_dir``): the last good copy of each URL source, a JSON status file per
source (last and next refresh, last error), and the reload marker ``icbridge sp reload`` touches.

Writes are atomic (temporary file, fsync, rename), so another process (``icbridge sp refresh``, another
worker) reads the old copy or the new one, never half of one. Nothing here raises for a folder it cannot
write: the caller logs and keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Stamp = tuple[int, int]
RELOAD_MARKER = "reload-requested"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # public metadata; mkstemp makes 0600
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def stamp(path: Path) -> Stamp | None:
    """What changes when a file is rewritten (mtime in ns, size); None when it is absent."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class CacheFolder:
    """``<key>.xml`` (a URL source's last good copy) and ``<key>.json`` (its status) for each source key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def copy_path(self, key: str) -> Path:
        return self.directory / f"{key}.xml"

    def status_path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def saved_at(self, key: str) -> datetime | None:
        try:
            return datetime.fromtimestamp(self.copy_path(key).stat().st_mtime, UTC)
        except OSError:
            return None

    def save(self, key: str, data: bytes) -> Stamp | None:
        """Raises OSError when the folder cannot be written."""
        write_atomic(self.copy_path(key), data)
        return stamp(self.copy_path(key))

    def read_status(self, key: str) -> dict[str, Any]:
        try:
            loaded = json.loads(self.status_path(key).read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def write_status(self, key: str, status: dict[str, Any]) -> None:
        """Raises OSError when the folder cannot be written."""
        write_atomic(self.status_path(key), json.dumps(status, indent=1, sort_keys=True).encode())

    # ``icbridge sp reload`` runs in another process: it leaves a mark every serving process sees.
    def request_reload(self, now: datetime) -> None:
        write_atomic(self.directory / RELOAD_MARKER, now.isoformat().encode())

    def reload_stamp(self) -> Stamp | None:
        return stamp(self.directory / RELOAD_MARKER)
