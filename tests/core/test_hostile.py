"""Hostile or unlucky input through the real CLI: one `Error:` line, exit 2, nothing written (issue 13, part)."""
import struct
import zlib

import pytest

from cli_helpers import assert_one_line_error, invoke


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


SUITE = """
[suite]
methods = ["lora", "full"]
models = ["blip2:tiny"]
{extra_head}
[dataset]
name = "shapes"
{extra}
"""


@pytest.mark.parametrize("extra_head, extra, needle", [
    ("", "[methods.lorra]\nr = 4", "[methods.lorra] table: unknown method 'lorra'; did you mean 'lora'?"),
    ("", '[models."vitt:tiny"]\nhidden = 4', "[models.vitt:tiny] table: unknown model 'vitt'"),
    ("seeds = [99999999999999999999]", "", "out of range"),
    ("seeds = [4294967296]", "", "out of range"),
    ("seeds = [-1]", "", "out of range"),
    ("seed = [1, 2]", "", "unknown [suite] key 'seed'"),
])
def test_bad_suites_are_refused_before_anything_runs(fresh_plugins, tmp_path, extra_head, extra, needle):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(extra_head=extra_head, extra=extra))
    results = tmp_path / "results"
    assert_one_line_error(invoke("run", "--suite", path, "--results", results), needle)
    assert not results.exists()


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "tiny", "--seeds", "99999999999999999999", "--dry-run"], "out of range"),
    (["run", "--suite", "tiny", "--seed", "-3", "--dry-run"], "out of range"),
    (["report", "--suite", ".."], "a name, not a path"),
    (["report", "--suite", "../x"], "a name, not a path"),
])
def test_bad_command_lines_are_refused(fresh_plugins, tmp_path, args, needle):
    before = _snapshot(tmp_path)
    assert_one_line_error(invoke(*args, "--results", tmp_path), needle)
    assert _snapshot(tmp_path) == before


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_in_one_line(tmp_path):
    from benchhub.fileio import open_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(30000, 30000))
    with pytest.raises(ValueError, match="decompression bomb"):
        open_image(bomb)
    from benchhub.predict import open_images
    from benchhub.errors import UserError

    with pytest.raises(UserError, match="refused as a decompression bomb"):
        open_images([str(bomb)])
