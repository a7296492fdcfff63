"""Where runs execute: `local` (isolated child processes on this machine) or `ray` (tasks on a Ray cluster).

Either way a run is the same isolated child process (`isolation.run_in_child`) running the same
task; only where that child starts differs. The driver (benchhub's process) writes every record,
so a Ray cluster needs no shared filesystem for results.
"""
from __future__ import annotations

import os
import queue
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from benchhub import isolation
from benchhub.claims import usable_cores
from benchhub.errors import UserError, first_line

def visible_accelerators(device) -> list[str]:
    """The accelerator indices runs may use (CUDA: `CUDA_VISIBLE_DEVICES` or every device)."""
    if device.type != "cuda":
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def side_by_side(jobs: int | None, suite_jobs: int, threads: int | None, device, processes: int = 1) -> int:
    """How many runs go at once on this machine. CPU: runs must not share cores (jobs × processes per run ×
    threads per process ≤ the cores); an explicit --jobs or --processes that does not fit is refused, the
    suite's `jobs` is lowered to what fits (the threads per run, part of the numerics, never change).
    GPU: one process per visible device."""
    if device.type != "cpu":
        devices = len(visible_accelerators(device)) or 1
        if (jobs or 1) * processes > devices:
            raise UserError(f"--jobs {jobs or 1} × --processes {processes} need {(jobs or 1) * processes} "
                            f"accelerators; {devices} visible (one process per device, each with the budget's memory)")
        return jobs or devices // processes
    cores = usable_cores()
    per_run = (threads or (1 if processes > 1 else cores)) * processes
    if threads is not None and threads > cores:
        raise UserError(f"the budget's {threads} threads per process need more than the {cores} CPU cores; "
                        f"give at most {cores} (--threads)")
    if ((jobs or 1) > 1 or processes > 1) and (jobs or 1) * per_run > cores:
        raise UserError(f"--jobs {jobs or 1} × --processes {processes} × {per_run // processes} threads per process "
                        f"need more than the {cores} CPU cores; lower one (the threads per run change the numerics, "
                        "so they are part of the budget: --threads)")
    return jobs or max(1, min(suite_jobs, cores // per_run))


def processes_of(payload: dict) -> int:
    """The data-parallel processes a run's payload asks for (its budget's `processes`)."""
    return payload.get("config", {}).get("budget", {}).get("processes", 1)


def make(name: str, ray_address: str | None, artifacts: str | None, device, jobs: int | None, suite):
    """(the executor `run --executor` names, how many runs go at once)."""
    if name == "local" and (ray_address or artifacts):
        raise UserError("--ray-address and --artifacts go with --executor ray")
    if name == "local":
        executor = Local(device)
        jobs = side_by_side(jobs, suite.jobs, suite.budget.threads, device, suite.budget.processes)
    else:
        executor = Ray(ray_address, device, artifacts)
        executor.check(suite.budget)
        jobs = jobs or executor.jobs(suite.budget.threads)
    executor.reserve(jobs)
    return executor, jobs


class Local:
    """Child processes on this machine; on GPUs each child sees one device (`CUDA_VISIBLE_DEVICES`)."""

    name = "local"
    prepares = True  # models are prepared here, once, before their runs

    def __init__(self, device):
        self.device = device
        self.free: queue.Queue = queue.Queue()
        self.lock = threading.Lock()

    def reserve(self, jobs: int) -> None:
        """The accelerators the `jobs` runs at once take turns on (one process per device)."""
        for index in visible_accelerators(self.device):
            self.free.put(index)

    @contextmanager
    def _accelerators(self, processes: int):
        if self.device.type != "cuda":
            yield None
            return
        with self.lock:  # a run takes its devices together, never half of them
            indices = [self.free.get() for _ in range(processes)]
        try:
            yield ",".join(indices)
        finally:
            for index in indices:
                self.free.put(index)

    def weights_dir(self, store, spec, run_id: str) -> Path:
        return store.weights_dir(spec, run_id)

    def run(self, task, payload: dict, on_event=None, log_path: str | None = None, timeout: float | None = None,
            **_) -> dict:
        processes = processes_of(payload)
        with self._accelerators(processes) as indices:
            payload = {**payload, "visible_devices": indices} if indices is not None else payload
            return isolation.run_in_child(task, payload, on_event, log_path=log_path, timeout=timeout,
                                          processes=processes)

    def describe(self) -> str:
        return ""


class Ray:
    """One Ray task per run on a cluster (`address`; None: a local Ray instance). The task prepares the model
    on its node (cached there), runs the same isolated child, and returns the result and log to the driver."""

    name = "ray"
    prepares = False  # each task prepares its model on its node

    def __init__(self, address: str | None, device, artifacts: str | None = None):
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'benchhub[ray]'") from None
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot reach a Ray cluster at {address or 'a new local instance'}: "
                            f"{first_line(exc, with_type=False)}") from None
        self.ray, self.device, self.artifacts = ray, device, artifacts
        self.task = ray.remote(_ray_task)

    def reserve(self, jobs: int) -> None:
        """Ray places the tasks: nothing to reserve here."""

    def resources(self, spec) -> dict:
        return self.needs(spec.budget)

    def needs(self, budget) -> dict:
        """What a run asks of the cluster: per process, its budget's threads as CPUs, a GPU on CUDA and its
        memory limit (a run's processes go on one node)."""
        n = budget.processes
        out = {"num_cpus": (budget.threads or 1) * n, "num_gpus": n if self.device.type == "cuda" else 0}
        if budget.memory_limit_bytes and self.device.type == "cpu":
            out["memory"] = budget.memory_limit_bytes * n
        return out

    def weights_dir(self, store, spec, run_id: str) -> Path:
        """--artifacts (shared storage) if named, else a folder on the worker (the record names its node)."""
        root = Path(self.artifacts) if self.artifacts else Path(tempfile.gettempdir()) / "benchhub-weights"
        return root / store.dir.name / store.weights_dir(spec, run_id).name

    def check(self, budget) -> None:
        """A run asks one node for all it needs; refuse a budget no live node can give (Ray would wait for ever)."""
        need = self.needs(budget)
        wanted = {"CPU": need["num_cpus"], "GPU": need["num_gpus"], "memory": need.get("memory", 0)}
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        if not any(all(node.get(key, 0) >= amount for key, amount in wanted.items() if amount) for node in nodes):
            largest = {key: max((node.get(key, 0) for node in nodes), default=0) for key in wanted}
            raise UserError(f"no node of the Ray cluster can run one of this budget's runs: it asks "
                            f"{wanted['CPU']} CPUs (threads × processes)"
                            + (f", {wanted['GPU']} GPUs" if wanted["GPU"] else "")
                            + (f" and {wanted['memory'] / 2**30:.1f} GiB" if wanted["memory"] else "")
                            + f"; the largest node has {largest['CPU']:g} CPUs"
                            + (f", {largest['GPU']:g} GPUs" if wanted["GPU"] else "")
                            + (f", {largest['memory'] / 2**30:.1f} GiB" if wanted["memory"] else ""))

    def jobs(self, threads: int | None) -> int:
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // (threads or 1))

    def run(self, task, payload: dict, on_event=None, log_path: str | None = None, timeout: float | None = None,
            spec=None, prepare: dict | None = None) -> dict:
        remote = self.task.options(**self.resources(spec), max_retries=0)
        try:
            result, log_text, node = self.ray.get(remote.remote(task, payload, timeout, prepare))
        except self.ray.exceptions.RayError as exc:
            return {"status": "failed", "error": f"ray: {first_line(exc)[:400]}"}
        if log_path:
            Path(log_path).write_text(log_text)
        return {**result, "node": node}

    def describe(self) -> str:
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        return f" · ray: {len(nodes)} node(s), {int(self.ray.cluster_resources().get('CPU', 0))} CPUs"


def _ray_task(task, payload: dict, timeout: float | None, prepare: dict | None):
    """On a Ray worker: the model's preparation (cached on this node), then the run's isolated child."""
    import ray

    node = ray.util.get_node_ip_address()
    with tempfile.TemporaryDirectory(prefix="benchhub-ray-") as tmp:
        log = os.path.join(tmp, "run.log")
        if prepare is not None:
            prepared = isolation.run_in_child(isolation.prepare_task, prepare, log_path=log, timeout=timeout)
            if prepared["status"] != "ok":
                failed = {"status": "failed", "error": f"model preparation failed: {prepared.get('error')}"}
                return failed, Path(log).read_text(), node
        result = isolation.run_in_child(task, payload, log_path=log, timeout=timeout, processes=processes_of(payload))
        return result, Path(log).read_text() if os.path.exists(log) else "", node
