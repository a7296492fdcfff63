"""Runs a planned matrix: one child per run, skip finished runs, record everything, redraw the board."""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field

from benchhub import runner
from benchhub.records import RunSpec
from benchhub.report import write_leaderboard
from benchhub.store import DONE_STATUSES, Store
from benchhub.suite import instantiate, parse_component, split_name


@dataclass
class Outcome:
    records: list = field(default_factory=list)
    skipped: int = 0
    leaderboard: object = None

    @property
    def failed(self) -> list:
        return [r for r in self.records if r["status"] == "failed"]


def classes_for(spec: RunSpec, registry) -> dict:
    return {"method": registry.get("method", split_name(spec.method.name)[0]),
            "model": registry.get("model", split_name(spec.model.name)[0]),
            "dataset": registry.get("dataset", spec.dataset.name),
            "metrics": {m: registry.get("metric", split_name(parse_component(m).name)[0]) for m in spec.metrics}}


class _Display:
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

    def start(self, label: str):
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(f"  {label}", total=None, info="starting")

    def event(self, kind, *args):
        if kind == "phase":
            self.progress.update(self.current, info=args[0])
        elif kind == "step":
            step, total, loss = args
            self.progress.update(self.current, completed=step, total=total, info=f"loss {loss:.3f}")

    def done(self, line: str):
        self.progress.console.print(line)
        self.progress.advance(self.matrix)


def _status_line(record: dict, label: str) -> str:
    status = record["status"]
    primary = record.get("primary_metric")
    score = record["metrics"].get(primary) if primary else None
    parts = [f"{primary} {score:.3f}" if score is not None else None,
             f"train {record['train']['seconds']:.1f}s" if record.get("train") else None,
             f"wall {record['wall_seconds']:.1f}s"]
    colour = {"ok": "green", "over-budget": "yellow", "does-not-fit": "yellow"}.get(status, "red")
    detail = ", ".join(p for p in parts if p)
    if record.get("error"):
        detail = record["error"]
    return f"[{colour}]{status:>11}[/] {label}: {detail}"


def _prepared_line(model: str, result: dict) -> str:
    if result["status"] != "ok":
        return f"[red]   failed[/] preparing {model}: {result.get('error')}"
    info = result.get("info") or {}
    if info.get("cached"):
        return f"[dim]    using cached {model} ({info.get('checkpoint', '')})[/]"
    return f"[green] prepared[/] {model} in {info.get('seconds', 0):.0f} s ({info.get('checkpoint', '')})"


def run_matrix(specs: list[RunSpec], registry, store: Store, env: dict, device, console,
               force: bool = False, timeout: float | None = None) -> Outcome:
    outcome = Outcome()
    todo = []
    for spec in specs:
        run_id = spec.config_hash(env)
        existing = None if force else store.find(run_id)
        if existing is not None and existing["status"] in DONE_STATUSES:
            outcome.skipped += 1
            console.print(f"[dim]    skipped {spec.model.name} · {spec.method_label} · seed {spec.seed}: "
                          f"record {run_id} exists (use --force to re-run)[/]")
            continue
        todo.append((spec, run_id))
    prepared: dict[str, dict] = {}
    with _Display(console, len(todo)) as display:
        for spec, run_id in todo:
            classes = classes_for(spec, registry)
            label = f"{spec.model.name} · {spec.method_label} · seed {spec.seed}"
            path = store.path_for(spec, run_id)
            log_dir = store.dir / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{path.stem}.log"
            log_path.unlink(missing_ok=True)
            model_key = f"{spec.model.name}:{sorted(spec.model.options.items())}"
            if model_key not in prepared and hasattr(classes["model"], "prepare"):
                display.start(f"preparing {spec.model.name}")
                prepared[model_key] = runner.run_in_child(
                    "prepare", {"cls": classes["model"], "name": spec.model.name, "options": spec.model.options},
                    display.event, log_path=str(log_dir / "prepare.log"))
                display.progress.console.print(_prepared_line(spec.model.name, prepared[model_key]))
            prep = prepared.get(model_key, {"status": "ok"})
            display.start(label)
            started, t0 = runner.now(), time.perf_counter()
            if prep["status"] != "ok":
                result = {"status": "failed", "error": f"model preparation failed: {prep.get('error')}"}
            else:
                result = runner.run_in_child(
                    "run", {"config": spec.config(), "classes": classes, "device": str(device),
                            "weights_dir": str(store.dir / "weights" / path.stem)},
                    display.event, log_path=str(log_path), timeout=timeout)
            record = runner.make_record(spec, run_id, env, result, started, time.perf_counter() - t0)
            metric_classes = [instantiate(classes["metrics"][m], parse_component(m).name, parse_component(m).options)
                              for m in spec.metrics]
            if metric_classes:
                primary = getattr(metric_classes[0], "primary", None)
                columns = [c for m in metric_classes for c in getattr(m, "columns", ())]
                record["primary_metric"] = primary
                record["leaderboard_metrics"] = ([primary] if primary and primary not in columns else []) + columns
                record["metric_higher_is_better"] = {
                    c: bool(getattr(m, "higher_is_better", True)) for m in metric_classes
                    for c in (*getattr(m, "columns", ()), getattr(m, "primary", None)) if c}
            record["log"] = str(log_path.relative_to(store.dir))
            if record.get("weights"):
                record["weights"] = str(Path(record["weights"]).relative_to(store.dir))
            if prep.get("info"):
                record["model_preparation"] = prep["info"]
            previous = store.find(run_id) if record["status"] == "failed" else None
            if previous is not None and previous["status"] in DONE_STATUSES:
                # --force re-ran a finished run and it failed: keep the finished result.
                store.write(record, store.dir / "logs" / f"{path.stem}.failed.json")
                display.progress.console.print(f"[yellow]    kept[/] the earlier {previous['status']} record of "
                                               f"{label}; this failure is in logs/{path.stem}.failed.json")
            else:
                store.write(record, path)
            outcome.records.append(record)
            outcome.leaderboard = write_leaderboard(store)
            display.done(_status_line(record, label))
    if outcome.leaderboard is None and store.dir.exists():
        outcome.leaderboard = write_leaderboard(store)
    return outcome
