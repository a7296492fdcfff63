"""A real `benchhub run` killed with SIGKILL (the parent alone, or its process group) or interrupted with
Ctrl-C (SIGINT to the group: exit 130) leaves no run training on, and a re-run loses and recomputes nothing
that had finished."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchhub.fileio import orphaned


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


CMD = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results directory where zero-shot and full have finished (made once, copied by each drill)."""
    results = tmp_path_factory.mktemp("finished") / "results"
    done = subprocess.run(CMD + ["--methods", "zero-shot,full", "--results", str(results)], capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return results


@pytest.mark.slow
@pytest.mark.parametrize("sig, group, moment", [(signal.SIGKILL, False, "preparing"),  # benchhub alone: its
                                                # children must notice; a group SIGKILL is the easy case
                                                (signal.SIGINT, True, "training")],  # Ctrl-C in a terminal
                         ids=["kill-parent-preparing", "ctrl-c-training"])
def test_sigkill_leaves_no_orphans_and_loses_nothing(finished, tmp_path, sig, group, moment):
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    (results / "tiny" / "logs" / "prepare.log").unlink(missing_ok=True)  # its appearance says preparation began
    done = _records(results)
    env = dict(os.environ)
    models = []
    if moment == "preparing":  # an empty cache and a recipe that is not shipped: pre-trained first, in a child
        env["BENCHHUB_CACHE"] = str(tmp_path / "cache")
        models = ["--models", "blip2:tiny(pretrain_steps=100000)"]
    started = results / "tiny" / "logs" / ("prepare.log" if moment == "preparing" else "blip2-tiny__lora")
    proc = subprocess.Popen(CMD + ["--methods", "lora", "--max-steps", "100000", "--results", str(results), *models],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(started.name) for p in started.parent.glob("*.log")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(2)  # the model is being prepared, or the lora run is training
        family = _descendants(proc.pid)
        assert family, "the run's child process was not found"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
    code = proc.wait(timeout=60)
    assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL)  # Ctrl-C: 130, as shells report it
    time.sleep(3)
    assert not [pid for pid in family if _alive(pid)], "processes outlived a SIGKILLed benchhub run"
    assert _records(results) == done  # nothing finished was lost, duplicated or rewritten
    leftovers = [p for p in (tmp_path / "cache").glob("*.tmp*")]
    assert all(orphaned(p.name) for p in leftovers)  # a half-built cache entry is removed by the next start
    again = subprocess.run(CMD + ["--methods", "zero-shot,full", "--results", str(results), "--quiet"],
                           capture_output=True, timeout=600)
    assert again.returncode == 0 and _records(results) == done  # and nothing finished was recomputed
