"""Static PNGs of the report's plots (matplotlib, Agg), written beside leaderboard.md and linked from it, so the
Markdown shows the pictures where it is read (a code host, an editor). Same series, colours and titles as the
interactive report; a legend instead of text labels, so nothing overlaps."""
from __future__ import annotations

import io

from benchhub.report.figures import Plot

WORDS = {"weights": "weights", "gradients": "gradients", "optimizer": "optimizer state",
         "activations_other": "activations/other"}


def _axes(height: float = 4.0):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, height))
    ax.grid(alpha=0.3)
    return fig, ax


def _legend(ax, title: str = "method") -> None:
    ax.legend(title=title, fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)


def _quality(plot: Plot, primary: str):
    fig, ax = _axes()
    points = plot.data["points"]
    for i, p in enumerate(points):
        ax.errorbar(p.x, p.y, xerr=p.x_half, yerr=p.y_half, fmt="os^"[i // 24 % 3], color=p.colour, capsize=3,
                    label=p.method)
    front = sorted((p.x, p.y) for p in points if p.on_front)
    if front:
        xs, ys = zip(*front)
        ax.step(xs, ys, where="post", color="grey", linestyle="--", label="Pareto front")
    left, right, _ = plot.data["axis"]
    ax.set_xlim(left, right)
    if min(p.y - (p.y_half or 0) for p in points) >= 0:
        ax.set_ylim(bottom=0)
    ax.set_xlabel(plot.data["x_title"])
    ax.set_ylabel(f"{primary} (mean ± 95 % CI)")
    _legend(ax)
    return fig


def _loss(plot: Plot, primary: str | None = None):
    from matplotlib.ticker import MaxNLocator

    fig, ax = _axes()
    for band in plot.data["bands"]:
        if band.sweep:  # the interactive report has them, hidden at first; a PNG would only crowd
            continue
        ax.fill_between(band.steps, [v if v is not None else float("nan") for v in band.low],
                        [v if v is not None else float("nan") for v in band.high], color=band.colour, alpha=0.18,
                        linewidth=0)
        ax.plot(band.steps, [v if v is not None else float("nan") for v in band.mean], color=band.colour,
                linewidth=1.6, label=band.method)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (mean; band: lowest–highest seed)")
    _legend(ax)
    return fig


def _memory_split(plot: Plot, primary: str | None = None):
    split = plot.data["split"]
    fig, ax = _axes(0.42 * len(split) + 1.4)
    names = [m for m, _ in split][::-1]
    left = [0.0] * len(split)
    for key, word in WORDS.items():
        widths = [parts[key] for _, parts in split][::-1]
        ax.barh(names, widths, left=left, label=word)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlim(left=0)
    ax.set_xlabel("MiB in one training step (tensors)")
    _legend(ax, "part")
    return fig


def _sweep(plot: Plot, primary: str):
    fig, ax = _axes()
    for s in plot.data["sweeps"]:
        xs = [p[0] for p in s["points"]]
        ys = [p[1] for p in s["points"]]
        err = [[p[1] - p[2] for p in s["points"]], [p[3] - p[1] for p in s["points"]]]
        ax.errorbar(xs, ys, yerr=err, color=s["colour"], marker="o", markersize=4, capsize=3, label=s["method"])
        if s["chosen"] in xs:
            i = xs.index(s["chosen"])
            ax.plot([xs[i]], [ys[i]], marker="*", markersize=15, color=s["colour"], linestyle="none")
        if s.get("early"):
            ax.plot([e[0] for e in s["early"]], [e[1] for e in s["early"]], marker="o", markersize=6,
                    markerfacecolor="white", color=s["colour"], linestyle="none")
    ax.set_xscale("log")
    rates = sorted({p[0] for s in plot.data["sweeps"] for p in s["points"] + s.get("early", [])})
    ax.set_xticks(rates, [f"{r:g}" for r in rates])  # plain numbers: mathtext is off (labels are text)
    ax.minorticks_off()
    ax.set_xlabel("learning rate (log scale; star: chosen)")
    ax.set_ylabel(f"validation {primary} (95 % CI)")
    _legend(ax)
    return fig


def _forest(plot: Plot, primary: str):
    diffs = plot.data["diffs"]
    fig, ax = _axes(0.42 * len(diffs) + 1.4)
    for i, d in enumerate(diffs):
        y = len(diffs) - 1 - i
        ax.errorbar(d["estimate"], y, xerr=[[d["estimate"] - d["low"]], [d["high"] - d["estimate"]]], fmt="o",
                    color=d["colour"], capsize=3, markerfacecolor=d["colour"] if d["significant"] else "white")
    ax.axvline(0, color="#444", linestyle=":")
    ax.set_yticks(range(len(diffs)), [d["method"] for d in diffs][::-1])
    ax.set_xlabel(f"Δ {primary} vs {plot.data['reference']} (95 % CI; filled: excludes 0)")
    return fig


def _learning_curve(plot: Plot, primary: str):
    fig, ax = _axes()
    for c in plot.data["curves"]:
        xs = [p[0] for p in c["points"]]
        ax.fill_between(xs, [p[2] for p in c["points"]], [p[3] for p in c["points"]], color=c["colour"], alpha=0.18)
        ax.plot(xs, [p[1] for p in c["points"]], marker="o", color=c["colour"], label=c["method"])
    if plot.data.get("target") is not None:
        ax.axhline(plot.data["target"], color="#444", linestyle="--")
    ax.set_xscale("log")
    sizes = sorted({p[0] for c in plot.data["curves"] for p in c["points"]})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training examples (log scale; dashed: 90 % of the reference with the most data)")
    ax.set_ylabel(f"{primary} (95 % CI)")
    _legend(ax)
    return fig


DRAW = {"quality-memory": _quality, "quality-time": _quality, "loss": _loss, "memory-split": _memory_split,
        "sweep": _sweep, "forest": _forest, "learning-curve": _learning_curve}


def png(plot: Plot, primary: str | None) -> bytes:
    """The plot as PNG bytes (no timestamp or version in its metadata: the same data gives the same file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False}):  # labels are text: `$` in a regex is not TeX
        fig = DRAW[plot.kind](plot, primary)
        fig.suptitle(plot.title, x=0.01, ha="left", fontsize=11)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
    return buffer.getvalue()
