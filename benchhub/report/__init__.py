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


PLOTS = "plots"  # the PNGs beside leaderboard.md


def write_leaderboard(store, registry=None, html: bool = True) -> Path:
    """Regenerate `<results>/<suite>/leaderboard.md` from every record in the store, with
    `leaderboard.json` (the same tables as data, every seed's values), `leaderboard.csv` (one row per
    run and seed), `report.html` (tables and interactive plots in one file) and the plots as PNGs in
    `plots/`, linked from the Markdown. With `html=False` (while runs go on) the HTML and PNGs are not redrawn;
    the Markdown links the PNGs already there."""
    import json

    from benchhub.report.export import leaderboard_csv, leaderboard_data

    if registry is None:
        from benchhub import plugins

        registry = plugins.registry()
    records = store.records()
    describe = metric_describer(registry)
    atomic_write(store.dir / "leaderboard.csv", leaderboard_csv(records))
    plots_dir, written = store.dir / PLOTS, set()

    def figure(index, board, plot):
        name = f"table{index + 1}-{plot.kind}.png"
        if html:
            from benchhub.report.static import png

            plots_dir.mkdir(exist_ok=True)
            atomic_write(plots_dir / name, png(plot, board.primary))
            written.add(name)
        return f"{PLOTS}/{name}" if (plots_dir / name).is_file() else None

    markdown = render_leaderboard(records, store.dir.name, describe, figure)
    if html:
        from benchhub.report.html import render_html

        for old in plots_dir.glob("table*-*.png") if plots_dir.is_dir() else []:
            if old.name not in written:
                old.unlink()
        atomic_write(store.dir / "report.html", render_html(records, store.dir.name, describe))
    atomic_write(store.dir / "leaderboard.json", json.dumps(leaderboard_data(records, store.dir.name), indent=1,
                                                           default=str, allow_nan=False))
    return atomic_write(store.dir / "leaderboard.md", markdown)


__all__ = ["render_leaderboard", "write_leaderboard", "metric_describer"]
