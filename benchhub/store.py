"""Results on disk: one JSON record per run under `<results>/<suite>/`, written atomically; lookups.

Many `benchhub run`s may share a results directory: a run is computed under a claim (`claims`), a
record that is not understood is set aside as `*.invalid` and never overwritten, and temporary
files of writers that died are removed at start.
"""
from __future__ import annotations

import glob
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchhub.errors import UserError
from benchhub.fileio import atomic_write, remove_orphans
from benchhub.records import RunRecord, SchemaError, record_json
from benchhub.spec import RunSpec


@dataclass(frozen=True)
class Unreadable:
    """A file in the results directory that is not a record this benchhub understands."""

    path: Path
    run_id: str
    why: str
    newer: bool = False  # written by a newer benchhub: left in place for it (moved aside only by --force)


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
        for path in record_files(self.dir, f"*__{glob.escape(run_id)}.json"):
            record = read_record(path)
            if record is not None:
                return record
        return None

    def stamp(self, run_id: str) -> tuple | None:
        """(inode, modification time) of the run's record file, None when there is none: a record written
        again (always by rename) has another stamp."""
        for path in self.dir.glob(f"*__{glob.escape(run_id)}.json"):
            try:
                info = path.stat()
            except OSError:
                continue
            return info.st_ino, info.st_mtime_ns
        return None

    def stamps(self) -> dict:
        """{run id: stamp} of every record file now (what `--force` re-measures: recorded before it started)."""
        out = {}
        for path in self.dir.glob("*__*.json") if self.dir.is_dir() else []:
            try:
                info = path.stat()
            except OSError:
                continue
            out.setdefault(run_id_of(path), (info.st_ino, info.st_mtime_ns))
        return out

    def write(self, record: RunRecord, path: Path) -> Path:
        """Write then rename: readers never see half a record. A value JSON cannot hold (NaN anywhere, an
        object that is not JSON) is written as null with the reason in `nonfinite` (`records.record_json`):
        the record is kept and the matrix goes on."""
        return atomic_write(path, record_json(record), durable=True)

    def records(self) -> list[RunRecord]:
        """The records understood (those that are not are skipped: `unreadable` names them)."""
        return [r for r in (read_record(p) for p in record_files(self.dir, "*__*.json")) if r is not None]

    def unreadable(self) -> list[Unreadable]:
        """Record files not understood: malformed, of a newer schema, or whose run id is not their name's;
        and records set aside earlier (`*.json.invalid`)."""
        out = []
        for path in record_files(self.dir, "*__*.json"):
            why = record_problem(path)
            if why is not None:
                out.append(Unreadable(path, run_id_of(path), why, newer="newer benchhub" in why))
        for path in sorted(self.dir.glob("*__*.json*.invalid")):
            out.append(Unreadable(path, run_id_of(path), "set aside earlier as not understood"))
        return out

    def tidy(self, force: bool = False) -> tuple[dict, list[str]]:
        """At the start of a run: remove temporary files of writers that died, set aside records not
        understood (`x.json` → `x.json.invalid`, never overwriting one). Returns ({run id: why it is not
        re-run without --force}, one line per file set aside or left)."""
        remove_orphans(self.dir, "*.tmp")
        remove_orphans(self.dir / "logs", "*.tmp")
        blocked, lines = {}, []
        for bad in self.unreadable():
            if bad.path.suffix == ".json" and (force or not bad.newer):
                aside = set_aside(bad.path)
                lines.append(f"{bad.path.name} is not a record this benchhub understands ({bad.why}); "
                             f"set aside as {aside.name}")
            elif bad.path.suffix == ".json":
                lines.append(f"{bad.path.name} was {bad.why}; left as it is, its run is not re-run")
            if not force:
                blocked.setdefault(bad.run_id, bad.why)
        return blocked, lines


def record_files(directory: Path, pattern: str) -> list[Path]:
    """The regular files (or links to one) under `directory` matching `pattern`, sorted: a FIFO, socket,
    device or directory named like a record is never opened (a FIFO would block its reader)."""
    return sorted(p for p in Path(directory).glob(pattern) if _regular(p))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


MAX_RECORD_BYTES = 64 * 2**20  # the largest records here are ~100 KiB (per-example scores of a few hundred)


