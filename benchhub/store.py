"""Results on disk: one JSON record per run under `<results>/<suite>/`, written atomically; lookups."""
from __future__ import annotations

import glob
import json
import re
import tempfile
from pathlib import Path

from benchhub.errors import UserError
from benchhub.fileio import atomic_write
from benchhub.records import RunRecord, SchemaError
from benchhub.spec import RunSpec


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]


class Store:
    """The records of one suite under `<results>/<suite>/`."""

    def __init__(self, results_dir, suite: str):
        self.dir = Path(results_dir) / slug(suite)

    def ensure_writable(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.dir, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise UserError(f"results directory {self.dir} is not writable: {exc.strerror or exc}") from None

    def path_for(self, spec: RunSpec, run_id: str) -> Path:
        name = f"{slug(spec.model.name)}__{slug(spec.method_label or spec.method.name)}__seed{spec.seed}__{run_id}"
        return self.dir / f"{name}.json"

    def log_path(self, spec: RunSpec, run_id: str) -> Path:
        return self.dir / "logs" / f"{self.path_for(spec, run_id).stem}.log"

    def weights_dir(self, spec: RunSpec, run_id: str) -> Path:
        return self.dir / "weights" / self.path_for(spec, run_id).stem

    def find(self, run_id: str) -> RunRecord | None:
        for path in self.dir.glob(f"*__{glob.escape(run_id)}.json"):
            record = read_record(path)
            if record is not None:
                return record
        return None

    def write(self, record: RunRecord, path: Path) -> Path:
        """Write then rename: readers never see half a record."""
        return atomic_write(path, record.to_json(), durable=True)

    def records(self) -> list[RunRecord]:
        return [r for r in (read_record(p) for p in sorted(self.dir.glob("*__*.json"))) if r is not None]


def read_record(path: Path) -> RunRecord | None:
    """A record upgraded to the current schema, or None for files that are not records we can read."""
    try:
        return RunRecord.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, SchemaError, TypeError, KeyError):
        return None


def suite_stores(results_dir, suite: str | None = None) -> list[Store]:
    """The stores under a results directory that hold records (one suite, or every suite found)."""
    root = Path(results_dir)
    if suite is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", suite):
        raise UserError(f"suite name must be letters, digits, '.', '_' or '-' (a name, not a path), got {suite!r}")
    names = [suite] if suite else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    stores = [s for s in (Store(root, n) for n in names) if s.records()]
    if not stores:
        where = f"suite '{suite}' in {root}" if suite else str(root)
        raise UserError(f"no results found for {where}; run `benchhub run` first")
    return stores


def find_record(run: str, results_dir) -> tuple[RunRecord, Path]:
    """A record by run id (or unique prefix) under the results directory, or by its file path."""
    path = Path(run)
    if path.suffix == ".json" and path.is_file():
        record = read_record(path)
        if record is None:
            raise UserError(f"{run} is not a benchhub record")
        return record, path
    root = Path(results_dir)
    matches = [p for p in sorted(root.glob(f"*/*__{glob.escape(run)}*.json"))
               if p.stem.rsplit("__", 1)[-1].startswith(run)] if run else []
    if not matches:
        raise UserError(f"no run '{run}' in {root}; `benchhub show` takes a run id (or a unique prefix) from "
                        f"a record's file name, or the record's path")
    if len(matches) > 1:
        raise UserError(f"run id '{run}' is ambiguous: {', '.join(p.stem.rsplit('__', 1)[-1] for p in matches[:5])}")
    record = read_record(matches[0])
    if record is None:
        raise UserError(f"{matches[0]} is not a readable benchhub record")
    return record, matches[0]
