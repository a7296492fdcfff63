"""What a running matrix shows on the console: a bar over the runs, the current run's steps, one line per run."""
from __future__ import annotations


class Display:
    """Rich progress: one bar for the matrix, one for the current run's optimizer steps."""

    def __init__(self, console, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                                 transient=True)
        self.matrix = self.progress.add_task("runs", total=total, info="")
        self.current = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def print(self, line: str) -> None:
        self.progress.console.print(line)

    def start(self, label: str) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(f"  {label}", total=None, info="starting")

    def event(self, kind, *args) -> None:
        if kind == "phase":
            self.progress.update(self.current, info=args[0])
        elif kind == "step":
            step, total, loss = args
            self.progress.update(self.current, completed=step, total=total, info=f"loss {loss:.3f}")

    def done(self, line: str) -> None:
        self.print(line)
        self.progress.advance(self.matrix)


COLOURS = {"ok": "green", "over-budget": "yellow", "does-not-fit": "yellow"}


def status_line(record, label: str) -> str:
    """'       ok blip2:tiny · lora · seed 0: CIDEr 1.747, train 4.0s, wall 6.1s'."""
    primary = record.scoring.get("primary")
    score = record.primary_score
    parts = [f"{primary} {score:.3f}" if score is not None else None,
             f"train {record.train['seconds']:.1f}s" if record.train else None,
             f"wall {record.wall_seconds:.1f}s"]
    detail = record.error or ", ".join(p for p in parts if p)
    return f"[{COLOURS.get(record.status.value, 'red')}]{record.status:>11}[/] {label}: {detail}"


def prepared_line(model: str, result: dict) -> str:
    if result["status"] != "ok":
        return f"[red]   failed[/] preparing {model}: {result.get('error')}"
    info = result.get("info") or {}
    if info.get("cached"):
        return f"[dim]    using cached {model} ({info.get('checkpoint', '')})[/]"
    return f"[green] prepared[/] {model} in {info.get('seconds', 0):.0f} s ({info.get('checkpoint', '')})"
