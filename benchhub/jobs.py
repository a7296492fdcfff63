"""One run of a matrix: its job, whether its stored record is reused, its child process, its record kept."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape

from benchhub import isolation
from benchhub.claims import LoadSampler, active_run
from benchhub.components import Model
from benchhub.progress import prepared_line
from benchhub import reuse
from benchhub.records import RunRecord, make_record, now, randomness, reuse_verdict
from benchhub.spec import Cell, RunSpec
from benchhub.store import Store

SCORE = {"rung": ("validation",), "sweep": ("validation",), "final": ("eval", "source")}


@dataclass(frozen=True)
class Job:
    spec: RunSpec
    run_id: str
    classes: object
    identity: dict
    role: str = "final"  # "rung" or "sweep" (validation only), or "final" (evaluation, source)
    cell: Cell | None = None
    selection: dict | None = None
    seeding: dict | None = None  # adaptive seeds (`seeding.Auto.record`), on final runs


def verdict(job: Job, stored: RunRecord | None, force: bool) -> tuple[str, str]:
    """(what to do: "reuse" | "run", why) for a job and its stored record: the one place reuse is decided."""
    reuse, why = reuse_verdict(stored, job.identity, force)
    if not reuse:
        return "run", why
    if not stored.status.ranked:  # a finished finding (does not fit, over budget): nothing to score
        return "reuse", why
    if job.role in ("rung", "sweep") and stored.split_score("validation") is None:
        return "run", "recorded without a validation score"
    if job.role == "final" and not stored.evaluated:
        return "run", "recorded without evaluation scores"
    return "reuse", why


def new_job(spec: RunSpec, registry, env: dict, role: str = "final", cell: Cell | None = None,
            selection: dict | None = None, seeding: dict | None = None) -> Job:
    role = "rung" if spec.rung else role
    classes = registry.classes_for(spec)
    checkpoint = classes.new_model(spec).checkpoint()
    return Job(spec, spec.config_hash(env), classes, reuse.expected(classes.all(), env.get("machine"), checkpoint),
               role, cell, selection, seeding if role == "final" and cell is not None and cell.trains else None)


def label(job: Job) -> str:
    """The run in words, for the console (rich markup in plugin text is escaped)."""
    return escape(_words(job))


def _words(job: Job) -> str:
    spec = job.spec
    lr = f" · lr {spec.lr:g}" if job.cell is None or job.cell.trains else ""
    rung = f" · to 1/{spec.rung} of the steps" if spec.rung else ""
    return f"{spec.model.name} · {spec.method_label}{lr} · seed {spec.seed}{rung}"


def prepare_model(job: Job, prepared: dict, store: Store, display, timeout: float | None = None) -> dict:
    """The model's one-time preparation (e.g. pre-training), once per model and options, in a child (under the
    run timeout: a preparation that outlasts it fails the model's runs and leaves its cache clean)."""
    spec = job.spec
    payload = preparation(job)
    if payload is None:  # nothing to prepare
        return {"status": "ok"}
    key = f"{spec.model.name}:{sorted(spec.model.options.items())}"
    if key not in prepared:
        display.start("prepare", f"preparing {spec.model.name}")
        log_dir = store.dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        prepared[key] = isolation.run_in_child(isolation.prepare_task, payload, display.listener("prepare"),
                                               log_path=str(log_dir / "prepare.log"), timeout=timeout)
        display.finish("prepare")
        if prepared[key]["status"] != "ok" or prepared[key].get("info"):
            display.print(prepared_line(spec.model.name, prepared[key]))
    return prepared[key]


def run_one(job: Job, prep: dict, store: Store, env: dict, display, timeout, readers: tuple, load: LoadSampler,
            executor, checkpoint_every: int | None = None) -> RunRecord:
    """One run in its child process (where `executor` starts it), turned into its record (`readers`: the
    suite's baseline and reference; `load`: what else ran on the host meanwhile)."""
    from benchhub.resume import state_path

    spec = job.spec
    log_path, weights = store.log_path(spec, job.run_id), executor.weights_dir(store, spec, job.run_id)
    # a halving rung is the start of its rate's full-length run: its state is saved under that run's id
    resume_id = replace(spec, rung=0).config_hash(env) if spec.rung else job.run_id
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    started, t0, since = now(), time.perf_counter(), time.monotonic()
    if prep["status"] != "ok":
        result = {"status": "failed", "error": f"model preparation failed: {prep.get('error')}"}
    else:
        with active_run(job.run_id):
            result = executor.run(
                isolation.run_task, {"config": spec.config(), "classes": job.classes, "device": str(executor.device),
                                     "weights_dir": None if spec.rung else str(weights), "score": SCORE[job.role],
                                     "resume": {"path": str(state_path(store.dir, resume_id)), "run_id": resume_id,
                                                "every": checkpoint_every}},
                display.listener(job.run_id), log_path=str(log_path), timeout=timeout, spec=spec,
                prepare=preparation(job))
    where = {"name": executor.name, **({"node": result["node"]} if result.get("node") else {})}
    made = prep.get("info") or result.get("model_preparation") or {}
    checkpoint = {"key": made["key"], "sha256": made["sha256"]} if made.get("sha256") else None
    measured = reuse.measured(job.identity, {**made.get("code", {}), **result.pop("code", {})}, checkpoint)
    return make_record(spec, job.run_id, result, environment=env, identity=measured,
                       scoring=job.classes.scoring(spec), baseline=readers[0], reference=readers[1], started=started,
                       wall=time.perf_counter() - t0, log=str(log_path.relative_to(store.dir)),
                       weights=_relative(weights, store) if result.get("weights") else None,
                       model_preparation={k: v for k, v in made.items() if k != "code"} or None,
                       selection=job.selection, role=job.role, seeding=job.seeding,
                       randomness=randomness(spec, bool(job.cell is None or job.cell.trains)),
                       load=load.over(since, time.monotonic()), executor=where)


def preparation(job: Job) -> dict | None:
    """What a model's one-time preparation needs (None: nothing to prepare)."""
    if job.classes.model.prepare is Model.prepare:
        return None
    shipped = getattr(job.classes.new_model(job.spec), "shipped", None)
    if shipped is not None and shipped():  # shipped with its package, ready: no child to start
        return None
    return {"cls": job.classes.model, "name": job.spec.model.name, "options": job.spec.model.options}


def _relative(path: Path, store: Store) -> str:
    """A weights path as recorded: relative to the suite's results directory when inside it."""
    return str(path.relative_to(store.dir)) if path.is_relative_to(store.dir) else str(path)


def keep(record: RunRecord, store: Store, job: Job, display) -> None:
    """Store the record, unless it is a failed re-run of a finished one (then beside it, in logs/)."""
    path = store.path_for(job.spec, job.run_id)
    previous = store.find(job.run_id) if not record.status.done else None
    if previous is not None and previous.status.done:
        failed_path = store.dir / "logs" / f"{path.stem}.failed.json"
        store.write(record, failed_path)
        display.print(f"[yellow]    kept[/] the earlier {previous.status} record of {label(job)}; "
                      f"this failure is in logs/{path.stem}.failed.json")
    else:
        store.write(record, path)
    if record.status.done:  # finished: its saved training state is no longer needed
        from benchhub.resume import state_path

        state_path(store.dir, job.run_id).unlink(missing_ok=True)
