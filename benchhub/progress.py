"""What a running matrix shows on the console: a bar over the runs, each running run's steps, one line per run."""
from __future__ import annotations

import contextlib
import os
import sys
import threading


@contextlib.contextmanager
def stderr_to(path):
    """File descriptor 2 written to `path` (appended) inside the block, then restored: what libraries write there
    from C, Rust or a logging handler that kept the real stderr (bitsandbytes, tokenizers' progress bars) lands in
    a log, never inside a live display. Yields the terminal's original stderr as a file (line-buffered)."""
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        target = os.open(os.devnull, os.O_WRONLY)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()


class Display:
    """Rich progress: one bar for the matrix, one per run in flight (several when runs go side by side)."""

    def __init__(self, console, total: int, noise: str | None = None):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        # on a terminal: live bars (each run's state, steps, loss, ETA); elsewhere (CI, pipes) rich draws
        # no bars and only the one line printed per finished run appears
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, transient=True)
        self.matrix = self.progress.add_task("runs", total=total, info="")
        self.running: dict = {}
        self.lock = threading.Lock()
        self.console, self.noise, self._restore = console, noise, contextlib.ExitStack()

    def __enter__(self):
        # live bars on a terminal: library output written straight to fd 2 goes to `noise` (a log) meanwhile,
        # so it cannot land inside a bar; the bars and our lines go to the terminal's stderr
        if self.noise and self.console.is_terminal and self.console.file is sys.stderr:
            self.console.file = self._restore.enter_context(stderr_to(self.noise))
            self._restore.callback(setattr, self.console, "file", None)  # back to sys.stderr, as it was made
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self.progress.__exit__(*exc)
        finally:
            self._restore.close()

    def add(self, runs: int) -> None:
        """More runs than planned (adaptive seeds): the matrix's total grows."""
        with self.lock:
            task = next(t for t in self.progress.tasks if t.id == self.matrix)
            self.progress.update(self.matrix, total=(task.total or 0) + runs)

    def print(self, line: str) -> None:
        with self.lock:
            self.progress.console.print(line)

    def start(self, key: str, label: str) -> None:
        with self.lock:
            self.running[key] = self.progress.add_task(f"  {label}", total=None, info="starting")

    def listener(self, key: str):
        """The event callback of the run `key`: phases and optimizer steps update its bar."""

        def event(kind, *args) -> None:
            task = self.running.get(key)
            if task is None:
                return
            if kind == "phase":
                self.progress.update(task, info=args[0])
            elif kind == "step":
                step, total, loss = args
                self.progress.update(task, completed=step, total=total, info=f"loss {loss:.3f}")

        return event

    def finish(self, key: str) -> None:
        with self.lock:
            task = self.running.pop(key, None)
            if task is not None:
                self.progress.remove_task(task)

    def done(self, key: str, line: str) -> None:
        self.finish(key)
        self.print(line)
        self.progress.advance(self.matrix)


COLOURS = {"ok": "green", "over-budget": "yellow", "does-not-fit": "yellow"}


def status_line(record, label: str, role: str = "final") -> str:
    """'       ok blip2:tiny · lora · lr 0.001 · seed 0: CIDEr 1.747, train 4.0s, wall 6.1s'."""
    primary = record.scoring.get("primary")
    split = "validation" if role == "sweep" else "eval"
    score = record.split_score(split)
    parts = [f"{'validation ' if role == 'sweep' else ''}{primary} {score:.3f}" if score is not None else None,
             f"train {record.train['seconds']:.1f}s" if record.train else None,
             _stopped(record.train),
             f"wall {record.wall_seconds:.1f}s"]
    detail = record.error or ", ".join(p for p in parts if p)
    return f"[{COLOURS.get(record.status.value, 'red')}]{record.status:>11}[/] {label}: {detail}"


def _stopped(train: dict | None) -> str | None:
    """'stopped by the time limit at 1/200 steps' for a run its budget's max_seconds cut short."""
    if not train or train.get("stopped_by") != "time":
        return None
    return f"stopped by the time limit at {train['steps']}/{train.get('planned_steps', '?')} steps"


def prepared_line(model: str, result: dict) -> str:
    if result["status"] != "ok":
        return f"[red]   failed[/] preparing {model}: {result.get('error')}"
    info = result.get("info") or {}
    if info.get("cached"):
        return f"[dim]    using cached {model} ({info.get('checkpoint', '')})[/]"
    why = f"; made again, {info['remade']}" if info.get("remade") else ""
    return f"[green] prepared[/] {model} in {info.get('seconds', 0):.0f} s ({info.get('checkpoint', '')}{why})"
