"""What successive halving and adaptive seeds save on a measured suite, and whether they reach the same answer.

Replays both procedures from one results directory's records, as benchhub itself decides them (`halving.advance`,
`seeding.decide`), so the two sides of each comparison are the same runs:

1. Halving vs the exhaustive sweep: for every swept method, the rate halving chooses (from its rung records) and
   the rate the exhaustive sweep chooses (from every rate's full-length record), and the optimizer steps each
   trained. Needs the directory after `benchhub run` (halving) and `benchhub run --sweep full` over it.
2. Adaptive seeds vs a fixed 5: each training method's rank (Holm-corrected tests, as on the leaderboard) with
   seeds 0-4 at 5 %, and with the seeds `--seeds auto` gave it at 5 % / looks, and the runs each used. Needs the
   directory after `--seeds 0,1,2,3,4` and `--seeds auto` over it.

Run: `.venv/bin/python benchmarks/savings.py RESULTS/SUITE`.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from benchhub import halving, seeding
from benchhub.paired import CONFIDENCE
from benchhub.records import RunRecord
from benchhub.report.currency import cell_key
from benchhub.report.rows import model_label
from benchhub.spec import Cell, RunSpec
from benchhub.store import Store
from benchhub.sweep import objective


def sweeps(records: list[RunRecord]) -> None:
    results, cells, finals_at = defaultdict(dict), {}, defaultdict(list)
    for r in records:
        if r.role == "final" and r.selection:
            finals_at[cell_key(r), r.config["method"]["lr"]].append(r)
        if r.role in ("rung", "sweep"):
            results[cell_key(r)][r.config.get("rung", 0), r.config["method"]["lr"], r.seed] = r
        elif r.selection and r.selection.get("grid"):
            cells.setdefault(cell_key(r), r)
    same = total = 0
    steps = [0, 0]
    print("Successive halving vs the exhaustive sweep (validation score; rate chosen):")
    for key, final in sorted(cells.items(), key=lambda kv: kv[1].label):
        grid, seeds = tuple(final.selection["grid"]), tuple(final.selection.get("seeds") or [1000])
        spec = RunSpec.from_config(final.config)
        picks, selections = [], []
        for eta in (halving.ETA, 0):
            cell = Cell(spec, grid, (0,), sweep_seeds=seeds, halving=eta)
            missing, selection = halving.advance(cell, results[key])
            picks.append(selection["chosen"] if selection and not missing else None)
            selections.append(selection)
        if picks[1] is None:
            print(f"  {final.label:<36} halving {picks[0]!s:<8} exhaustive: not run (`--sweep full` over this directory)")
            continue
        planned = next(r.train["planned_steps"] for r in results[key].values() if r.train)
        trained = sum((r.train or {}).get("steps", 0) - (((r.train or {}).get("resume") or {}).get("resumed_from_step")
                                                         or 0)
                      for (rung, lr, seed), r in results[key].items() if r is not None and (rung or lr == picks[0]))
        steps[0] += trained
        steps[1] += len(grid) * len(seeds) * planned
        total += picks[1] is not None
        same += picks[0] == picks[1] and picks[1] is not None
        line = f"  {final.label:<36} halving {picks[0]!s:<8} exhaustive {picks[1]!s:<8} "
        if picks[0] == picks[1]:
            print(line + "same")
            continue
        full = selections[1]
        runner = full.get("runner_up") or {}
        evals = {lr: [r.metrics.get(full["metric"]) for r in finals_at.get((key, lr), [])] for lr in picks}
        print(line + f"DIFFERENT: full-length validation {full['validation'][f'{picks[0]:g}']:.3f} vs "
              f"{full['validation'][f'{picks[1]:g}']:.3f}; the exhaustive sweep's runner-up "
              f"{runner.get('lr')!s} was {'within noise' if runner.get('within_noise') else 'significantly worse'}; "
              "evaluation mean of the finals " + " vs ".join(
                  f"{sum(v) / len(v):.3f} (n={len(v)})" if v else "–" for v in evals.values()))
    if total:
        print(f"  same rate for {same} of {total} methods; halving trained {steps[0]:,} optimizer steps, the "
              f"exhaustive sweep {steps[1]:,} ({100 * (1 - steps[0] / steps[1]):.0f} % saved)")


def seeds(records: list[RunRecord], auto: seeding.Auto) -> None:
    tables = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.role == "final" or (r.role is None and r.evaluated):
            tables[model_label(r.config)][r.label].append(r)
    for model, rows in tables.items():
        rows = {m: (sorted(rs, key=lambda r: r.seed), bool((rs[0].parameters or {}).get("trainable")))
                for m, rs in rows.items()}
        primary, higher = objective([rs[0] for rs, _ in rows.values()])
        fixed = {m: (rs[:5] if t else rs, t) for m, (rs, t) in rows.items()}
        need, seen = seeding.decide(rows, primary, higher, auto)
        adaptive = {m: (rs[:need[m]] if t else rs, t) for m, (rs, t) in rows.items()}
        places = [seeding.placings(fixed, primary, higher, 1 - CONFIDENCE),
                  seeding.placings(adaptive, primary, higher, auto.alpha)]
        print(f"\nAdaptive seeds ({auto.low}-{auto.high}, tests at {100 * auto.alpha:.2f} %) vs a fixed 5 (at 5 %), "
              f"{model}, {primary}:")
        agree = 0
        for m in sorted(rows, key=lambda m: places[0].get(m, (99,))[0]):
            texts = [_rank(p.get(m)) for p in places]
            agree += texts[0] == texts[1]
            print(f"  {m:<36} fixed 5: rank {texts[0]:<5} auto ({len(adaptive[m][0])} seeds): rank {texts[1]:<5} "
                  f"{seeding.explain(seen[m], auto) if rows[m][1] else 'does not train'}")
        runs = [sum(len(rs) for rs, _ in view.values()) for view in (fixed, adaptive)]
        print(f"  rank groups agree for {agree} of {len(rows)} methods; runs: fixed 5 {runs[0]}, auto {runs[1]}")


def _rank(placing) -> str:
    if placing is None:
        return "–"
    return str(placing[0]) if placing[0] == placing[1] else f"{placing[0]}–{placing[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite_dir", type=Path, help="results/SUITE")
    parser.add_argument("--auto", default="auto", help="the adaptive range replayed (default: auto = 3-8)")
    args = parser.parse_args()
    records = Store(args.suite_dir.parent, args.suite_dir.name).records()
    sweeps(records)
    seeds(records, seeding.parse(args.auto))


if __name__ == "__main__":
    main()
