"""The README's generated parts, in the spirit of cog: each block between `<!-- generated: NAME -->` and
`<!-- /generated -->` is what the generator NAME prints, so README numbers and excerpts cannot drift.

    python scripts/readme.py          # rewrite the blocks
    python scripts/readme.py --check  # exit 1 if a block differs (tests/core/test_docs.py runs this)
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->)(.*?)(<!-- /generated -->)", re.S)
EXCERPT_COLUMNS = ["Rank", "Method", "CIDEr ↑", "Δ CIDEr vs `full` [95 % CI]", "Source CIDEr ↑",
                   "Forgetting ↓ [95 % CI]", "LR", "Train s ↓", "Trainable params ↓"]


def table_excerpt(path: Path, columns: list[str]) -> str:
    """The first table of a generated leaderboard, cut to `columns` (cells verbatim)."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Rank |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])])
    keep = [rows[0].index(c) for c in columns]
    lines = ["| " + " | ".join(row[k] for k in keep) + " |" for row in rows]
    lines[1] = "|" + "|".join(rows[1][k] for k in keep) + "|"  # the alignment row, as the file writes it
    return "\n" + "\n".join(lines) + "\n"


def test_count() -> str:
    """How many tests `make test` runs (pytest's own count)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow or not slow",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    match = re.search(r"(\d+) tests? collected", done.stdout)
    if not match:
        raise SystemExit(f"pytest did not report a count:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return match.group(1)


def gap_recovered(path: Path) -> str:
    """'`lora` 52 %, …': for each method significantly below the reference, the share of the gap between the
    baseline (the pre-trained model) and the reference it recovers, from the leaderboard's means."""
    import json

    table = json.loads(path.read_text())["tables"][0]
    primary = table["primary"]
    rows = {r["method"]: r for r in table["rows"]}
    low, high = (rows[table[k]]["metrics"][primary]["mean"] for k in ("baseline", "reference"))
    below = [r for r in table["rows"] if (r.get("difference_to_reference") or {}).get("significant")
             and r["difference_to_reference"]["estimate"] < 0 and r["method"] != table["baseline"]
             and r["metrics"].get(primary, {}).get("mean") is not None]
    parts = [f"`{r['method']}` {100 * (r['metrics'][primary]['mean'] - low) / (high - low):.0f} %" for r in below]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)


GENERATORS = {
    "gap-recovered": lambda: gap_recovered(ROOT / "results" / "default" / "leaderboard.json"),
    "default-leaderboard": lambda: table_excerpt(ROOT / "results" / "default" / "leaderboard.md", EXCERPT_COLUMNS),
    "test-count": test_count,
}


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group(2)]() + m.group(4), text)


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            stale = [m.group(2) for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(new)) if m.group(3) != n.group(3)]
            print(f"README.md is stale in: {', '.join(stale)}; run python scripts/readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
