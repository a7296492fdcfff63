"""`--executor ray` on a real local Ray cluster (issue 14): the same records as the local executor, bit for bit at
the same thread count, and a head started with `ray start --head` reached by address."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
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
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=120, env=env)
