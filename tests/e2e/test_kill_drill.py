"""A real `benchhub run` killed with SIGKILL (the parent alone, or its process group) leaves no run
training on, and a re-run loses and recomputes nothing that had finished."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _records(results: Path) -> dict:
    return {p.name: json.loads(p.read_text()) for p in (results / "tiny").glob("*__*.json")}


@pytest.mark.slow
@pytest.mark.parametrize("group", [False, True])
def test_sigkill_leaves_no_orphans_and_loses_nothing(tmp_path, group):
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--methods", "zero-shot,full",
           "--results", str(results)]
    assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0  # zero-shot and full finish
    done = _records(results)
    long = cmd[:-4] + ["--methods", "lora", "--max-steps", "100000", "--results", str(results)]
    proc = subprocess.Popen(long, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("blip2-tiny__lora") for p in (results / "tiny" / "logs").glob("*.log")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(2)  # the lora run is training
    family = _descendants(proc.pid)
    assert family, "the run's child process was not found"
    os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
    proc.wait()
    time.sleep(3)
    assert not [pid for pid in family if _alive(pid)], "processes outlived a SIGKILLed benchhub run"
    assert _records(results) == done  # nothing finished was lost, duplicated or rewritten
    again = subprocess.run(cmd + ["--quiet"], capture_output=True, timeout=600)
    assert again.returncode == 0 and _records(results) == done  # and nothing finished was recomputed
