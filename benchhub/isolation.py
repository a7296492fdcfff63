"""Each run in its own child process: quiet libraries, a log file, events up, a result file back.

A crash, kill or timeout of the child becomes a failed result; the parent never dies with it.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import tempfile
import time
import traceback

from benchhub.errors import first_line
from benchhub.fileio import atomic_write

# A forkserver with the heavy libraries imported once: ~0.8 s per child instead of ~6.5 s for
# spawn, and no OpenMP deadlock as with a plain fork after torch is loaded (see NOTES).
PRELOAD = ["benchhub", "torch", "transformers", "peft", "benchhub.pipeline"]  # benchhub first: it quiets bitsandbytes
_ctx = None
_live: set = set()  # child processes running now (several when runs go side by side)


def mp_context():
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def quiet_libraries() -> None:
    """No tokenizer threads, no transformers progress bars, warnings or deprecation notices. Hub access is
    left to the user's environment (HF_HUB_OFFLINE, HF_ENDPOINT): the built-in suites never need the Hub."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def _redirect_output(log_path: str | None) -> None:
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def _throttled(events):
    """Send events up; step events at most ~10 a second, and always the last one."""
    last = [0.0]

    def send(*event):
        if events is None:  # a data-parallel rank other than 0: rank 0 reports
            return
        if event[0] == "step":
            now = time.monotonic()
            if now - last[0] < 0.1 and event[1] != event[2]:
                return
            last[0] = now
        events.put(event)

    return send


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when its parent dies. The parent is the forkserver, which exits when
    benchhub does (also on SIGKILL), so a killed `benchhub run` leaves no run training on."""
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the timeout and Ctrl-C handling still apply
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _watch_owner(owner: int) -> None:
    """When benchhub (`owner`) dies, even by SIGKILL, this child ends, and so does the forkserver that
    forked it (benchhub's own helper, reparented to init otherwise): nothing trains on unseen."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                server = os.getppid()
                if server not in (1, owner):
                    with contextlib.suppress(OSError):
                        os.kill(server, signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="benchhub-owner-watch", daemon=True).start()


def _child(task, payload: dict, events, result_path: str, log_path: str | None, owner: int | None = None) -> None:
    """The child's body: run `task(payload, send)`; whatever happens, leave a result file."""
    _die_with_parent()
    if payload.get("visible_devices") is not None:  # before CUDA starts: this run sees its device(s)
        os.environ["CUDA_VISIBLE_DEVICES"] = str(payload["visible_devices"])
    os.environ.update(payload.get("rank_environment", {}))  # a data-parallel rank: its process group
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout: unwind, so `finally` blocks clean up
    if owner is not None:
        _watch_owner(owner)
    _redirect_output(log_path)
    quiet_libraries()
    try:
        result = task(payload, _throttled(events))
    except BaseException as exc:  # recorded, not raised: the matrix goes on
        traceback.print_exc()
        result = {"status": "failed", "error": first_line(exc)[:500]}
        try:
            from benchhub.memory import run_memory

            result["memory"] = run_memory(__import__("torch").device(payload.get("device", "cpu")))
        except Exception:  # noqa: BLE001 - the failure is what matters
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    atomic_write(result_path, json.dumps(result, default=str))


def run_in_child(task, payload: dict, on_event=None, log_path: str | None = None,
                 timeout: float | None = None, processes: int = 1) -> dict:
    """Run `task(payload, send)` (a module-level function) in a fresh child process; returns its result.

    With `processes` > 1, that many children, the ranks of one data-parallel run (`distributed`):
    rank 0's events and result, with every rank's memory and time merged in. A crash, kill or
    timeout of any child becomes {"status": "failed", "error": ...}, and its siblings are killed.
    """
    from benchhub.distributed import merge_ranks, rank_payloads

    ctx = mp_context()
    events = ctx.Queue()
    payloads = rank_payloads(payload, processes) if processes > 1 else [payload]
    with tempfile.TemporaryDirectory(prefix="benchhub-") as tmp:
        paths = [os.path.join(tmp, f"result-{rank}.json") for rank in range(len(payloads))]
        procs = [ctx.Process(target=_child, args=(task, one, events if rank == 0 else None, path, log_path,
                                                  os.getpid()), daemon=True)
                 for rank, (one, path) in enumerate(zip(payloads, paths))]
        for proc in procs:
            proc.start()
            _live.add(proc)
        try:
            failed = _follow(procs, paths, events, on_event, timeout)
        finally:
            _live.difference_update(procs)
        if failed:
            return failed
        for proc in procs:
            proc.join()
        if len(procs) == 1:
            return _read_result(procs[0], paths[0])
        return _failed_rank(procs, paths) or merge_ranks([_read_result(p, path) for p, path in zip(procs, paths)])


def _read_result(proc, path: str) -> dict:
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return _exit_failure(proc.exitcode)


def kill_children() -> None:
    """Kill every run's child process (Ctrl-C while runs go side by side)."""
    for proc in list(_live):
        if proc.is_alive():
            proc.kill()


def _follow(procs: list, paths: list, events, on_event, timeout: float | None) -> dict | None:
    """Pass rank 0's events on until every child exits; kill them all at the timeout, on Ctrl-C, or when
    one rank of several failed (the others would wait for it in a collective)."""
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while any(proc.is_alive() for proc in procs) or not events.empty():
            if deadline and time.monotonic() > deadline and any(proc.is_alive() for proc in procs):
                for proc in procs:
                    _stop(proc)
                return {"status": "failed", "error": f"timed out after {timeout:g} s"}
            if len(procs) > 1 and (failed := _failed_rank(procs, paths)):
                for proc in procs:
                    proc.kill()
                    proc.join()
                return failed
            try:
                event = events.get(timeout=0.1)
            except queue_mod.Empty:
                continue
            if on_event:
                on_event(*event)
    except KeyboardInterrupt:
        for proc in procs:
            proc.kill()
        raise
    return None


def _failed_rank(procs: list, paths: list) -> dict | None:
    """The result of the rank that failed first, if one did (its siblings' failures, e.g. a peer
    reset in a collective, follow from it and are written later)."""
    failed = []
    for rank, (proc, path) in enumerate(zip(procs, paths)):
        if proc.is_alive():
            continue
        result = _read_result(proc, path)
        if result.get("status") == "failed" or proc.exitcode:
            when = os.stat(path).st_mtime_ns if os.path.exists(path) else float("inf")
            failed.append((when, rank, result))
    if not failed:
        return None
    _, rank, result = min(failed, key=lambda f: f[:2])
    return {**result, "error": f"rank {rank}: {result.get('error')}"}


def _stop(proc, grace: float = 5.0) -> None:
    """SIGTERM first (the child cleans up: e.g. a half-built cache entry is removed), SIGKILL after `grace` s."""
    proc.terminate()
    proc.join(grace)
    if proc.is_alive():
        proc.kill()
        proc.join()


def _exit_failure(code: int | None) -> dict:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return {"status": "failed", "error": f"child process killed by {name}{hint}"}
    return {"status": "failed", "error": f"child process exited with code {code} without a result"}


# ---------------------------------------------------------------- the tasks a child runs


def _spec_and_classes(payload: dict):
    """The run's spec and classes, with torch set to the budget's thread count (part of the numerics)."""
    import torch

    from benchhub.spec import RunSpec

    spec = RunSpec.from_config(payload["config"])
    if spec.budget.threads:
        torch.set_num_threads(spec.budget.threads)
    device = torch.device(payload["device"])
    if device.type == "cuda" and payload.get("rank_environment"):  # rank r: the r-th device of its run
        device = torch.device("cuda", int(payload["rank_environment"]["LOCAL_RANK"]))
    return spec, payload["classes"].completed(), device


def run_task(payload: dict, send) -> dict:
    """Train and score one run (`pipeline.execute`); the result names the code this process loaded."""
    from benchhub.distributed import join
    from benchhub.identity import loaded_code, tops_of
    from benchhub.pipeline import execute
    from benchhub.resume import Resume

    spec, classes, device = _spec_and_classes(payload)
    score = tuple(payload.get("score", ("eval", "source")))
    result = execute(spec, classes, device, send, weights_dir=payload.get("weights_dir"), score=score,
                     ranks=join(payload, device, spec.budget.threads),
                     resume=Resume.from_payload(payload.get("resume"), device))
    return {**result, "code": loaded_code(tops_of(classes.all()))}


def check_task(payload: dict, send) -> dict:
    """Every self-check of a run, nothing trained (`benchhub check`)."""
    from benchhub.pipeline import check_only

    return check_only(*_spec_and_classes(payload), send)


def prepare_task(payload: dict, send) -> dict:
    """A model's one-time preparation (pre-training a tiny preset) before its runs."""
    from benchhub.components import complete
    from benchhub.spec import instantiate

    model = instantiate(complete("model", payload["cls"]), payload["name"], payload["options"])
    return {"status": "ok", "info": model.prepare(log=lambda m: send("phase", m),
                                                   progress=lambda s, n, loss: send("step", s, n, loss))}

