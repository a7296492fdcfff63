"""One run on several processes (`--processes N`, issue 14): accelerate's DDP over gloo on this CPU gives the loss
curve one process gives at the same effective batch, seed and threads; every rank's memory and time are recorded;
a rank that fails ends the run (not a hang) with the rank named."""
import json
import subprocess
import sys
import time

import pytest

from benchhub import isolation

pytestmark = pytest.mark.slow
CMD = [sys.executable, "-m", "benchhub.cli", "run", "--suite", "tiny", "--methods", "full", "--threads", "1",
       "--max-steps", "10", "--quiet"]


def _run(results, *args):
    done = subprocess.run(CMD + ["--results", str(results), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {r["config"]["method_label"]: r for r in
            (json.loads(p.read_text()) for p in (results / "tiny").glob("*__*.json"))}


def test_two_processes_give_one_process_loss_curve(tmp_path):
    one, two = _run(tmp_path / "one"), _run(tmp_path / "two", "--processes", "2")
    assert set(one) == set(two) == {"full"}  # every parameter through DDP (lora measured the same: README)
    for label, record in two.items():
        assert record["status"] == "ok", record.get("error")
        assert record["config"]["budget"]["processes"] == 2 and "processes" not in one[label]["config"]["budget"]
        assert record["batching"] == {"effective_batch": 8, "micro_batch": 4, "grad_accum_steps": 1, "processes": 2}
        assert one[label]["batching"]["grad_accum_steps"] == 2  # the same 8 examples a step: 4 × 2 × 1
        curve, reference = record["train"]["loss_curve"], one[label]["train"]["loss_curve"]
        assert len(curve) == len(reference) == 10
        assert max(abs(a - b) / abs(b) for a, b in zip(curve, reference)) <= 1e-4, (label, curve, reference)
        peaks, seconds = record["memory"]["per_rank_peak_bytes"], record["train"]["per_rank_seconds"]
        assert len(peaks) == len(seconds) == 2 and record["memory"]["peak_bytes"] == max(peaks)
        assert record["train"]["seconds"] == max(seconds) > 0
        assert record["metrics"]["CIDEr"] == pytest.approx(one[label]["metrics"]["CIDEr"], rel=1e-3)


def one_rank_fails(payload, send):
    """Rank 1 raises; rank 0 waits for it in a collective, as a training step would."""
    import torch

    from benchhub.distributed import join

    ranks = join(payload, torch.device("cpu"), threads=1)
    if ranks.rank == 1:
        raise RuntimeError("rank one breaks")
    ranks.total(1.0)
    return {"status": "ok"}


def test_a_failing_rank_ends_the_run_and_is_named():
    start = time.monotonic()
    result = isolation.run_in_child(one_rank_fails, {}, processes=2, timeout=120)
    assert result["status"] == "failed" and result["error"] == "rank 1: RuntimeError: rank one breaks"
    assert time.monotonic() - start < 60  # rank 0 was killed, not left waiting for the gloo timeout
