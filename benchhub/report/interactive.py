"""The report's interactive plots: Plotly figures (plain JSON) drawn by plotly.js, which the page embeds once, so
report.html works offline. Hover shows a method's options, rate, seeds, intervals and runs; the legend toggles a
method; sweep runs are a legend group hidden at first.

Text from records (method labels, options) is HTML-escaped before it reaches Plotly, which renders a few tags in
labels; the JSON is escaped so that it cannot close its <script> element.
"""
from __future__ import annotations

import json
import math
from html import escape as _escape

from benchhub.report.figures import Plot



def escape(text: str) -> str:
    """Plotly renders a few tags in labels and decodes &lt; &gt; &amp; (not &quot;): escape those only."""
    return _escape(str(text), quote=False)


FONT = {"family": "system-ui, sans-serif", "size": 12}
TICKS = {"ticks": "outside", "ticklen": 5, "tickcolor": "#bbb"}  # keeps the two axes' "0" apart at the corner
CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def plotly_js() -> str:
    """plotly.js as the installed plotly package ships it (minified, ~4.7 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _layout(x_title: str, y_title: str, **extra) -> dict:
    layout = {"template": "plotly_white", "font": FONT, "height": 440, "margin": {"l": 70, "r": 20, "t": 20, "b": 60},
              "xaxis": {"title": {"text": escape(x_title)}, "zeroline": True, "automargin": True, **TICKS},
              "yaxis": {"title": {"text": escape(y_title)}, "zeroline": True, "automargin": True, **TICKS},
              "legend": {"title": {"text": "method (click to hide)"}, "font": {"size": 12}},
              "hoverlabel": {"align": "left"}}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _error(half):
    return {"type": "data", "array": [half], "visible": True} if half is not None else {"visible": False}


def _top(values: list[float]) -> float:
    top = max([v for v in values if v is not None and math.isfinite(v)], default=1.0)
    return top * 1.08 if top > 0 else 1.0


def quality(plot: Plot, primary: str) -> dict:
    points = plot.data["points"]
    traces = [{"type": "scatter", "mode": "markers", "name": escape(p.method), "x": [p.x], "y": [p.y],
               "error_x": _error(p.x_half), "error_y": _error(p.y_half),
               "marker": {"size": 11, "color": p.colour, "symbol": i // 24 * 2}, "cliponaxis": False,
               "text": ["<br>".join(escape(line) for line in p.hover)], "hoverinfo": "text"}
              for i, p in enumerate(points)]
    front = sorted((p.x, p.y) for p in points if p.on_front)
    if front:
        traces.append({"type": "scatter", "mode": "lines", "name": "Pareto front", "x": [x for x, _ in front],
                       "y": [y for _, y in front], "line": {"dash": "dash", "color": "grey", "shape": "hv"},
                       "hoverinfo": "skip"})
    left, right, _ = plot.data["axis"]
    ys = [p.y + (p.y_half or 0) for p in points]
    low = min(p.y - (p.y_half or 0) for p in points)
    return {"data": traces, "layout": _layout(plot.data["x_title"], f"{primary} (mean ± 95 % CI)",
                                              xaxis={"range": [left, right]},
                                              yaxis={"range": [min(0.0, low * 1.08), _top(ys)]})}


def loss(plot: Plot, primary: str | None = None) -> dict:
    traces = []
    for band in plot.data["bands"]:
        name = escape(band.method)
        if band.sweep:
            rates = ", ".join(f"{r:g}" for r in band.rates)
            traces.append({"type": "scatter", "mode": "lines", "name": f"{name} (rates {rates})", "x": band.steps,
                           "y": band.mean, "line": {"color": band.colour, "width": 1, "dash": "dot"},
                           "legendgroup": "sweep", "legendgrouptitle": {"text": "learning-rate sweep runs"},
                           "visible": "legendonly", "connectgaps": False,
                           "customdata": [f"{r:g}" if r is not None else "" for r in band.point_rates],
                           "hovertemplate": f"{name} sweep, rate %{{customdata}}<br>step %{{x:.0f}}: %{{y:.3f}}"
                                            "<extra></extra>"})
            continue
        group = f"m-{len(traces)}"
        traces += [{"type": "scatter", "mode": "lines", "x": band.steps, "y": band.high, "line": {"width": 0},
                    "legendgroup": group, "showlegend": False, "hoverinfo": "skip", "name": f"{name} highest seed"},
                   {"type": "scatter", "mode": "lines", "x": band.steps, "y": band.low, "line": {"width": 0},
                    "fill": "tonexty", "fillcolor": _fade(band.colour), "legendgroup": group, "showlegend": False,
                    "hoverinfo": "skip", "name": f"{name} lowest seed"},
                   {"type": "scatter", "mode": "lines", "name": name, "x": band.steps, "y": band.mean,
                    "line": {"color": band.colour, "width": 2}, "legendgroup": group,
                    "hovertemplate": f"{name} (mean of {band.seeds} seed{'s' * (band.seeds > 1)})<br>step %{{x:.0f}}: "
                                     "%{y:.3f}<extra></extra>"}]
    entries = sum(1 for t in traces if t.get("showlegend", True)) + 2  # and the two group titles
    return {"data": traces, "layout": _layout("optimizer step", "training loss",
                                              height=max(440, 26 * entries + 120),
                                              xaxis={"tickformat": "d", "rangemode": "tozero"},
                                              legend={"groupclick": "toggleitem"})}


def _fade(colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def memory_split(plot: Plot, primary: str | None = None) -> dict:
    split = plot.data["split"]
    names = [escape(method) for method, _ in split]
    words = {"weights": "weights", "gradients": "gradients", "optimizer": "optimizer state",
             "activations_other": "activations/other"}
    traces = [{"type": "bar", "orientation": "h", "name": words[key], "y": names,
               "x": [parts[key] for _, parts in split],
               "hovertemplate": f"%{{y}}<br>{words[key]}: %{{x:,.2f}} MiB<extra></extra>"} for key in words]
    return {"data": traces, "layout": _layout("MiB in one training step (tensors)", "", barmode="stack",
                                              height=max(300, 34 * len(split) + 140),
                                              xaxis={"rangemode": "tozero"},
                                              yaxis={"autorange": "reversed", "title": {"text": ""}},
                                              legend={"title": {"text": "part"}, "orientation": "h", "y": -0.25,
                                                      "traceorder": "normal"})}


def sweep(plot: Plot, primary: str) -> dict:
    traces = []
    for s in plot.data["sweeps"]:
        xs = [p[0] for p in s["points"]]
        ys = [p[1] for p in s["points"]]
        chosen = [lr == s["chosen"] for lr in xs]
        traces.append({"type": "scatter", "mode": "lines+markers", "name": escape(s["method"]), "x": xs, "y": ys,
                       "error_y": {"type": "data", "symmetric": False, "array": [p[3] - p[1] for p in s["points"]],
                                   "arrayminus": [p[1] - p[2] for p in s["points"]]},
                       "line": {"color": s["colour"]},
                       "marker": {"color": s["colour"], "symbol": ["star" if c else "circle" for c in chosen],
                                  "size": [16 if c else 8 for c in chosen]},
                       "customdata": [[p[2], p[3], "chosen" if c else ""] for p, c in zip(s["points"], chosen)],
                       "hovertemplate": f"{escape(s['method'])}<br>rate %{{x:g}}: %{{y:.3f}} "
                                        "[%{customdata[0]:.3f}, %{customdata[1]:.3f}] %{customdata[2]}<extra></extra>"})
        if s.get("early"):
            traces.append({"type": "scatter", "mode": "markers", "name": escape(s["method"]), "showlegend": False,
                           "x": [e[0] for e in s["early"]], "y": [e[1] for e in s["early"]],
                           "marker": {"color": s["colour"], "symbol": "circle-open", "size": 9},
                           "customdata": [e[2] for e in s["early"]],
                           "hovertemplate": f"{escape(s['method'])}<br>rate %{{x:g}}: %{{y:.3f}} at %{{customdata}} "
                                            "steps (stopped by successive halving)<extra></extra>"})
    rates = sorted({p[0] for s in plot.data["sweeps"] for p in s["points"] + s.get("early", [])})
    return {"data": traces, "layout": _layout("learning rate (log scale)", f"validation {primary} (95 % CI)",
                                              xaxis={"type": "log", "tickvals": rates,
                                                     "ticktext": [f"{r:g}" for r in rates]})}


def forest(plot: Plot, primary: str) -> dict:
    diffs = plot.data["diffs"]
    traces = [{"type": "scatter", "mode": "markers", "name": escape(d["method"]), "showlegend": False,
               "y": [escape(d["method"])], "x": [d["estimate"]],
               "error_x": {"type": "data", "symmetric": False, "array": [d["high"] - d["estimate"]],
                           "arrayminus": [d["estimate"] - d["low"]], "color": d["colour"], "thickness": 2},
               "marker": {"size": 11, "color": d["colour"], "symbol": "circle" if d["significant"] else "circle-open",
                          "line": {"color": d["colour"], "width": 2}},
               "customdata": [[d["low"], d["high"], "excludes 0" if d["significant"] else "crosses 0"]],
               "hovertemplate": "%{y}: %{x:+.3f} [%{customdata[0]:+.3f}, %{customdata[1]:+.3f}], "
                                "%{customdata[2]}<extra></extra>"} for d in diffs]
    return {"data": traces, "layout": _layout(f"Δ {primary} vs {plot.data['reference']} (95 % CI)", "",
                                              height=max(280, 34 * len(diffs) + 120),
                                              shapes=[{"type": "line", "x0": 0, "x1": 0, "yref": "paper", "y0": 0,
                                                       "y1": 1, "line": {"color": "#444", "dash": "dot"}}],
                                              yaxis={"autorange": "reversed", "title": {"text": ""},
                                                     "categoryorder": "array",
                                                     "categoryarray": [escape(d["method"]) for d in diffs]})}


def learning_curve(plot: Plot, primary: str) -> dict:
    traces = []
    for c in plot.data["curves"]:
        xs, name = [p[0] for p in c["points"]], escape(c["method"])
        traces.append({"type": "scatter", "mode": "lines", "x": xs + xs[::-1], "legendgroup": name,
                       "y": [p[3] for p in c["points"]] + [p[2] for p in c["points"]][::-1], "fill": "toself",
                       "fillcolor": c["colour"], "opacity": 0.18, "line": {"width": 0}, "showlegend": False,
                       "hoverinfo": "skip"})
        traces.append({"type": "scatter", "mode": "lines+markers", "name": name, "legendgroup": name, "x": xs,
                       "y": [p[1] for p in c["points"]], "line": {"color": c["colour"]},
                       "customdata": [[p[2], p[3], p[4]] for p in c["points"]],
                       "hovertemplate": f"{name}<br>%{{x}} examples: %{{y:.3f}} [%{{customdata[0]:.3f}}, "
                                        "%{customdata[1]:.3f}], %{customdata[2]} seeds<extra></extra>"})
    target = plot.data.get("target")
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target, "y1": target,
               "line": {"color": "#444", "dash": "dash"}}] if target is not None else []
    sizes = sorted({p[0] for c in plot.data["curves"] for p in c["points"]})
    return {"data": traces, "layout": _layout("training examples (log scale)", f"{primary} (95 % CI)", shapes=shapes,
                                              xaxis={"type": "log", "tickvals": sizes,
                                                     "ticktext": [str(n) for n in sizes]})}


DRAW = {"quality-memory": quality, "quality-time": quality, "loss": loss, "memory-split": memory_split,
        "sweep": sweep, "forest": forest, "learning-curve": learning_curve}


def figure(plot: Plot, primary: str | None) -> dict:
    """The Plotly figure (JSON-able dict) of a plot from `figures.plots`."""
    return DRAW[plot.kind](plot, primary)


def div(fig: dict, div_id: str) -> str:
    """A <div> and the script that draws `fig` into it (plotly.js must be loaded before)."""
    data = json.dumps(fig, allow_nan=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")
    config = json.dumps(CONFIG)
    return (f'<div class="plot" id="{escape(div_id)}"></div>\n<script>(function (f) {{ Plotly.newPlot('
            f'"{escape(div_id)}", f.data, f.layout, {config}); }})({data});</script>')
