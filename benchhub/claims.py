"""Who computes what: claims on runs in a shared results directory, and the benchhub runs busy on this host.

A claim is a lock file `<suite dir>/.claims/<run id>.lock` held with `flock` and naming its owner
(PID, host, since). The kernel drops the lock when its owner dies, however it dies, so a stale
claim is simply taken over by the next `benchhub run`. The same mechanism counts the benchhub runs
active on this host (`active_run`, `active_runs`), which the load sampler records with every run.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchhub.records import now


@dataclass
class Claim:
    """A held claim; `taken_over` names the dead owner of a stale claim this one replaced."""

    path: Path
    fd: int
    taken_over: str | None = None

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: a waiter re-checks the inode and retries
        os.close(self.fd)


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}


def describe(owner: dict) -> str:
    return f"pid {owner.get('pid')} on {owner.get('host')} since {owner.get('since')}"


def _lock(path: Path) -> tuple[int | None, dict]:
    """(fd of `path` locked exclusively, previous owner) or (None, current owner) when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            return None, owner
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not unlinked by a releasing owner between our open and our lock
            return fd, _read_owner(fd)
        os.close(fd)


def _read_owner(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def claim(directory: Path, run_id: str) -> Claim | dict:
    """Claim `run_id` for this process: a Claim, or the owner (a dict) of the live claim that holds it."""
    path = Path(directory) / ".claims" / f"{run_id}.lock"
    fd, previous = _lock(path)
    if fd is None:
        return previous
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_owner()).encode(), 0)
    return Claim(path, fd, taken_over=describe(previous) if previous.get("pid") else None)


# ---------------------------------------------------------------- benchhub runs on this host


def active_dir() -> Path:
    """Where this host's active runs register: $BENCHHUB_ACTIVE_DIR, else a per-user temporary folder."""
    return Path(os.environ.get("BENCHHUB_ACTIVE_DIR") or Path(tempfile.gettempdir()) / f"benchhub-{os.getuid()}")


@contextlib.contextmanager
def active_run(run_id: str):
    """Register one run as active on this host while the block runs (dropped by the kernel on a kill)."""
    path = active_dir() / f"{os.getpid()}-{run_id}-{threading.get_ident()}.run"
    fd, _ = _lock(path)  # this thread's own file: never held by another
    try:
        yield
    finally:
        Claim(path, fd).release()


def active_runs() -> tuple[int, int]:
    """(benchhub runs active on this host, those of other benchhub processes); stale entries are removed."""
    total = others = 0
    folder = active_dir()
    for path in folder.glob("*.run") if folder.is_dir() else []:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            with contextlib.suppress(OSError):  # nobody holds it: its owner died
                path.unlink()
        except BlockingIOError:
            total += 1
            others += not path.name.startswith(f"{os.getpid()}-")
        finally:
            os.close(fd)
    return total, others


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LoadSampler:
    """Samples the host's load (1-minute load average, benchhub runs active) every `every` seconds while
    runs go on; `over(t0, t1)` summarises a run's stretch and says whether the machine was busy:
    other benchhub processes ran at the same time, or the mean load exceeded BUSY_LOAD × the cores."""

    BUSY_LOAD = 2.0

    def __init__(self, every: float = 2.0):
        self.samples: list[tuple[float, float, int, int]] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.every = every
        self.thread = threading.Thread(target=self._loop, name="benchhub-load", daemon=True)

    def __enter__(self) -> LoadSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()

    def sample(self) -> None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        total, others = active_runs()
        with self.lock:
            self.samples.append((time.monotonic(), load, total, others))

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.every)

    def over(self, start: float, end: float) -> dict:
        self.sample()
        with self.lock:
            inside = [s for s in self.samples if start <= s[0] <= end + 0.5] or self.samples[-1:]
        cores = usable_cores()
        loads = [s[1] for s in inside]
        mean = sum(loads) / len(loads)
        others = max(s[3] for s in inside)
        busy = []
        if others:
            busy.append(f"{others} run(s) of other benchhub processes at the same time")
        if mean > self.BUSY_LOAD * cores:
            busy.append(f"load {mean:.1f} on {cores} cores")
        return {"cores": cores, "loadavg_1m_mean": round(mean, 2), "loadavg_1m_max": round(max(loads), 2),
                "benchhub_runs_max": max(s[2] for s in inside), "other_benchhub_runs_max": others,
                "samples": len(inside), "busy": bool(busy), "why": "; ".join(busy) or None}
