"""The committed results are current: every record's code identity matches the code in this checkout, so a
change to what runs compute (loop, plugins, evaluation) must come with re-measured results."""
from pathlib import Path

import pytest

from benchhub import identity
from benchhub.store import Store

RESULTS = Path(__file__).resolve().parents[2] / "results"
SUITES = sorted(p.name for p in RESULTS.iterdir() if p.is_dir()) if RESULTS.is_dir() else []


@pytest.mark.parametrize("suite", SUITES)
def test_committed_records_match_the_code(suite):
    records = Store(RESULTS, suite).records()
    assert records, f"results/{suite} holds no records"
    stale = {}
    for record in records:
        code = (record.identity or {}).get("code")
        changed = identity.code_changes(code) if code else ["(no code identity)"]
        if changed:
            stale[record.run_id] = changed
    assert not stale, (f"{len(stale)} of {len(records)} records in results/{suite} were made by other code "
                       f"(e.g. {next(iter(stale.items()))}); re-run: benchhub run --suite {suite} --force")
