"""Issue 24: a run killed mid-training resumes from its last saved training state when the command is run again,
and gives the same loss curve, scores and per-example scores, bit for bit, as an uninterrupted run (CPU, one
thread); its record says it resumed."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--methods", "lora(dropout=0.1)",
       "--seeds", "0", "--max-steps", "120", "--threads", "1", "--checkpoint-every", "20", "-q"]


def _record(results: Path) -> dict:
    found = [json.loads(p.read_text()) for p in (results / "tiny").glob("*__*.json")]
    assert len(found) == 1, [f["config"]["method_label"] for f in found]
    return found[0]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_numbers(tmp_path):
    whole = tmp_path / "whole"
    done = subprocess.run(CMD + ["--results", str(whole)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _record(whole)
    assert reference["train"]["resume"] == {"resumed_from_step": None, "states_saved": 5}  # steps 20 … 100
    assert not (whole / "tiny" / "resume").exists() or not any((whole / "tiny" / "resume").iterdir())

    killed = tmp_path / "killed"
    proc = subprocess.Popen(CMD + ["--results", str(killed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    states = killed / "tiny" / "resume"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        saved = list(states.glob("*.pt")) if states.is_dir() else []
        if saved:
            import torch

            step = torch.load(saved[0], weights_only=True)["step"]
            if step >= 40:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not list((killed / "tiny").glob("*__*.json"))  # no record: the run did not finish

    again = subprocess.run(CMD + ["--results", str(killed)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = _record(killed)
    assert resumed["train"]["resume"]["resumed_from_step"] >= 40
    assert resumed["train"]["loss_curve"] == reference["train"]["loss_curve"]
    assert resumed["train"]["final_loss"] == reference["train"]["final_loss"]
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["per_example"] == reference["per_example"]
    assert resumed["run_id"] == reference["run_id"]
    assert not list(states.glob("*.pt"))  # finished: the state is removed
