"""Reports generated from stored records: the Markdown leaderboard, and the console views of runs."""
from __future__ import annotations

from pathlib import Path

from benchhub.fileio import atomic_write
from benchhub.report.markdown import render_leaderboard


def metric_describer(registry):
    """`describe(label) -> (citation, task)` from the registered metric plugins (None when unknown)."""
    from benchhub.errors import UserError
    from benchhub.spec import parse_component

    def describe(label: str):
        try:
            cls = registry.get_variant("metric", parse_component(label).name)
        except UserError:
            return None
        return cls.citation, cls.task

    return describe


def write_leaderboard(store, registry=None, html: bool = True) -> Path:
    """Regenerate `<results>/<suite>/leaderboard.md` from every record in the store, with
    `leaderboard.json` (the same tables as data, every seed's values), `leaderboard.csv` (one row per
    run and seed) and `report.html` (tables and plots in one file)."""
    import json

    from benchhub.report.export import leaderboard_csv, leaderboard_data

    if registry is None:
        from benchhub import plugins

        registry = plugins.registry()
    records = store.records()
    atomic_write(store.dir / "leaderboard.csv", leaderboard_csv(records))
    if html:
        from benchhub.report.html import render_html

        atomic_write(store.dir / "report.html", render_html(records, store.dir.name))
    atomic_write(store.dir / "leaderboard.json", json.dumps(leaderboard_data(records, store.dir.name), indent=1,
                                                           default=str, allow_nan=False))
    return atomic_write(store.dir / "leaderboard.md", render_leaderboard(records, store.dir.name,
                                                                         metric_describer(registry)))


__all__ = ["render_leaderboard", "write_leaderboard", "metric_describer"]
