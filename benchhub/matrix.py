"""Runs a planned matrix: reuse what is recorded, prepare each model once, one child per run, keep every record."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchhub import isolation
from benchhub.components import Model
from benchhub.environment import identity
from benchhub.progress import Display, prepared_line, status_line
from benchhub.records import RunRecord, make_record, now, reuse_verdict
from benchhub.report import write_leaderboard
from benchhub.spec import RunSpec
from benchhub.store import Store


@dataclass
class Outcome:
    records: list = field(default_factory=list)
    reused: Counter = field(default_factory=Counter)  # why stored records were reused
    rerun: Counter = field(default_factory=Counter)  # why stored records were not reused
    leaderboard: Path | None = None

    @property
    def failed(self) -> list:
        return [r for r in self.records if not r.status.done]

    def summary(self) -> str:
        line = f"{len(self.records)} ran, {sum(self.reused.values())} reused, {len(self.failed)} failed"
        return f"{line}; leaderboard: {self.leaderboard}"

    def reasons(self) -> list[str]:
        out = [f"reused {n}: {why}" for why, n in self.reused.items()]
        return out + [f"re-ran {n} recorded: {why}" for why, n in self.rerun.items()]


@dataclass(frozen=True)
class Job:
    spec: RunSpec
    run_id: str
    classes: object
    identity: dict


def verdicts(specs: list[RunSpec], registry, store: Store, env: dict, force: bool):
    """(job, stored record or None, reuse?, why) for every spec: the one place reuse is decided."""
    for spec in specs:
        classes = registry.classes_for(spec)
        job = Job(spec, spec.config_hash(env), classes, identity(classes.all()))
        stored = store.find(job.run_id) if store.dir.is_dir() else None
        yield (job, stored, *reuse_verdict(stored, job.identity, force))


def triage(specs: list[RunSpec], registry, store: Store, env: dict, force: bool, outcome: Outcome,
           log=lambda line: None) -> list[Job]:
    """The runs to do; finished records served by the same code are reused (counted with the reason)."""
    todo = []
    for job, stored, reuse, why in verdicts(specs, registry, store, env, force):
        if reuse:
            outcome.reused[why] += 1
            log(f"[dim]     reused {_label(job.spec)}: record {job.run_id} (use --force to re-run)[/]")
            continue
        if stored is not None:
            outcome.rerun[why] += 1
        todo.append(job)
    return todo


def run_matrix(specs: list[RunSpec], registry, store: Store, env: dict, device, console, *, force: bool = False,
               timeout: float | None = None, baseline: str | None = None) -> Outcome:
    """Run every spec not already recorded; write each record and redraw the leaderboard after each."""
    outcome = Outcome()
    todo = triage(specs, registry, store, env, force, outcome, log=console.print)
    prepared: dict[str, dict] = {}
    with Display(console, len(todo)) as display:
        for job in todo:
            prep = prepare_model(job, prepared, store, display)
            record = run_one(job, prep, store, env, device, display, timeout, baseline)
            keep(record, store, job, display)
            outcome.records.append(record)
            outcome.leaderboard = write_leaderboard(store)
            display.done(status_line(record, _label(job.spec)))
    if outcome.leaderboard is None and store.dir.exists():
        outcome.leaderboard = write_leaderboard(store)
    return outcome


def _label(spec: RunSpec) -> str:
    return f"{spec.model.name} · {spec.method_label} · seed {spec.seed}"


def prepare_model(job: Job, prepared: dict, store: Store, display) -> dict:
    """The model's one-time preparation (e.g. pre-training), once per model and options, in a child."""
    spec = job.spec
    if job.classes.model.prepare is Model.prepare:  # nothing to prepare
        return {"status": "ok"}
    key = f"{spec.model.name}:{sorted(spec.model.options.items())}"
    if key not in prepared:
        display.start(f"preparing {spec.model.name}")
        log_dir = store.dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        prepared[key] = isolation.run_in_child(
            isolation.prepare_task, {"cls": job.classes.model, "name": spec.model.name,
                                     "options": spec.model.options},
            display.event, log_path=str(log_dir / "prepare.log"))
        if prepared[key]["status"] != "ok" or prepared[key].get("info"):
            display.print(prepared_line(spec.model.name, prepared[key]))
    return prepared[key]


def run_one(job: Job, prep: dict, store: Store, env: dict, device, display, timeout, baseline) -> RunRecord:
    """One run in its child process, turned into its record."""
    spec = job.spec
    log_path, weights = store.log_path(spec, job.run_id), store.weights_dir(spec, job.run_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    display.start(_label(spec))
    started, t0 = now(), time.perf_counter()
    if prep["status"] != "ok":
        result = {"status": "failed", "error": f"model preparation failed: {prep.get('error')}"}
    else:
        result = isolation.run_in_child(
            isolation.run_task, {"config": spec.config(), "classes": job.classes, "device": str(device),
                                 "weights_dir": str(weights)},
            display.event, log_path=str(log_path), timeout=timeout)
    return make_record(spec, job.run_id, result, environment=env, identity=job.identity,
                       scoring=job.classes.scoring(spec), baseline=baseline, started=started,
                       wall=time.perf_counter() - t0, log=str(log_path.relative_to(store.dir)),
                       weights=str(weights.relative_to(store.dir)) if result.get("weights") else None,
                       model_preparation=prep.get("info"))


def keep(record: RunRecord, store: Store, job: Job, display) -> None:
    """Store the record, unless it is a failed re-run of a finished one (then beside it, in logs/)."""
    path = store.path_for(job.spec, job.run_id)
    previous = store.find(job.run_id) if not record.status.done else None
    if previous is not None and previous.status.done:
        failed_path = store.dir / "logs" / f"{path.stem}.failed.json"
        store.write(record, failed_path)
        display.print(f"[yellow]    kept[/] the earlier {previous.status} record of {_label(job.spec)}; "
                      f"this failure is in logs/{path.stem}.failed.json")
    else:
        store.write(record, path)


def dry_run(specs: list[RunSpec], registry, store: Store, env: dict, force: bool) -> list[tuple]:
    """(spec, run id, what would happen) for every run, nothing run."""
    return [(job.spec, job.run_id, "reuse (recorded)" if reuse else "run" if stored is None else f"run: {why}")
            for job, stored, reuse, why in verdicts(specs, registry, store, env, force)]


def check_matrix(specs: list[RunSpec], registry, device) -> list[tuple]:
    """`benchhub check`: every self-check of each model × method pair (seeds do not change them), in children."""
    import os

    rows, seen = [], set()
    for spec in specs:
        if (spec.model.name, spec.method_label) in seen:
            continue
        seen.add((spec.model.name, spec.method_label))
        result = isolation.run_in_child(isolation.check_task, {"config": spec.config(), "device": str(device),
                                                               "classes": registry.classes_for(spec)},
                                        log_path=os.devnull)
        rows.append((spec, result))
    return rows
