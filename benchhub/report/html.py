"""`report.html`: the leaderboard tables and plots in one self-contained file (plots embedded as PNG).

Plots: quality vs peak memory (with error bars and the Pareto front), quality vs train time, every
run's training loss curve, and each method's memory split as stacked bars. Every piece of text that
comes from records or plugins (method options, sample captions, errors) is HTML-escaped.
"""
from __future__ import annotations

import base64
import io
import json
from html import escape

from benchhub.budget import Budget, format_bytes
from benchhub.records import RunRecord
from benchhub.report.ranking import TableStats, boards
from benchhub.report.rows import BUSY, SPLIT_KEYS, busy_mark, status_text

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}td.l,th.l{text-align:left}
th{background:#f3f3f3}td.best{font-weight:bold}img{max-width:100%;display:block;margin:1em 0}
.note{color:#555;font-size:90%}code{background:#f6f6f6;padding:0 3px}"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{escape(alt)}">'


def _num(mean, half, digits: int = 3) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {half:.{digits}f}" if half is not None else "")


def _table(rows: list[dict], stats: TableStats, columns: list[str]) -> str:
    head = ["Rank", "Method", *columns, *(["Δ vs " + stats.reference["method"]] if stats.reference else []),
            *(["Source " + (stats.primary or ""), "Forgetting"] if stats.has_source else []),
            "LR", "Train s", "Peak memory", "Trainable", "Pareto front", "Status"]
    out = ["<table><tr>" + "".join(f'<th class="{"l" if h == "Method" else ""}">{escape(h)}</th>' for h in head)
           + "</tr>"]
    for row in stats.ordered():
        rank = stats.ranks.get(row["method"])
        cells = [rank.text if rank else "–", row["method"],
                 *[_num(*row[c]) + f" (n={len(row['records'])})" if row[c][0] is not None else "–" for c in columns]]
        if stats.reference:
            diff = stats.differences.get(row["method"])
            cells.append("reference" if row is stats.reference else "–" if diff is None else
                         f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]{' *' if diff.significant else ''}")
        if stats.has_source:
            forgot = stats.forgetting.get(row["method"])
            cells += [_num(*row["source"]), "baseline" if row is stats.baseline else "–" if forgot is None else
                      f"{forgot.estimate:+.3f} [{forgot.low:+.3f}, {forgot.high:+.3f}]"]
        memory = row["memory"][0]
        cells += [f"{row['lr']:g}" if row["trains"] else "–",
                  busy_mark(_num(*row["train_s"], 1), row) if row["trains"] else "–",
                  format_bytes(int(memory)) if memory is not None else "–",
                  f"{row['trainable']:,}" if row["trainable"] is not None else "–",
                  ", ".join(k for k, v in stats.fronts.items() if row["method"] in v) or "–", status_text(row)]
        best = rank is not None and rank.alone  # bold: the primary score of a significantly best method, never a cost
        out.append("<tr>" + "".join(f'<td class="{"l" if i == 1 else "best" if best and i == 2 else ""}">'
                                    f'{escape(str(c))}</td>' for i, c in enumerate(cells)) + "</tr>")
    busy = sorted({why for row in stats.ordered() for why in row["busy"]})
    note = [f"<p>{BUSY} timed on a busy machine ({escape('; '.join(busy))}): these timings are not comparable "
            "with the others.</p>"] if busy else []
    return "\n".join(out + ["</table>"] + note)


def _scatter(rows: list[dict], stats: TableStats, cost_key: str, label: str, scale: float, front: str) -> str:
    import matplotlib.pyplot as plt

    primary = stats.primary
    points = [r for r in rows if r["ranked"] and r[primary][0] is not None and
              (r[cost_key][0] is not None or not r["trains"])]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    on_front = []
    for r in points:
        x = (r[cost_key][0] or 0.0) / scale
        xerr = (r[cost_key][1] or 0.0) / scale
        ax.errorbar(x, r[primary][0], yerr=r[primary][1] or 0.0, xerr=xerr, fmt="o", capsize=3)
        ax.annotate(r["method"], (x, r[primary][0]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        if r["method"] in stats.fronts[front]:
            on_front.append((x, r[primary][0]))
    if on_front:
        xs, ys = zip(*sorted(on_front))
        ax.step(xs, ys, where="post", color="grey", linestyle="--", label="Pareto front")
        ax.legend(fontsize=8)
    ax.set_xlabel(label)
    ax.set_ylabel(f"{primary} (mean ± 95 % CI)")
    ax.grid(alpha=0.3)
    return _png(fig)


def _loss_curves(group: list[RunRecord]) -> str | None:
    import matplotlib.pyplot as plt

    runs = [r for r in group if (r.train or {}).get("loss_curve")]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in sorted(runs, key=lambda r: (r.label, r.config["method"]["lr"], r.seed)):
        curve = r.train["loss_curve"]
        steps = r.train.get("steps") or len(curve)
        xs = [i * steps / len(curve) for i in range(len(curve))]
        ax.plot(xs, curve, linewidth=1, label=f"{r.label} lr {r.config['method']['lr']:g} seed {r.seed}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend(fontsize=5, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


def _memory_bars(rows: list[dict]) -> str | None:
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["trains"] and r["weights"][0] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.2))
    left = [0.0] * len(rows)
    for key in SPLIT_KEYS[:4]:
        widths = [(r[key][0] or 0) / 2**20 for r in rows]
        ax.barh([r["method"] for r in rows], widths, left=left, label=key.replace("_", "/"))
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlabel("MiB in one training step (tensors)")
    ax.legend(fontsize=7)
    return _png(fig)


def _samples(rows: list[dict]) -> str:
    items = []
    for row in rows:
        samples = next(((r.eval or {}).get("samples") for r in row["records"] if (r.eval or {}).get("samples")), [])
        for s in samples[:2]:
            items.append(f"<li><code>{escape(row['method'])}</code>: {escape(str(s.get('prediction')))} "
                         f"<span class=note>(reference: {escape(str((s.get('references') or [''])[0]))})</span></li>")
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def _section(board) -> list[str]:
    group, primary, rows, stats = board.group, board.primary, board.rows, board.stats
    parts = [f"<h2>{escape(board.model)} on {escape(board.dataset)}</h2>",
             f"<p class=note>Budget: {escape(Budget(**json.loads(board.budget)).describe())}<br>"
             f"Measured on {escape(board.environment)}</p>",
             _table(rows, stats, board.columns)]
    if board.note:
        parts.append(f"<p class=note><b>Not current:</b> {escape(board.note)}</p>")
    if board.stale:
        from benchhub.report.currency import REFRESH, summary

        parts.append(f"<p class=note>Not ranked: {len(board.stale)} record(s) set aside ({escape(REFRESH)}): " +
                     "; ".join(f"{escape(label)} ({runs} runs, seed {seeds}): {escape(reasons)}"
                               for label, runs, seeds, reasons in summary(board.stale)) + "</p>")
    if primary:
        parts += [_img(_scatter(rows, stats, "memory", "peak memory (MiB)", 2**20, "memory"),
                       f"{primary} versus peak memory"),
                  _img(_scatter(rows, stats, "train_s", "train time (s)", 1.0, "time"), f"{primary} versus train time")]
    extra = [(_loss_curves(group), "training loss curves"), (_memory_bars(rows), "memory split per method")]
    parts += [_img(src, alt) for src, alt in extra if src]
    return parts + ["<h3>Sample predictions</h3>", _samples(rows)]


def render_html(records: list[RunRecord], suite: str) -> str:
    """The whole report: a section per model × dataset × budget (deterministic text; plots as PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    body = [f"<h1>benchhub report: {escape(suite)}</h1>"]
    if not records:
        body.append("<p>No results yet. Run <code>benchhub run</code>.</p>")
    with matplotlib.rc_context({"text.parse_math": False}):  # labels are text: `$` in a regex is not TeX
        for board in boards(records):
            body += _section(board)
    body.append("<p class=note>Metric cells: mean ± 95 % t half-width over seeds (n). Differences: 95 % paired "
                "bootstrap; * where it excludes zero. Bold: the score of a method significantly better than every "
                "other (never a time or memory).</p>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>benchhub: {escape(suite)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
