"""How many of a leaderboard's statements a re-run with other final seeds keeps.

    python benchmarks/agreement.py results/default /tmp/rerun/default

For every method ranked in both: does the first run's 95 % interval (the score's, the difference to the
reference's, forgetting's) contain the re-run's estimate, does the re-run's rank lie in the first run's rank
range, and do the significance marks agree. A 95 % confidence interval contains an independent re-estimate
of the same size less often than 95 % of the time (about 83 % for a normal mean with equal variances,
since the re-estimate has its own noise): read the counts with that in mind.
"""
from __future__ import annotations

import sys
from pathlib import Path


def tables(directory: Path) -> dict:
    from benchhub.report.ranking import boards
    from benchhub.store import Store

    records = Store(directory.parent, directory.name).records()
    return {(b.model, b.dataset): b for b in boards(records)}


def main(first: str, second: str) -> None:
    a, b = tables(Path(first)), tables(Path(second))
    held = {"score": [0, 0], "difference": [0, 0], "forgetting": [0, 0], "rank": [0, 0], "marks": [0, 0]}
    print("| Method | Score: first [95 % CI] → re-run | Δ vs reference: first → re-run | "
          "Forgetting: first → re-run | Rank: first → re-run |")
    print("|:---|:---|:---|:---|:---|")
    for key, board in a.items():
        if key not in b:
            continue
        other = b[key]
        primary = board.primary
        again = {r["method"]: r for r in other.rows}
        for row in board.stats.ordered():
            name = row["method"]
            if name not in board.stats.ranks or name not in again:
                continue
            new = again[name]
            cells = [f"`{name}`"]
            mean, half = row[primary]
            if half is None:  # one run of a method that trains nothing: no interval to hold
                cells.append(f"{mean:.3f} → {new[primary][0]:.3f}")
            else:
                inside = abs(new[primary][0] - mean) <= half
                _count(held["score"], inside)
                cells.append(f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}] → {new[primary][0]:.3f} "
                             f"{'✓' if inside else '✗'}")
            for what, first_d, second_d in (
                    ("difference", board.stats.differences.get(name), other.stats.differences.get(name)),
                    ("forgetting", board.stats.forgetting.get(name), other.stats.forgetting.get(name))):
                if first_d is None or second_d is None:
                    cells.append("–")
                    continue
                inside = first_d.low <= second_d.estimate <= first_d.high
                same_mark = first_d.significant == second_d.significant
                _count(held[what], inside)
                _count(held["marks"], same_mark)
                cells.append(f"{first_d.estimate:+.3f} [{first_d.low:+.3f}, {first_d.high:+.3f}]"
                             f"{' *' if first_d.significant else ''} → {second_d.estimate:+.3f}"
                             f"{' *' if second_d.significant else ''} {'✓' if inside else '✗'}")
            place, again_place = board.stats.ranks[name], other.stats.ranks.get(name)
            if again_place is not None:
                within = place.rank <= again_place.rank <= place.worst
                _count(held["rank"], within)
                cells.append(f"{place.text} → {again_place.text} {'✓' if within else '✗'}")
            else:
                cells.append(f"{place.text} → –")
            print("| " + " | ".join(cells) + " |")
    print()
    for what, (kept, total) in held.items():
        label = {"score": "score intervals containing the re-run's mean",
                 "difference": "Δ-vs-reference intervals containing the re-run's Δ",
                 "forgetting": "forgetting intervals containing the re-run's forgetting",
                 "rank": "re-run ranks inside the first run's rank range",
                 "marks": "significance marks (Δ and forgetting) the same in both runs"}[what]
        print(f"- {label}: {kept} of {total}")


def _count(tally: list, ok: bool) -> None:
    tally[0] += bool(ok)
    tally[1] += 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
