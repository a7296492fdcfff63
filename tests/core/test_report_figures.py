"""The report's plots as data (`figures`), as Plotly figures (`interactive`) and as PNGs (`static`), and the
Markdown-to-HTML view that puts every leaderboard table into report.html (`mdhtml`)."""
import dataclasses
import re

import pytest

from test_report import golden_records, record

from benchhub.report.ranking import boards

pytestmark = pytest.mark.real_plots


def _with_curve(made, curve, steps=8, role=None, lr=None):
    made = dataclasses.replace(made, train={**made.train, "steps": steps, "loss_curve": curve})
    if role:  # a sweep point: scored on the validation split only
        made = dataclasses.replace(made, role=role, metrics={})
    if lr is not None:
        made = dataclasses.replace(made, config={**made.config, "method": {**made.config["method"], "lr": lr}})
    return made


def test_loss_band_is_the_mean_lowest_and_highest_seed_at_each_step():
    from benchhub.report.figures import loss_bands

    curves = [[4.0, 2.0, 1.0, None], [2.0, 2.0, 3.0, 1.0], [3.0, 5.0, 2.0, 2.0]]  # None: a value JSON could not hold
    runs = [_with_curve(record("full", seed=s, cider=3.0 + s / 10), c) for s, c in enumerate(curves)]
    sweep = [_with_curve(record("full", seed=1000, cider=None), [9.0, 8.0], role="sweep", lr=lr) for lr in (1e-3, 1e-2)]
    board = boards(runs + [record("zero-shot", cider=0.5)] + sweep)[0]
    bands = loss_bands(board)
    main = next(b for b in bands if not b.sweep)
    assert main.method == "full" and main.seeds == 3
    assert main.steps == [2.0, 4.0, 6.0, 8.0]  # logged points spread over the run's steps
    assert main.mean == [3.0, 3.0, 2.0, 1.5] and main.low == [2.0, 2.0, 1.0, 1.0] and main.high == [4.0, 5.0, 3.0, 2.0]
    swept = next(b for b in bands if b.sweep)
    assert swept.rates == [1e-3, 1e-2] and swept.mean == [9.0, 8.0, None, 9.0, 8.0]  # a gap between rates


def test_quality_points_carry_what_hover_promises_and_start_costs_at_zero():
    from benchhub.report.figures import plots

    board = boards(golden_records())[0]
    kinds = [p.kind for p in plots(board)]
    assert kinds[:2] == ["quality-memory", "quality-time"]
    points = plots(board)[0].data["points"]
    lora = next(p for p in points if p.method == "lora")
    assert lora.x == pytest.approx(451.0) and lora.y == pytest.approx(3.4)
    hover = "\n".join(lora.hover)
    assert "learning rate" in hover and "seeds (3): 0, 1, 2" in hover and "95 % CI" in hover and "runs: " in hover
    zero = next(p for p in plots(board)[1].data["points"] if p.method == "zero-shot")
    assert zero.x == 0.0  # it trains for no time
    assert len({p.colour for p in points}) == len(points)  # one colour per method


def test_every_plot_is_a_valid_plotly_figure_and_png():
    import plotly.graph_objects as go

    from benchhub.report.figures import plots
    from benchhub.report.interactive import figure
    from benchhub.report.static import png

    runs = [_with_curve(record(m, seed=s, cider=c + s / 10), [3.0, 2.0, 1.5]) for m, c in (("full", 3.0), ("lora", 2.0))
            for s in range(3)] + [record("zero-shot", cider=0.5)]
    for board in boards(runs) + boards(golden_records()):
        for plot in plots(board):
            fig = go.Figure(figure(plot, board.primary))  # raises on a property Plotly does not know
            assert fig.data
            assert png(plot, board.primary)[:8] == b"\x89PNG\r\n\x1a\n"
    assert png(plots(boards(runs)[0])[0], "CIDEr") == png(plots(boards(runs)[0])[0], "CIDEr")  # no timestamp


def test_markdown_tables_notes_and_escapes_reach_the_html():
    from benchhub.report import render_leaderboard
    from benchhub.report.mdhtml import inline, to_html

    evil = record("lora", cider=2.5, options={"target_modules": "a|b<script>x</script>`*"})
    markdown = render_leaderboard(golden_records() + [evil], "golden")
    html = to_html(markdown)
    assert html.count("<table>") == sum(1 for line in markdown.splitlines() if re.match(r"^\|[:-]", line))
    assert "<script>" not in html and "&lt;script&gt;" in html
    rows = markdown.count("\n| ") - markdown.count("\n| Rank") - markdown.count("\n| Method")
    assert html.count("<tr>") == rows + html.count("<thead>")
    assert inline(r"**1** of `a\|b` \* x &amp; y") == "<b>1</b> of <code>a|b</code> * x &amp; y"
    assert inline("&lt;b&gt;") == "&lt;b&gt;"  # decoded once, escaped once: never twice, never raw
    assert to_html("![t](#x)", lambda src, alt: f"<div>{src} {alt}</div>") == "<div>#x t</div>"
