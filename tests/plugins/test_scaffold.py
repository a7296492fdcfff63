"""`benchhub new method NAME`: the package installs for real, is discovered, runs, and its tests pass."""
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from benchhub.cli import cli

BENCHHUB = str(Path(sys.executable).parent / "benchhub")


def test_new_method_package_installs_and_runs(tmp_path):
    result = CliRunner().invoke(cli, ["new", "method", "bit-fit", "--dir", str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    pkg = tmp_path / "pkg"
    assert sorted(p.name for p in pkg.iterdir()) == ["README.md", "benchhub_bit_fit.py", "pyproject.toml", "tests"]
    # A real install (build backend, wheel, dist-info with the entry point) into an isolated target.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(pkg)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run([BENCHHUB, "plugins", "--json"], env=env, capture_output=True, text=True, check=True)
    plugin = next(p for p in json.loads(listed.stdout) if p["name"] == "benchhub_bit_fit")
    assert plugin["package"] == "benchhub-bit-fit" and plugin["registers"] == {"method": ["bit-fit"]}
    results = tmp_path / "results"
    ran = subprocess.run([BENCHHUB, "run", "--suite", "tiny", "--methods", "bit-fit", "--max-steps", "2",
                          "--results", str(results)], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    record = json.loads(next((results / "tiny").glob("*bit-fit*.json")).read_text())
    assert record["status"] == "ok"
    assert 0 < record["parameters"]["trainable"] < record["parameters"]["total"] // 10
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(pkg / "tests")],
                           env=env, capture_output=True, text=True, cwd=pkg)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # its entry-point test, and its training test on each built-in model (benchhub.testing fixtures)
    assert "4 passed" in tests.stdout


def test_new_method_refuses_bad_names_and_existing_dirs(tmp_path):
    bad = CliRunner().invoke(cli, ["new", "method", "Bad Name", "--dir", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "must be lower-case letters" in bad.output
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    taken = CliRunner().invoke(cli, ["new", "method", "ok", "--dir", str(tmp_path / "taken")])
    assert taken.exit_code == 2 and "already exists and is not an empty directory" in taken.output


def test_new_method_refuses_a_file_and_a_taken_name(fresh_plugins, tmp_path):
    (tmp_path / "file").write_text("x")
    on_file = CliRunner().invoke(cli, ["new", "method", "ok", "--dir", str(tmp_path / "file")])
    assert on_file.exit_code == 2 and "is not an empty directory" in on_file.output
    taken = CliRunner().invoke(cli, ["new", "method", "lora", "--dir", str(tmp_path / "x")])
    assert taken.exit_code == 2 and "method 'lora' already exists (plugin 'method_lora')" in taken.output
