"""The leaderboard's learning-rate sweep table: each swept method's rates with their validation scores (a rate
successive halving stopped: its score at that rung), the rate chosen, how firm the choice was, and the optimizer
steps the sweep trained against an exhaustive one (`code`: the leaderboard's Markdown code formatting)."""
from __future__ import annotations


def sweep_table(rows: list[dict], primary: str | None, code) -> list[str]:
    """Each swept method's grid: every rate's validation score with its 95 % interval (a rate successive halving
    stopped early: its score at that rung), the rate chosen, whether the runner-up is within noise of it, and
    the optimizer steps the sweep trained."""
    swept = [r for r in rows if (r["selection"] or {}).get("grid")]
    if not swept:
        return []
    first = swept[0]["selection"]
    lines = ["", f"Learning rates, chosen on the validation split ({first.get('examples') or '?'} examples, with sweep "
                 "seeds that are never ranked seeds; the evaluation split is scored only for the chosen rate). "
                 "Intervals: 95 %; with one sweep seed they count the validation examples only. Successive halving "
                 "trains every rate for the first part of its schedule and only the best go on; a rate it stopped "
                 "shows its score at that point (\"out at N steps\"):", "",
             f"| Method | Sweep seeds | Validation {primary} per rate [95 % CI] | Chosen | Runner-up (chosen − runner-up) "
             "| Sweep steps |",
             "|:---|:---|:---|---:|:---|:---|"]
    for row in swept:
        sel = row["selection"]
        intervals = sel.get("intervals") or {}
        stopped = _stopped(sel)

        def rate(lr, v):
            if v is None:
                return stopped.get(lr, f"{lr}: –")
            ci = intervals.get(lr)
            return f"{lr}: {v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

        per_rate = ", ".join(rate(lr, v) for lr, v in sel["validation"].items())
        runner = sel.get("runner_up") or _first_out(sel)
        firm = "–" if not runner else (
            f"{runner['lr']:g}{runner.get('at', '')}: {runner['difference']:+.3f} [{runner['low']:+.3f}, "
            f"{runner['high']:+.3f}], " + ("within noise" if runner["within_noise"] else "significantly worse"))
        seeds = ", ".join(map(str, sel.get("seeds") or [sel.get("seed", 0)]))
        lines.append(f"| {code(row['method'])} | {seeds} | {per_rate} | {sel['chosen']:g} | {firm} "
                     f"| {_sweep_steps(sel, row)} |")
    return lines


def _first_out(selection: dict) -> dict | None:
    """With successive halving down to one rate: the best stopped rate at the last rung, against the one kept."""
    rungs = (selection.get("halving") or {}).get("rungs") or []
    out = rungs[-1].get("first_out") if rungs else None
    return {**out, "at": f" at {rungs[-1].get('steps') or '?'} steps"} if out else None


def _stopped(selection: dict) -> dict[str, str]:
    """Rates successive halving stopped early: 'lr: score at N steps, out'."""
    out = {}
    for rung in (selection.get("halving") or {}).get("rungs", []):
        for lr, value in rung["validation"].items():
            if float(lr) not in rung["kept"]:
                out[lr] = f"{lr}: {'–' if value is None else f'{value:.3f}'} out at {rung.get('steps') or '?'} steps"
    return out


def _sweep_steps(selection: dict, row: dict) -> str:
    """The optimizer steps the sweep trained, and what an exhaustive sweep would have (halving's saving)."""
    halving = selection.get("halving") or {}
    planned = halving.get("planned_steps") or next((p for _, p in row.get("steps") or [] if p), None)
    if not planned:
        return "–"
    seeds, full = len(selection.get("seeds") or [0]), len(selection["grid"]) * planned
    if not halving:
        return f"{seeds * full:,} (every rate full length)"
    trained, reached = 0, 0
    for rung in halving["rungs"]:
        steps = rung.get("steps") or 0
        trained += len(rung["validation"]) * (steps - reached)
        reached = steps
    trained += len(halving["rungs"][-1]["kept"]) * (planned - reached) if halving["rungs"] else 0
    return f"{seeds * trained:,} of {seeds * full:,} ({100 * (1 - trained / full):.0f} % saved by halving)"
