"""Pre-trained tiny checkpoints are byte-identical wherever the CPU instruction set is the same: two
preparations into empty caches, one with OMP_NUM_THREADS=1 in its environment, give the same sha256."""
import json
import os
import subprocess
import sys

import pytest

# A recipe small enough for a test; pre-training runs the same loop as the default checkpoint's.
RECIPE = {"hidden": 32, "ffn": 64, "pretrain_images": 64, "pretrain_steps": 30, "pretrain_batch": 16}
PREPARE = f"""
import json
from benchhub import plugins
model = plugins.registry().create("model", "blip2:tiny", **{RECIPE!r})
info = model.prepare(log=lambda m: None)
print(json.dumps({{"sha256": info["sha256"], "key": info["key"], "loss": info["final_loss"],
                   "checkpoint": model.checkpoint()}}))
"""


def _prepare(cache, **env) -> dict:
    environ = {**os.environ, "BENCHHUB_CACHE": str(cache), **env}
    out = subprocess.run([sys.executable, "-c", PREPARE], capture_output=True, text=True, env=environ,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_pretraining_gives_identical_weights(tmp_path):
    quiet = _prepare(tmp_path / "a")
    one_thread = _prepare(tmp_path / "b", OMP_NUM_THREADS="1")
    assert quiet["sha256"] == one_thread["sha256"] and quiet["loss"] == one_thread["loss"]
    assert quiet["key"] == one_thread["key"]
    # what a run's identity names before building: the same key, and the sha256 once the checkpoint exists
    assert quiet["checkpoint"] == {"key": quiet["key"], "sha256": quiet["sha256"]}
