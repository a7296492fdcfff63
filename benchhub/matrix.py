"""Runs a planned matrix: reuse what is recorded, sweep learning rates, prepare each model once, one child per run.

Each cell (model × method) runs its learning-rate sweep first when it has a grid: every rate with
the sweep seeds (never a final seed), scored on the validation split only. The rate with the best
validation score is then run with every final seed and scored on the evaluation and source splits,
so no ranked number comes from a run that took part in choosing its rate. Up to `jobs` runs go side
by side, each in its own child process.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.markup import escape

from benchhub import isolation
from benchhub.claims import LoadSampler, claim, describe
from benchhub.executors import Local
from benchhub.reuse import changes as identity_changes, environment_changes
from benchhub.jobs import Job, label, keep, new_job, prepare_model, run_one, verdict
from benchhub.progress import Display, status_line
from benchhub.records import RunRecord
from benchhub.report import write_leaderboard
from benchhub.spec import Cell
from benchhub.store import Store
from benchhub import halving
from benchhub.seeding import Auto, decide
from benchhub.sweep import objective

REDRAW_SECONDS = 10.0
WAIT_SECONDS = 2.0  # how often a run another process computes is looked at again


@dataclass
class Outcome:
    records: list = field(default_factory=list)
    reused: Counter = field(default_factory=Counter)  # why stored records were reused
    rerun: Counter = field(default_factory=Counter)  # why stored records were not reused
    blocked: list = field(default_factory=list)  # runs not re-run: their record is not understood (no --force)
    leaderboard: Path | None = None

    @property
    def failed(self) -> list:
        return [r for r in self.records if not r.status.done]

    def summary(self) -> str:
        line = f"{len(self.records)} ran, {sum(self.reused.values())} reused, {len(self.failed)} failed"
        return f"{line}; leaderboard: {self.leaderboard}"

    def reasons(self) -> list[str]:
        out = [f"reused {n}: {why}" for why, n in self.reused.items()]
        out += [f"re-ran {n} recorded: {why}" for why, n in self.rerun.items()]
        if self.blocked:
            out.append(f"not run {len(self.blocked)}: a record not understood holds their run id "
                       "(see above; `--force` re-runs them)")
        return out


def run_matrix(cells: list[Cell], registry, store: Store, env: dict, device, console, *, force: bool = False,
               timeout: float | None = None, baseline: str | None = None, reference: str | None = None,
               jobs: int = 1, total: int = 0, executor=None, checkpoint_every: int | None = None,
               seeding: Auto | None = None) -> Outcome:
    """Run every cell (sweep, choose, final runs; with adaptive `seeding`, more final seeds while ranks are
    ambiguous); write each record, redraw the leaderboard as records arrive (at most every REDRAW_SECONDS)
    and once at the end."""
    runner = _Runner(registry, store, env, device, force, timeout, (baseline, reference), console)
    runner.executor = executor or Local(device)
    runner.checkpoint_every, runner.seeding = checkpoint_every, seeding
    runner.blocked, notes = store.tidy(force)
    runner.before = store.stamps()  # what --force re-measures: records written before this command started
    for line in notes:
        console.print(f"[yellow]  set aside[/] {escape(line)}")
    with Display(console, total or sum(halving.count(c) for c in cells),
                 noise=str(store.dir / "logs" / "library-output.log")) as display, \
            ThreadPoolExecutor(max_workers=jobs) as pool, LoadSampler() as load:
        runner.display, runner.pool, runner.load = display, pool, load
        try:
            for cell in cells:
                runner.start(cell)
            runner.drain()
            while runner.next_look(cells):  # adaptive seeds: the ambiguous methods' next seeds
                runner.drain()
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)  # no queued run starts after Ctrl-C
            isolation.kill_children()
            raise
        finally:
            if store.dir.exists():
                runner.redraw(every=0)
    return runner.outcome


class _Runner:
    """The state of a running matrix: jobs in flight, sweeps waiting for their last rate."""

    def __init__(self, registry, store: Store, env: dict, device, force: bool, timeout, readers: tuple, console):
        self.registry, self.store, self.env, self.device = registry, store, env, device
        self.force, self.timeout, self.readers, self.console = force, timeout, readers, console
        self.checkpoint_every = self.seeding = None
        self.finals: dict = {}  # id(cell) -> (lr, selection, {seed: record}) of its final runs
        self.outcome = Outcome()
        self.futures: dict = {}
        self.sweeps: dict = {}  # id(cell) -> {(rung, lr, seed): record} (`halving.key`)
        self.submitted: dict = {}  # id(cell) -> keys of its sweep runs submitted
        self.prepared: dict = {}
        self.before: dict = {}  # run id -> stamp of its record file when this command started
        self.drawn = float("-inf")  # when the leaderboard was last written
        self.prepare_lock = threading.Lock()
        self.display = self.pool = self.load = None
        self.blocked: dict = {}  # run id -> why its stored file is not understood (not re-run without --force)
        self.claims: dict = {}  # run id -> Claim held while this process computes it
        self.waiting: dict = {}  # run id -> job another benchhub process is computing
        self.told: set = set()  # notes of runs already printed
        self.by_config: dict | None = None  # configuration -> its latest stored record (any environment)

    def start(self, cell: Cell) -> None:
        if cell.sweeps:
            self.sweeps[id(cell)], self.submitted[id(cell)] = {}, set()
            self.advance(cell)
        else:
            self.run_finals(cell, cell.grid[0], None, cell.final_specs(cell.grid[0]))

    def run_finals(self, cell: Cell, lr: float, selection: dict | None, specs: list) -> None:
        self.finals.setdefault(id(cell), (lr, selection, {}))
        seeding = self.seeding.record() if self.seeding else None
        for spec in specs:
            self.submit(new_job(spec, self.registry, self.env, "final", cell, selection, seeding))

    def next_look(self, cells: list[Cell]) -> bool:
        """Adaptive seeds, once every run so far is in: per model, replay the looks on the final records
        (`seeding.decide`) and submit the seeds the ambiguous methods need next. False: nothing more to run."""
        if self.seeding is None:
            return False
        by_model: dict = {}
        for cell in (c for c in cells if id(c) in self.finals):
            by_model.setdefault(cell.spec.model.label(), []).append(cell)
        submitted = False
        for group in by_model.values():
            rows = {c.spec.method_label: (sorted((r for r in self.finals[id(c)][2].values() if r is not None),
                                                 key=lambda r: r.seed), c.trains) for c in group}
            known = [r for recs, _ in rows.values() for r in recs if r.scoring.get("primary")]
            if not known:
                continue
            metric, higher = objective(known)
            need, _ = decide(rows, metric, higher, self.seeding)
            for cell in group:
                lr, selection, done = self.finals[id(cell)]
                more = [cell.at(lr, seed) for seed in range(need.get(cell.spec.method_label, 0)) if seed not in done]
                if more:
                    self.display.add(len(more))
                    self.run_finals(cell, lr, selection, more)
                    submitted = True
        return submitted

    def submit(self, job: Job) -> None:
        if job.run_id in self.blocked:
            self.outcome.blocked.append(job.run_id)
            self.display.print(f"[yellow]    not run[/] {label(job)}: its record is not understood "
                               f"({escape(self.blocked[job.run_id])}); `--force` re-runs it")
            self.finished(job, None)
            return
        stored = self.store.find(job.run_id) if self.store.dir.is_dir() else None
        # --force re-runs what was recorded before this command started, never what this one or a concurrent
        # one recorded since (its file has another stamp: records are always written anew, by rename)
        force = self.force and self.before.get(job.run_id) is not None \
            and self.store.stamp(job.run_id) == self.before[job.run_id]
        action, why = verdict(job, stored, force)
        elsewhere = self.elsewhere(job) if stored is None else None
        if elsewhere is not None:
            why = "measured elsewhere: " + "; ".join(environment_changes(elsewhere.environment, self.env) or
                                                     identity_changes(elsewhere.identity, job.identity))
        if action == "reuse":
            self.outcome.reused[why] += 1
            self.display.print(f"[dim]     reused {label(job)}: record {job.run_id} (use --force to re-run)[/]")
            self.finished(job, self._reselected(stored, job))
            return
        if stored is not None or elsewhere is not None:
            self.outcome.rerun[why] += 1
        self.futures[self.pool.submit(self.execute, job, stored)] = job

    def elsewhere(self, job: Job) -> RunRecord | None:
        """The latest record of the job's configuration measured in another environment (another run id)."""
        if self.by_config is None:
            self.by_config = {}
            for record in sorted(self.store.records() if self.store.dir.is_dir() else [],
                                 key=lambda r: r.started_at or ""):
                self.by_config[json.dumps(record.config, sort_keys=True, default=str)] = record
        return self.by_config.get(json.dumps(job.spec.config(), sort_keys=True, default=str))

    def drain(self) -> None:
        while self.futures or self.waiting:
            if self.futures:
                done, _ = wait(list(self.futures), timeout=WAIT_SECONDS if self.waiting else None,
                               return_when=FIRST_COMPLETED)
            else:  # only runs other processes compute: look again in a moment
                done = set()
                time.sleep(WAIT_SECONDS)
            for future in done:
                job = self.futures.pop(future)
                record = future.result()
                if isinstance(record, dict):  # another benchhub process holds its claim: wait for its record
                    if job.run_id not in self.waiting and not record.get("recorded"):
                        self.display.print(f"[dim]    waiting for {label(job)}: {describe(record)} computes it[/]")
                    self.waiting[job.run_id] = job
                    continue
                keep(record, self.store, job, self.display)
                if (held := self.claims.pop(job.run_id, None)) is not None:
                    held.release()
                self.outcome.records.append(record)
                self.redraw()
                self.display.done(job.run_id, status_line(record, label(job), job.role))
                self.tell(record)
                self.finished(job, record)
            self.retry_waiting()

    def tell(self, record: RunRecord) -> None:
        """What a run noted for the user (e.g. captions truncated to the model's length), once per matrix."""
        for note in (record.data or {}).get("notes", []):
            if note not in self.told:
                self.told.add(note)
                self.display.print(f"[yellow]       note[/] {escape(note)} (said once; each record's data.notes says "
                                   "which runs)")

    def retry_waiting(self) -> None:
        """Jobs another process was computing: reuse its record once written, or take over its claim."""
        for run_id, job in list(self.waiting.items()):
            if isinstance(claimed := claim(self.store.dir, run_id), dict):
                continue
            claimed.release()
            del self.waiting[run_id]
            self.submit(job)

    def redraw(self, every: float = REDRAW_SECONDS) -> None:
        """Rewrite the leaderboard (its statistics take a moment: at most every `every` seconds while runs go
        on); the HTML report with its plots only at the end (every=0)."""
        if time.monotonic() - self.drawn >= every:
            self.outcome.leaderboard = write_leaderboard(self.store, self.registry, html=every == 0)
            self.drawn = time.monotonic()

    def finished(self, job: Job, record: RunRecord | None) -> None:
        """After a run (or a reused record; None: not run): the sweep's next rung once its last run is in, and
        the final runs once the sweep has chosen."""
        if job.role == "final" and id(job.cell) in self.finals:
            self.finals[id(job.cell)][2][job.spec.seed] = record
        if job.role not in ("rung", "sweep"):
            return
        results = self.sweeps[id(job.cell)]
        results[halving.key(job.spec)] = record
        if self.submitted[id(job.cell)] <= results.keys():
            self.advance(job.cell)

    def advance(self, cell: Cell) -> None:
        """Submit what the cell's sweep needs next (a rung, its survivors), or start the chosen rate's finals."""
        missing, selection = halving.advance(cell, self.sweeps[id(cell)])
        if missing:
            self.submitted[id(cell)] |= {halving.key(spec) for spec in missing}
            for spec in missing:
                self.submit(new_job(spec, self.registry, self.env, "sweep", cell))
            return
        from benchhub.resume import state_path

        for lr in cell.grid:  # the rates halving stopped: their rung states are not needed any more
            for seed in cell.sweep_seeds:
                state_path(self.store.dir, cell.at(lr, seed).config_hash(self.env)).unlink(missing_ok=True)
        spec = cell.spec
        if selection is None:
            self.display.print(f"[red]   no rate[/] of {escape(spec.model.name)} · {escape(spec.method_label)} "
                               "finished its sweep; it has no evaluation runs")
            return
        self.display.print(f"[cyan]   chose[/] lr {selection['chosen']:g} for {escape(spec.model.name)} · "
                           f"{escape(spec.method_label)} on validation {selection['metric']} "
                           f"({escape(selection['summary'])})")
        self.run_finals(cell, selection["chosen"], selection, cell.final_specs(selection["chosen"]))

    def _reselected(self, record: RunRecord, job: Job) -> RunRecord:
        """A reused final record carries the current sweep's selection and seeding (rewritten if they changed)."""
        if job.role != "final" or (job.selection, job.seeding) == (record.selection, record.seeding) \
                or not record.status.ranked:
            return record
        record = replace(record, selection=job.selection, seeding=job.seeding)
        self.store.write(record, self.store.path_for(job.spec, job.run_id))
        return record

    def execute(self, job: Job, stored: RunRecord | None) -> RunRecord | dict | None:
        """In a worker thread: claim the run (or return the owner of the claim that holds it), the model's
        preparation (once), then the run's child process."""
        if job.run_id not in self.claims:
            held = claim(self.store.dir, job.run_id)
            if isinstance(held, dict):
                return held
            self.claims[job.run_id] = held
            if self.store.find(job.run_id) != stored:  # recorded meanwhile by another process: look again
                self.claims.pop(job.run_id).release()
                return {"recorded": True}
            if held.taken_over:
                self.display.print(f"[dim]    took over[/] the stale claim of {label(job)} ({held.taken_over})")
        with self.prepare_lock:
            prep = prepare_model(job, self.prepared, self.store, self.display, self.timeout) \
                if self.executor.prepares else {"status": "ok"}
        self.display.start(job.run_id, label(job) + ("" if job.role == "final" else " (sweep)"))
        return run_one(job, prep, self.store, self.env, self.display, self.timeout, self.readers, self.load,
                       self.executor, self.checkpoint_every)


