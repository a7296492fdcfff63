"""Wall time of one suite under each way of running it, side by side in one invocation, as ratios.

    python benchmarks/executors.py                   # the default suite (about 20 minutes on 2 cores)
    python benchmarks/executors.py --seeds 0         # one seed: quicker
    python benchmarks/executors.py --suite tiny      # seconds (what the test runs)

Each configuration computes the whole suite into a fresh results directory (nothing reused); the model is
prepared once before the first (a warm-up run), so no configuration pays pre-training. Configurations:
`--jobs 1 --threads 2` (one run at a time using both cores: benchhub before issue 14), `--jobs 1
--threads 1`, `--jobs 2 --threads 1` and `--executor ray --threads 1` (a local Ray instance).
Runs with 1 thread and 2 threads differ numerically (the thread count is part of the budget), so only
the three 1-thread configurations produce the same records.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "jobs 1 × 2 threads": ["--jobs", "1", "--threads", "2"],
    "jobs 1 × 1 thread": ["--jobs", "1", "--threads", "1"],
    "jobs 2 × 1 thread": ["--jobs", "2", "--threads", "1"],
    "ray × 1 thread": ["--executor", "ray", "--threads", "1"],
}


def run(args: list[str], results: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchhub.cli", "run", *args, "--results", str(results), "--quiet"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchhub run {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def scores(results: Path) -> dict:
    return {json.loads(p.read_text())["run_id"]: json.loads(p.read_text())["metrics"]
            for p in results.glob("*/*__*.json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--seeds", help="e.g. 0 (default: the suite's)")
    parser.add_argument("--methods", help="a subset of the suite's methods")
    opts = parser.parse_args()
    base = ["--suite", opts.suite] + (["--seeds", opts.seeds] if opts.seeds else []) \
        + (["--methods", opts.methods] if opts.methods else [])
    with tempfile.TemporaryDirectory(prefix="benchhub-executors-") as tmp:
        root = Path(tmp)
        run(base[:2] + ["--methods", "zero-shot", "--seeds", "0"], root / "warm-up")  # prepares the model
        walls, records = {}, {}
        for name, extra in CONFIGS.items():
            out = root / name.replace(" ", "-").replace("×", "x")
            walls[name] = run(base + extra, out)
            records[name] = scores(out)
            print(f"{name:<20} {walls[name]:8.1f} s  ({len(records[name])} runs)", flush=True)
    one = walls["jobs 1 × 1 thread"]
    print(f"jobs 2 / jobs 1 (1 thread)       = {one / walls['jobs 2 × 1 thread']:.2f}× faster")
    print(f"jobs 2 / jobs 1 × 2 threads      = {walls['jobs 1 × 2 threads'] / walls['jobs 2 × 1 thread']:.2f}× faster")
    print(f"ray / jobs 1 (1 thread)          = {one / walls['ray × 1 thread']:.2f}× faster")
    same = records["jobs 1 × 1 thread"] == records["jobs 2 × 1 thread"] == records["ray × 1 thread"]
    print(f"1-thread records identical across local jobs 1, jobs 2 and ray: {same}")


if __name__ == "__main__":
    main()
