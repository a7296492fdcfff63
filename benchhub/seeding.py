"""Adaptive seeds (`--seeds auto`): every method that trains starts with the minimum seeds; seeds are added only to
methods whose rank is still ambiguous, until the ranks separate or the maximum is reached.

The ranks are looked at a few times, at seed counts that grow by half: 3 -> 5 -> 8 (`schedule`). At each look a
method's rank range (best to worst rank its Holm-corrected pairwise tests allow, as on the leaderboard) either is
one rank (separated: it gets no more seeds) or spans several (ambiguous: it gets the next look's seeds, unless it
has the maximum). Stopping when ranks separate is optional stopping: tested at 5 % at every look, a pair of equal
methods would be declared different more often than 5 % of the time. So every look, and the leaderboard's ranks of
an adaptively seeded table, test at 5 % / looks (Bonferroni over the looks); `benchmarks/adaptive.py` measures the
false separations and the runs saved by simulation with a known truth.

Everything is decided from records (`decide`), so the matrix and the leaderboard's account of each row's seeds
(`explain`) replay the same looks from the same files.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchhub.paired import CONFIDENCE, rank_p_value
from benchhub.stats import competition_ranks

DEFAULT_MIN, DEFAULT_MAX = 3, 8
MIN_SEEDS = 3  # a row that trains needs this many seeds to be ranked: fewer cannot show its seed spread
MAX_SEEDS = 100  # below the sweep seed (1000) with room to spare


@dataclass(frozen=True)
class Auto:
    """`--seeds auto:LOW-HIGH`: final seeds 0, 1, ... from LOW up to HIGH per method."""

    low: int = DEFAULT_MIN
    high: int = DEFAULT_MAX

    @property
    def looks(self) -> list[int]:
        return schedule(self.low, self.high)

    @property
    def alpha(self) -> float:
        """The level of each look's tests: 5 % over the looks."""
        return (1 - CONFIDENCE) / len(self.looks)

    def record(self) -> dict:
        """What a final record says about its row's seeding (`record.seeding`)."""
        return {"mode": "auto", "min": self.low, "max": self.high, "looks": self.looks, "alpha": self.alpha}


def schedule(low: int, high: int) -> list[int]:
    """The seed counts the ranks are looked at: `low`, then half as many again (rounded up) each look, up to
    `high`: 3, 8 -> [3, 5, 8]; 3, 20 -> [3, 5, 8, 12, 18, 20]."""
    out = [low]
    while out[-1] < high:
        out.append(min(high, out[-1] + -(-out[-1] // 2)))
    return out


def placings(rows: dict[str, tuple[list, bool]], primary: str, higher: bool, alpha: float) -> dict[str, tuple]:
    """method -> (best, worst) rank its tests allow, for `rows` (method -> (records, trains)) that can be ranked."""
    ranked = [(m, sum(r.metrics[primary] for r in recs) / len(recs), recs, trains)
              for m, (recs, trains) in rows.items()
              if recs and all(r.status.ranked and r.metrics.get(primary) is not None for r in recs)
              and (not trains or len(recs) >= MIN_SEEDS)]
    if len(ranked) < 2:
        return {m: (1, 1) for m, *_ in ranked}
    return rank_items(ranked, primary, higher, alpha)


def rank_items(items: list[tuple], primary: str, higher: bool, alpha: float) -> dict[str, tuple]:
    """name -> (best, worst) rank for `items` (name, mean, records, trains): ordered by mean, every pair tested
    on the evaluation split (`paired.rank_p_value`), Holm-corrected at `alpha` (`stats.competition_ranks`). The
    leaderboard's ranks and the adaptive looks both rank this way."""
    ordered = sorted(items, key=lambda item: -item[1] if higher else item[1])

    def p_value(i: int, j: int):
        (_, _, a, ta), (_, _, b, tb) = ordered[i], ordered[j]
        return rank_p_value(a, b, primary, (ta, tb))

    placed = competition_ranks([(name, mean) for name, mean, *_ in ordered], p_value, alpha=alpha)
    return {p.name: (p.best, p.worst) for p in placed}


def decide(rows: dict[str, tuple[list, bool]], primary: str, higher: bool, auto: Auto) -> tuple[dict, dict]:
    """Replay the looks on the final records so far (`rows`: method -> (records sorted by seed, trains)):
    (method -> seeds it needs, method -> [(seeds, best, worst)] at each look it took part in). A need above a
    row's records means runs to do; once every row has what it needs, no look asks for more."""
    trains = [m for m, (_, t) in rows.items() if t]
    need = {m: auto.low for m in trains}
    seen: dict[str, list] = {m: [] for m in rows}
    for i, count in enumerate(auto.looks):
        if any(len(rows[m][0]) < need[m] for m in trains):
            break  # this look's runs are not all in yet
        view = {m: (recs[:need[m]] if m in need else recs, t) for m, (recs, t) in rows.items()}
        raised = False
        for m, (best, worst) in placings(view, primary, higher, auto.alpha).items():
            seen[m].append((len(view[m][0]), best, worst))
            if m in need and worst > best and i + 1 < len(auto.looks):  # ambiguous: the next look's seeds
                need[m], raised = auto.looks[i + 1], True
        if not raised:
            break
    return need, seen


def explain(seen: list, auto: Auto) -> str:
    """Why a row has the seeds it has, from its looks: 'rank 2–3 at 3 and 5 seeds; 8 is the maximum'."""
    if not seen:
        return "not ranked"
    last = seen[-1]
    ambiguous = [str(n) for n in dict.fromkeys(n for n, best, worst in seen if worst > best)]
    at = " and ".join([", ".join(ambiguous[:-1]), ambiguous[-1]] if len(ambiguous) > 1 else ambiguous)
    if last[2] == last[1]:
        return (f"ambiguous at {at} seeds, " if ambiguous else "") + f"rank {last[1]} separated at {last[0]} seeds"
    return f"rank {last[1]}–{last[2]} at {at} seeds" + ("; the maximum" if last[0] >= auto.high else "")


def parse(text: str) -> Auto:
    """`auto` or `auto:LOW-HIGH` (the command line's --seeds)."""
    from benchhub.errors import UserError

    if text == "auto":
        return Auto()
    low, dash, high = text.removeprefix("auto:").partition("-")
    if not text.startswith("auto:") or not dash or not low.isdigit() or not high.isdigit():
        raise UserError(f"--seeds auto takes its range as auto:LOW-HIGH, e.g. auto:3-8; got {text!r}")
    return check(int(low), int(high), "--seeds")


def check(low: int, high: int, where: str) -> Auto:
    from benchhub.errors import UserError

    if not MIN_SEEDS <= low <= high <= MAX_SEEDS:
        raise UserError(f"{where}: adaptive seeds need {MIN_SEEDS} <= minimum <= maximum <= {MAX_SEEDS} (a training "
                        f"row is ranked from {MIN_SEEDS} seeds); got {low} to {high}")
    return Auto(low, high)