def dry_run(cells: list[Cell], registry, store: Store, env: dict, force: bool) -> list[tuple]:
    """(spec, run id, what would happen) for every run known before the sweeps, nothing run."""
    rows = []
    unread = {bad.run_id: bad.why for bad in store.unreadable()} if store.dir.is_dir() and not force else {}
    for cell in cells:
        role = "sweep" if cell.sweeps else "final"
        for spec in halving.planned(cell):
            job = new_job(spec, registry, env, role, cell)
            stored = store.find(job.run_id) if store.dir.is_dir() else None
            action, why = verdict(job, stored, force)
            would = "reuse (recorded)" if action == "reuse" else "run" if stored is None else f"run: {why}"
            if job.run_id in unread:  # as `run` would: not re-run until --force
                would = f"not run: its record is not understood ({unread[job.run_id]}); --force re-runs it"
            rung = f" to 1/{spec.rung} of the steps" if spec.rung else ""
            rows.append((spec, job.run_id, f"{would}{f' (sweep{rung}: validation only)' if cell.sweeps else ''}"))
        if cell.sweeps:
            rows.append((cell.spec, "–", f"then {halving.describe(cell)}; then the chosen lr × final seeds "
                                         f"{', '.join(map(str, cell.seeds))}"))
    return rows


def check_matrix(cells: list[Cell], registry, device) -> list[tuple]:
    """`benchhub check`: every self-check of each model × method pair (seeds and rates do not change them)."""
    import os

    rows = []
    for cell in cells:
        spec = cell.spec
        result = isolation.run_in_child(isolation.check_task, {"config": spec.config(), "device": str(device),
                                                               "classes": registry.classes_for(spec)},
                                        log_path=os.devnull)
        rows.append((spec, result))
    return rows