def _read_text(path: Path) -> str:
    """A regular file's text; OSError for anything else. Opened without blocking, so a FIFO put in place of
    the file after it was listed cannot block the reader either."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb", closefd=True) as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file: {path}")
        if info.st_size > MAX_RECORD_BYTES:
            raise OSError(f"{info.st_size} bytes; a record is at most {MAX_RECORD_BYTES}")
        return fh.read(MAX_RECORD_BYTES + 1).decode("utf-8")


def run_id_of(path: Path) -> str:
    return path.name.split(".json")[0].rsplit("__", 1)[-1]


def load_record(path: Path) -> tuple[RunRecord | None, str | None]:
    """(the record upgraded to the current schema, None) or (None, why the file is not one we can use)."""
    try:
        record = RunRecord.from_dict(json.loads(_read_text(Path(path))))
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    except RecursionError:
        return None, "nested too deeply to be a record"
    except UnicodeDecodeError:
        return None, "not text"
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno}"
    except (SchemaError, ValueError, TypeError, KeyError) as exc:
        return None, str(exc) or type(exc).__name__
    if Path(path).suffix == ".json" and "__" in Path(path).name and record.run_id != run_id_of(Path(path)):
        return None, f"its run_id {record.run_id} is not the one in its file name"
    return record, None


def record_problem(path: Path) -> str | None:
    return load_record(path)[1]


def read_record(path: Path) -> RunRecord | None:
    """A record upgraded to the current schema, or None for files that are not records we can read."""
    return load_record(path)[0]


def set_aside(path: Path) -> Path:
    """Rename `path` to `path.invalid` (or `path.N.invalid`): never over another file."""
    for n in range(1000):
        aside = path.with_name(f"{path.name}{f'.{n}' if n else ''}.invalid")
        try:
            aside.hardlink_to(path)  # fails if `aside` exists: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # no hard links here
            if aside.exists():
                continue
            path.rename(aside)
            return aside
        path.unlink()
        return aside
    raise UserError(f"cannot set {path} aside: too many .invalid files beside it")


def suite_stores(results_dir, suite: str | None = None) -> list[Store]:
    """The stores under a results directory that hold records (one suite, or every suite found)."""
    root = Path(results_dir)
    if suite is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", suite):
        raise UserError(f"suite name must be letters, digits, '.', '_' or '-' (a name, not a path), got {suite!r}")
    names = [suite] if suite else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    stores = [s for s in (Store(root, n) for n in names) if s.records()]
    if not stores:
        where = f"suite '{suite}' in {root}" if suite else str(root)
        unread = sum(len(Store(root, n).unreadable()) for n in names)
        if unread:
            raise UserError(f"no record of {where} is one this benchhub understands ({unread} file(s) are not: "
                            "`benchhub show FILE` says why; `benchhub run` sets them aside)")
        raise UserError(f"no results found for {where}; run `benchhub run` first")
    return stores


def find_record(run: str, results_dir) -> tuple[RunRecord, Path]:
    """A record by run id (or unique prefix) under the results directory, or by its file path."""
    path = Path(run)
    if path.suffix == ".json" and _regular(path):
        record, why = load_record(path)
        if record is None:
            raise UserError(f"{run} is not a benchhub record this version understands: {why}")
        return record, path
    root = Path(results_dir)
    matches = [p for p in record_files(root, f"*/*__{glob.escape(run)}*.json")
               if p.stem.rsplit("__", 1)[-1].startswith(run)] if run else []
    if not matches:
        matches = _by_label(run, root)
    if not matches:
        raise UserError(f"no run '{run}' in {root}; `benchhub show` takes a run id (or a unique prefix) from "
                        f"a record's file name, a record's path, or a method as the leaderboard names it")
    if len(matches) > 1:
        named = [f"{p.stem.rsplit('__', 1)[-1]} ({p.parent.name} {p.stem.split('__')[-2]})" for p in matches[:8]]
        raise UserError(f"'{run}' names {len(matches)} runs; give one of their ids: {', '.join(named)}")
    record, why = load_record(matches[0])
    if record is None:
        raise UserError(f"{matches[0]} is not a benchhub record this version understands: {why}")
    return record, matches[0]


def _by_label(label: str, root: Path) -> list[Path]:
    """Records whose method label (as the leaderboard shows it, e.g. `lora(r=4)`) is `label`; sweep runs
    that were not evaluated are left out, as the leaderboard leaves them out."""
    out = []
    for path in record_files(root, "*/*__*.json"):
        record, _ = load_record(path)
        if record is not None and record.label == label and not (record.grid_point):
            out.append(path)
    return out
