"""benchmarks/speed.py (the README's speed numbers) runs and prints its ratios."""
from pathlib import Path

import pytest


@pytest.mark.slow
def test_speed_benchmark_script_runs(tmp_path, monkeypatch):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"
    out = subprocess.run([sys.executable, str(script), "--steps", "3", "--rounds", "1"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "benchhub / hand loop  = " in out.stdout and "benchhub / HF Trainer = " in out.stdout
