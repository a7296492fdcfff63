"""`--executor ray` on a real local Ray cluster (issue 14): the same records as the local executor, bit for bit at
the same thread count, and a head started with `ray start --head` reached by address."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
CMD = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--methods", "zero-shot,lora", "--threads", "1"]
COMPARED = ("metrics", "per_example", "parameters", "status")


def _records(results: Path) -> dict:
    out = {}
    for path in (results / "tiny").glob("*__*.json"):
        record = json.loads(path.read_text())
        scores = {split: table.get("metrics") for split, table in record["scores"].items()}  # not their timings
        out[record["run_id"]] = {k: record.get(k) for k in COMPARED} | {"scores": scores, "loss": (
            record.get("train") or {}).get("loss_curve")}
    return out


def _run(*args, env=None):
    done = subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_records_equal_the_local_executors_and_a_head_is_reached_by_address(tmp_path):
    _run("--results", tmp_path / "local")
    local = _records(tmp_path / "local")
    assert len(local) == 2
    # (without --ray-address a local Ray instance starts: benchmarks/executors.py runs that path)
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    port = _free_port()
    # Ray ≥ 2.59 authenticates with a token: the head, its nodes and the driver share it
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True, timeout=180, env=env)
    try:
        done = _run("--results", tmp_path / "head", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", env=env)
        assert "ray: 1 node(s), 2 CPUs" in " ".join(done.stderr.split())
        assert _records(tmp_path / "head") == local  # same run ids, same scores, bit for bit
        record = json.loads(next((tmp_path / "head" / "tiny").glob("*lora*.json")).read_text())
        assert record["executor"]["name"] == "ray" and record["executor"]["node"]
        _a_worker_that_dies_is_a_failed_run(tmp_path / "dies", port, env)
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=120, env=env)


def _ray_task_pids() -> list[int]:
    """Ray workers executing a benchhub run (Ray titles a busy worker with its task's name)."""
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in ps.splitlines() if "ray::_ray_task" in line]


def _a_worker_that_dies_is_a_failed_run(results: Path, port: int, env: dict) -> None:
    """The Ray worker running a run is SIGKILLed mid-run: that run is recorded failed with the reason, the matrix
    goes on to the next run, and a re-run would redo only the failed one."""
    args = CMD[:7] + ["lora(r=2),zero-shot", "--threads", "1", "--jobs", "1", "--max-steps", "100000",
                      "--results", str(results), "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while not (pids := _ray_task_pids()) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert pids, f"no Ray worker ran the first run: {proc.poll()} {proc.stdout.read() if proc.poll() else ''}"
        time.sleep(5)  # well into training (100000 steps)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 1, out[-3000:]
    records = {r["config"]["method_label"]: r for r in (json.loads(p.read_text()) for p in
                                                         (results / "tiny").glob("*__*.json"))}
    assert records["lora(r=2)"]["status"] == "failed"
    assert records["lora(r=2)"]["error"].startswith("ray: "), records["lora(r=2)"]["error"]
    assert records["zero-shot"]["status"] == "ok"  # the matrix went on
    dry = subprocess.run(args + ["--dry-run"], capture_output=True, text=True, timeout=300, env=env)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    would = {line.split()[1]: line.split("0 ", 1)[1] for line in dry.stdout.splitlines() if "blip2:tiny " in line}
    assert "reuse" in would["zero-shot"] and "run" in would["lora(r=2)"] and "reuse" not in would["lora(r=2)"], would
