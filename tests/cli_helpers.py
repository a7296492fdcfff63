"""Helpers shared by tests that drive the `benchhub` command line (importable from every tests/ folder)."""
import json

from click.testing import CliRunner

from benchhub.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result, needle):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and needle in lines[0], lines[0]


def records(results, suite="toy"):
    """The records of a suite as stored on disk (JSON dicts, not RunRecords: the file format is tested)."""
    return [json.loads(p.read_text()) for p in sorted((results / suite).glob("*__*.json"))]
