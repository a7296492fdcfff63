"""Results on disk: one schema-versioned JSON record per run, written atomically, keyed by hash."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from benchhub.errors import UserError
from benchhub.records import SCHEMA_VERSION

DONE_STATUSES = ("ok", "over-budget", "does-not-fit")
REQUIRED = {"run_id", "config", "status", "metrics", "batching", "environment"}  # a record with one of these is not re-run without --force


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]


class Store:
    """The records of one suite under `<results>/<suite>/`."""

    def __init__(self, results_dir, suite: str):
        self.dir = Path(results_dir) / _slug(suite)

    def ensure_writable(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.dir, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise UserError(f"results directory {self.dir} is not writable: {exc.strerror or exc}") from None

    def path_for(self, spec, run_id: str) -> Path:
        name = f"{_slug(spec.model.name)}__{_slug(spec.method_label or spec.method.name)}__seed{spec.seed}__{run_id}"
        return self.dir / f"{name}.json"

    def find(self, run_id: str) -> dict | None:
        for path in self.dir.glob(f"*__{run_id}.json"):
            record = read_record(path)
            if record is not None:
                return record
        return None

    def write(self, record: dict, path: Path) -> Path:
        """Write then rename: readers never see half a record."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, indent=2, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    def records(self) -> list[dict]:
        out = []
        for path in sorted(self.dir.glob("*.json")):
            record = read_record(path)
            if record is not None:
                out.append(record)
        return out


def read_record(path: Path) -> dict | None:
    """A record upgraded to the current schema, or None for files that are not benchhub records."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("schema_version"), int):
        return None
    if record["schema_version"] > SCHEMA_VERSION:
        return None  # written by a newer benchhub
    if not REQUIRED <= set(record) or not isinstance(record["config"], dict):
        return None
    # Upgrades go here as update_to_N(record) functions when the schema changes.
    return record
