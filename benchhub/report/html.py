"""`report.html`: one self-contained, offline file with everything leaderboard.md says (the same text, tables and
notes, `mdhtml`) and, in place of its PNGs, interactive Plotly plots (`interactive`) with plotly.js embedded.

Per table: quality vs peak memory and vs train time (error bars, Pareto front, a legend that toggles methods,
hover with options, rate, seeds, intervals and run ids), training loss as a mean line and a band over seeds per
method (sweep runs a legend group hidden at first), the memory split, the learning-rate sweep and the
Δ-vs-reference forest plot; then sample predictions. Text from records and plugins is HTML-escaped.
"""
from __future__ import annotations

from html import escape

from benchhub.records import RunRecord
from benchhub.report.markdown import render_leaderboard

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em auto;padding:0 1.5em;max-width:1200px;color:#222;
line-height:1.45}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{margin:1.6em 0 .2em}p,li{max-width:75em}.tablebox{max-width:100%;max-height:80vh;overflow:auto;margin:1em 0;
border:1px solid #ddd}table{border-collapse:separate;border-spacing:0;font-size:13px}
td,th{border-bottom:1px solid #e3e3e3;border-right:1px solid #eee;padding:4px 8px;white-space:nowrap}
thead th{position:sticky;top:0;background:#f3f3f3;z-index:1}.l{text-align:left}.r{text-align:right}
.c{text-align:center}tbody tr:hover{background:#f8fbff}.plot{width:100%;min-height:280px;margin:.5em 0 1.5em}
code{background:#f6f6f6;padding:0 3px;font-size:92%}.note{color:#555;font-size:90%}img{max-width:100%}"""


def _samples(board) -> str:
    items = []
    for row in board.rows:
        samples = next(((r.eval or {}).get("samples") for r in row["records"] if (r.eval or {}).get("samples")), [])
        for s in samples[:2]:
            items.append(f"<li><code>{escape(row['method'])}</code>: {escape(str(s.get('prediction')))} "
                         f"<span class=note>(reference: {escape(str((s.get('references') or [''])[0]))})</span></li>")
    if not items:
        return ""
    return (f"<h2>Sample predictions: <code>{escape(board.model)}</code> on <code>{escape(board.dataset)}</code></h2>"
            "<ul>" + "".join(items) + "</ul>")


def render_html(records: list[RunRecord], suite: str, describe_metric=None) -> str:
    """The whole report (deterministic for the same records and plotly version)."""
    from benchhub.report.interactive import div, figure, plotly_js
    from benchhub.report.mdhtml import to_html

    figures, tables = {}, {}

    def place(index, board, plot):
        key = f"plot-{index}-{plot.kind}"
        figures[key] = (plot, board.primary)
        tables[index] = board
        return "#" + key

    markdown = render_leaderboard(records, suite, describe_metric, figure=place)

    def image(src, alt):
        if src.startswith("#") and src[1:] in figures:
            plot, primary = figures[src[1:]]
            hint = f'<p class="note">{escape(plot.hint)}</p>' if plot.hint else ""
            return hint + div(figure(plot, primary), src[1:])
        return None

    body = to_html(markdown, image)
    samples = "\n".join(filter(None, (_samples(tables[i]) for i in sorted(tables))))
    script = plotly_js().replace("</script", "<\\/script") if figures else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>benchhub: {escape(suite)}</title><style>{STYLE}</style>"
            + (f'<script type="text/javascript">{script}</script>' if script else "") + "</head><body>\n"
            + body + "\n" + samples + "\n</body></html>\n")
