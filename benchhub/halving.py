"""Successive halving for learning-rate grids: the rung scheme of ASHA / Hyperband (Li et al., 2018).

Every rate of a grid trains on the sweep seeds for the first 1/ETA^k of its planned schedule and is scored on
the validation split; the best 1/ETA of the rates go on to the next rung, and the last survivors train to the
full length, where the rate is chosen as an exhaustive sweep would choose it among them. A rung run is the
first steps of its rate's full-length sweep run (the schedule planned for the full length, the same data
order): it saves its training state under that run's id (`benchhub.resume`), and a survivor resumes from it.
So a survivor's record is the run an exhaustive sweep makes, bit for bit on one machine and under the same
run id: `--sweep full` later reuses it and runs only the rates halving left out.

Everything here is decided from records (`advance`), so the matrix and the leaderboard's replay of a sweep
(`report.currency`) reach the same choice from the same files.
"""
from __future__ import annotations

from benchhub.records import RunRecord
from benchhub.spec import Cell, RunSpec
from benchhub.sweep import choose_lr, objective, rate_scores, ranked

ETA = 3  # the reduction factor: each rung keeps the best third of its rates (Hyperband's default)
MODES = ("halving", "full")


def rungs(rates: int, eta: int = ETA) -> list[tuple[int, int]]:
    """(divisor, rates kept) of each rung before the full length: rung runs stop after 1/divisor of the planned
    steps and the best ceil(n / eta) of their n rates go on. 3 rates -> [(3, 1)]; 9 -> [(9, 3), (3, 1)]."""
    depth = 0
    while eta ** depth < rates:
        depth += 1
    out, alive = [], rates
    for i in range(depth):
        alive = -(-alive // eta)
        out.append((eta ** (depth - i), alive))
    return out


def key(spec: RunSpec) -> tuple:
    """A sweep result's key: (rung, lr, seed); rung 0 is the full length."""
    return spec.rung, spec.lr, spec.seed


def _rung_plan(cell: Cell) -> list[tuple[int, int]]:
    return rungs(len(cell.grid), cell.halving) if cell.sweeps and cell.halving else []


def advance(cell: Cell, results: dict[tuple, RunRecord | None]) -> tuple[list[RunSpec], dict | None]:
    """What a cell's sweep needs next, from its results so far (`key` -> record; None: not run):
    (the runs still missing, None), or ([], its selection) once every run it needs is in ([], None when no
    rate finished)."""
    alive, history = list(cell.grid), []
    for divisor, keep in _rung_plan(cell):
        needed = [cell.at(lr, seed, divisor) for lr in alive for seed in cell.sweep_seeds]
        if missing := [s for s in needed if key(s) not in results]:
            return missing, None
        runs = {lr: [results[divisor, lr, seed] for seed in cell.sweep_seeds] for lr in alive}
        finished = [r for rs in runs.values() for r in rs if r is not None]
        scores = rate_scores(runs)
        order = ranked(scores, cell.grid, objective(finished)[1]) if finished else []
        kept = order[:keep]
        steps = next(((r.train or {}).get("steps") for r in finished if r.train), None)
        history.append({"rung": divisor, "steps": steps, "validation": {f"{lr:g}": scores.get(lr) for lr in alive},
                        "kept": [lr for lr in cell.grid if lr in kept], **_cut(runs, order, keep, finished,
                                                                               len(cell.sweep_seeds))})
        alive = history[-1]["kept"]
        if not alive:
            return [], None
    needed = [cell.at(lr, seed) for lr in alive for seed in cell.sweep_seeds]
    if missing := [s for s in needed if key(s) not in results]:
        return missing, None
    selection = choose_lr(cell, {(lr, seed): results[0, lr, seed] for lr in alive for seed in cell.sweep_seeds},
                          rates=alive)
    if selection is not None and history:
        planned = next((r.train.get("planned_steps") for r in results.values() if r is not None and r.train), None)
        selection["halving"] = {"eta": cell.halving, "planned_steps": planned, "rungs": history}
        out = [f"{lr} out at {rung['steps']} steps ({_score(v)})" for rung in history
               for lr, v in rung["validation"].items() if float(lr) not in rung["kept"]]
        selection["summary"] += "; halving: " + ", ".join(out)
    return [], selection


def _cut(runs: dict, order: list, keep: int, finished: list, seeds: int) -> dict:
    """How firm a rung's cut was: the last rate kept against the best rate stopped (a paired difference on the
    validation examples, as the sweep's runner-up), as {"first_out": ...}; nothing when no rate was stopped."""
    from benchhub.sweep import firmness

    if len(order) <= keep or not finished:
        return {}
    pair = [order[keep - 1], order[keep]]
    runner = firmness({lr: runs[lr] for lr in pair}, pair, objective(finished)[0], seeds).get("runner_up")
    return {"first_out": runner} if runner else {}


def _score(value: float | None) -> str:
    return "did not finish" if value is None else f"{value:.3f}"


def planned(cell: Cell) -> list[RunSpec]:
    """The runs known before anything ran: the first rung (or the whole sweep), or (no grid) the final runs."""
    return advance(cell, {})[0] if cell.sweeps else cell.final_specs(cell.grid[0])


def count(cell: Cell) -> int:
    """Every run a cell will do when nothing fails: each rung's runs, the survivors at full length, the finals."""
    if not cell.sweeps:
        return len(cell.final_specs(cell.grid[0]))
    alive = [len(cell.grid)] + [keep for _, keep in _rung_plan(cell)]
    return sum(alive) * len(cell.sweep_seeds) + len(cell.seeds)


def steps_saved(cell: Cell) -> float:
    """The share of an exhaustive sweep's optimizer steps halving does not train (0 without halving)."""
    plan = _rung_plan(cell)
    if not plan:
        return 0.0
    trained, reached, alive = 0.0, 0.0, len(cell.grid)
    for divisor, keep in plan:
        trained += alive * (1 / divisor - reached)
        reached, alive = 1 / divisor, keep
    trained += alive * (1 - reached)
    return 1 - trained / len(cell.grid)


def describe(cell: Cell) -> str:
    """The sweep in words for a dry run."""
    grid = ", ".join(f"{lr:g}" for lr in cell.grid)
    plan = _rung_plan(cell)
    if not plan:
        return f"every rate of the grid ({grid}) at full length"
    parts = [f"all {len(cell.grid)} rates to 1/{plan[0][0]} of the steps"]
    for i, (_, keep) in enumerate(plan):
        parts.append(f"the best {keep} to " + (f"1/{plan[i + 1][0]}" if i + 1 < len(plan) else "the end"))
    return (f"successive halving of the grid ({grid}): {', '.join(parts)} "
            f"({100 * steps_saved(cell):.0f} % of an exhaustive sweep's steps saved)")
