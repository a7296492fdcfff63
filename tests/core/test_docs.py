"""The README tells the truth: its plugin example runs, its commands exist."""
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchhub.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md").read_text()


def _run_example(text, module, method, fresh_plugins, tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) < 30
    (tmp_path / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = __import__(module)
    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(plugin, name=module)
    fresh_plugins.reset()
    results = tmp_path / "results"
    result = CliRunner().invoke(cli, ["run", "--suite", "tiny", "--methods", method, "--max-steps", "2",
                                      "--results", str(results)])
    return result, results


def test_guide_method_plugin_example_runs(fresh_plugins, tmp_path, monkeypatch):
    result, results = _run_example(GUIDE, "guide_plugin", "top-k(k=1)", fresh_plugins, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((results / "tiny").glob("*__*.json")).read_text())["parameters"]["manifest"]
    assert manifest["vision"]["trainable"] == manifest["bridge"]["trainable"] == 0
    assert manifest["head"]["trainable"] == manifest["head"]["total"] > 0


def test_readme_method_plugin_example_runs(fresh_plugins, tmp_path, monkeypatch):
    result, results = _run_example(README, "readme_plugin", "top-blocks(k=1)", fresh_plugins, tmp_path,
                                   monkeypatch)
    assert result.exit_code == 0, result.output
    record = json.loads(next((results / "tiny").glob("*__*.json")).read_text())
    manifest = record["parameters"]["manifest"]
    assert manifest["vision"]["trainable"] == manifest["bridge"]["trainable"] == 0
    assert 0 < manifest["language"]["trainable"] < manifest["language"]["total"]


def _code_lines(text):
    """The lines inside the fenced code blocks of a Markdown text (prose may begin a line with 'benchhub')."""
    inside, out = False, []
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            out.append(line)
    return out


def test_readme_commands_exist():
    commands = [m.group(1) for line in _code_lines(README) if (m := re.match(r"benchhub (\w+)", line))]
    assert {"run", "plan", "show", "predict", "new"} <= set(commands)
    for command in commands:
        assert command in cli.commands, command
    helps = {name: CliRunner().invoke(cli, [name, "--help"]).output for name in cli.commands}
    helps[""] = CliRunner().invoke(cli, ["--help"]).output  # the group's own options (--verbose)
    ours = "\n".join(line for line in README.splitlines() if not re.search(r"\bray (start|stop)\b|accelerate launch", line))
    for option in set(re.findall(r"(--[a-z][a-z-]+)", ours)):  # other tools' options (ray, accelerate) aside
        assert any(option in text for text in helps.values()), option  # some command has it


def test_readme_generated_parts_are_current():
    """The README's leaderboard excerpt and test count are what scripts/readme.py generates from the results and
    from pytest's collection (issue 15): regenerate with `python scripts/readme.py`."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "scripts" / "readme.py"), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
