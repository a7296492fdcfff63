"""Leaderboard rendering against a golden file (regenerate deliberately: BENCHHUB_UPDATE_GOLDEN=1)."""
import os
import re
from pathlib import Path

import dataclasses

import pytest

from benchhub import identity, plugins
from benchhub.budget import Budget
from benchhub.records import RunRecord, make_record
from benchhub.report import metric_describer, render_leaderboard
from benchhub.spec import ComponentSpec, RunSpec

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "leaderboard.md"
ENV = {"versions": {"python": "3.11.7", "benchhub": "0.1.0", "torch": "2.13.0", "transformers": "5.23.0",
                    "peft": "0.21.2"}, "device": "CPU Test (2 cores)", "device_type": "cpu"}
# What the records here say they depend on: nothing that differs from "today" (ENV), so every one is current.
CURRENT = {"benchhub": identity.version("benchhub"), "plugins": {}, "code": {}}


@pytest.fixture(autouse=True)
def _today_is_env(monkeypatch):
    """Tables rank the records measured as benchhub would measure them today: here, in ENV."""
    from benchhub.report import currency

    monkeypatch.setattr(currency, "today", lambda: ENV)


def per_image(mean, n=20, spread=0.5):
    """Per-image scores with exactly `mean` as their mean (the same pattern for every method: paired)."""
    return [mean + spread * ((i * 7) % 5 - 2) / 2 for i in range(n)]


def record(method, seed=0, cider=None, status="ok", trainable=1000, train_s=5.0, peak_mib=400, error=None,
           options=None, limit_mib=1024, scoring=None, source=None, examples=None):
    spec = RunSpec(suite="golden", method=ComponentSpec(method, options or {}), model=ComponentSpec("blip2:tiny"),
                   dataset=ComponentSpec("shapes", {"train_size": 300}), metrics=("coco-caption",),
                   budget=Budget(effective_batch=16, micro_batch=8, max_steps=200,
                                 memory_limit_bytes=limit_mib * 2**20),
                   seed=seed, lr=0.0 if method == "zero-shot" else 1e-3)
    trains = method != "zero-shot"
    result = {"status": status, "error": error,
              "metrics": {} if status == "failed" else {"CIDEr": cider, "BLEU-4": cider / 10 if cider else None},
              "train": {"seconds": train_s, "samples_per_second": 3200 / train_s}
              if trains and status not in ("failed", "does-not-fit") else None,
              "eval": {"seconds": 0.5} if status not in ("failed", "does-not-fit") else None,
              "memory": {"kind": "cpu-rss", "peak_bytes": peak_mib * 2**20},
              "parameters": None if status == "failed" else {"trainable": trainable if trains else 0, "total": 10000}}
    if cider is not None and status == "ok":
        ids = [f"img{i}" for i in range(20)]
        result["per_example"] = {"eval": {"ids": ids, "CIDEr": examples or per_image(cider)}}
        if source is not None:
            result["scores"] = {"source": {"metrics": {"CIDEr": source}, "examples": 20}}
            result["per_example"]["source"] = {"ids": ids, "CIDEr": per_image(source)}
    if trains and status == "ok":
        result["memory"]["split"] = {"weights_bytes": 40_000, "gradients_bytes": 4 * trainable,
                                     "optimizer_bytes": 8 * trainable, "activations_other_bytes": 2**20,
                                     "peak_allocated_bytes": 40_000 + 12 * trainable + 2**20}
        result["memory"]["search"] = {"trials": [{"micro_batch": 8, "fits": True}], "seconds": 0.05}
        result["compute"] = {"flops_per_step": 2e9, "achieved_flops_per_second": 200 * 2e9 / train_s,
                             "mfu": 200 * 2e9 / train_s / 1e12}
    if status == "does-not-fit":
        result["memory"].update(needed_bytes=3 * 2**30, search={"seconds": 0.4, "trials": [
            {"micro_batch": m, "fits": False, "peak_bytes": 3 * 2**30} for m in (8, 4, 2, 1)]})
    return make_record(spec, f"{method}{seed}", result, environment=ENV, identity=CURRENT, scoring=scoring
                       or SCORING, baseline="zero-shot", reference="full", started="2026-01-01T00:00:00+00:00",
                       wall=9.0)


SCORING = {"primary": "CIDEr", "columns": ["CIDEr", "BLEU-4"], "higher_is_better": {}}


def render(records, suite="golden"):
    """As `write_leaderboard` renders it: the metric plugins say where their numbers come from."""
    return render_leaderboard(records, suite, metric_describer(plugins.registry()))


def golden_records():
    return [
        record("zero-shot", cider=0.7, source=5.0),
        record("full", seed=0, cider=3.8, trainable=10000, train_s=6.0, peak_mib=500, source=2.0),
        record("full", seed=1, cider=3.7, trainable=10000, train_s=6.2, peak_mib=502, source=2.2),
        record("full", seed=2, cider=3.75, trainable=10000, train_s=6.1, peak_mib=501, source=2.1),
        record("lora", seed=0, cider=3.5, trainable=900, train_s=4.0, peak_mib=450, source=4.0),
        record("lora", seed=1, cider=3.3, trainable=900, train_s=4.2, peak_mib=452, source=4.1),
        record("lora", seed=2, cider=3.4, trainable=900, train_s=4.1, peak_mib=451, source=4.05),
        record("lora", cider=1.9, trainable=80, train_s=2.5, peak_mib=420, options={"target_modules": "q_proj"}),
        record("wide", cider=4.5, trainable=9000, train_s=3.0, peak_mib=2000),  # over its 1 GiB limit
        record("broken", status="failed", error="RuntimeError: boom"),
        record("huge", status="does-not-fit", error="does not fit 1.00 GiB even at micro-batch 1 (needs 3.00 GiB)",
               peak_mib=3072),
    ]


def test_over_budget_status_comes_from_measured_memory():
    statuses = {r.config["method"]["name"]: r.status for r in golden_records()}
    assert statuses["wide"] == "over-budget" and statuses["full"] == "ok" and statuses["huge"] == "does-not-fit"


def test_leaderboard_matches_golden_file():
    text = render(golden_records())
    if os.environ.get("BENCHHUB_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def _rows(text):
    main = text.split("Memory of one training step")[0]
    rows = {row.split("|")[2].strip(): row for row in main.splitlines() if row.startswith("| ")}
    return {k: v for k, v in rows.items() if k.startswith("`")}


def test_leaderboard_ranks_and_marks():
    text = render(golden_records())
    main, memory = text.split("Memory of one training step")
    rows = [line for line in main.splitlines() if line.startswith("| ") and "`" in line.split("|")[2]]
    order = [row.split("|")[2].strip() for row in rows]
    # over-budget, does-not-fit and failed runs are listed last, unranked, even with the best CIDEr
    # ranked rows by rank; a method that trains with one seed is shown unranked (its seed spread is unknown)
    assert order == ["`full`", "`lora`", "`zero-shot`", "`lora(target_modules=q_proj)`", "`wide`", "`huge`",
                     "`broken`"]
    ranks = [row.split("|")[1].strip() for row in rows]
    assert ranks == ["**1**", "2", "3", "–", "–", "–", "–"]  # every pair significant after Holm
    assert "| **3.750 ± 0.124 (n=3)** |" in rows[0]  # t(0.975, 2) × 0.05 / √3 = 0.124
    assert "**4.500" not in text and "| 3.400 ± 0.248 (n=3) |" in rows[1]
    # seed variance counted: full's seeds (3.8, 3.7, 3.75) and lora's (3.5, 3.3, 3.4), Welch df
    assert "| reference |" in rows[0] and "| -0.350 [-0.558, -0.142] \\* |" in rows[1]
    assert "| 5.000 (n=1) | baseline |" in rows[2] and "| 2.100 ± 0.248 (n=3) | +2.900 [+2.652, +3.148] \\* |" in rows[0]
    assert "- `broken` seed 0: RuntimeError: boom" in text
    huge = rows[order.index("`huge`")]
    assert "🚫 does-not-fit (unranked; needs 3.00 GiB)" in huge and "| 0.001 | – | – | – | 3.00 GiB |" in huge
    assert "- `huge`" not in text  # its reason is in the status cell, not among the failures
    split = {row.split("|")[1].strip(): row for row in memory.splitlines() if row.startswith("| `")}
    assert "| 8 (1 probe, 0.05 s) | 39 KiB | 39 KiB | 78 KiB | 1 MiB |" in split["`full`"]
    assert "none (4 probes, 0.40 s)" in split["`huge`"] and "`zero-shot`" not in split


def _seeds(method, means, examples=None):
    return [record(method, seed=i, cider=m, examples=examples(m) if examples else None) for i, m in enumerate(means)]


def test_methods_not_significantly_apart_share_a_rank_range_and_nothing_is_bold():
    noisy = lambda m: [m + (1.5 if i % 2 else -1.5) for i in range(20)]  # noqa: E731 - very noisy per image
    rs = _seeds("full", [2.9, 3.0, 3.1], noisy) + _seeds("lora", [3.0, 3.1, 3.2], noisy) + [record("zero-shot", cider=0.5)]
    rows = _rows(render(rs))
    assert rows["`lora`"].split("|")[1].strip() == "1–2" and rows["`full`"].split("|")[1].strip() == "1–2"
    assert rows["`zero-shot`"].split("|")[1].strip() == "3"
    assert "**3." not in rows["`lora`"] + rows["`full`"] and "**1**" not in rows["`lora`"] + rows["`full`"]
    assert " \\* |" not in rows["`lora`"]  # its difference to `full` is not significant


def test_a_rank_counts_only_the_methods_significantly_better():
    """A–B and A–C within noise, B–C apart: A and B rank 1, C ranks 2 (only B beats it), not '1 tied'."""
    rs = (_seeds("a", [3.0, 3.4, 2.6]) + _seeds("b", [3.2, 3.22, 3.18]) + _seeds("c", [2.6, 2.62, 2.58]))
    rows = _rows(render(rs))
    assert [rows[f"`{m}`"].split("|")[1].strip() for m in "abc"] == ["1–3", "1–2", "2–3"]


def test_rows_with_fewer_than_three_seeds_are_shown_not_ranked():
    rs = _seeds("full", [3.0, 3.1]) + _seeds("lora", [2.0, 2.1, 2.2]) + [record("zero-shot", cider=0.5)]
    rows = _rows(render(rs))
    assert rows["`full`"].split("|")[1].strip() == "–" and "(n=2)" in rows["`full`"]
    assert rows["`lora`"].split("|")[1].strip() == "**1**"


def test_without_per_example_scores_seeds_alone_are_tested():
    rs = [dataclasses.replace(r, per_example={}) for r in _seeds("full", [3.0, 3.1, 2.9]) + _seeds("lora", [2.0, 2.1, 1.9])]
    rows = _rows(render(rs))
    assert rows["`full`"].split("|")[1].strip() == "**1**" and rows["`lora`"].split("|")[1].strip() == "2"
    assert "| – |" in rows["`lora`"]  # no interval for the difference without per-example scores


def test_leaderboard_with_no_records():
    assert "No results yet" in render([], "empty")


def test_records_with_other_settings_are_not_averaged_as_seeds():
    a = record("lora", seed=0, cider=3.0)
    b = record("lora", seed=0, cider=1.0)
    b = dataclasses.replace(b, config={**b.config, "method": {**b.config["method"], "lr": 5e-2}},
                            started_at="2026-02-01T00:00:00+00:00")
    text = render([a, b])
    table = text.split("Memory of one training step")[0]
    rows = [line for line in table.splitlines() if "| `lora" in line]
    assert len(rows) == 1 and "(n=1)" in rows[0] and "0.05" in rows[0]  # never averaged, never two rows
    assert "`lora` (1 run, seed 0): a later run of the same method has other settings" in text


def test_lower_is_better_metrics_rank_ascending():
    lower = {**SCORING, "higher_is_better": {"CIDEr": False, "BLEU-4": False}}
    rs = [record(m, seed=i, cider=c + i / 100, scoring=lower) for m, c in (("full", 2.0), ("lora", 1.0)) for i in range(3)]
    text = render(rs)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line.split("|")[2]]
    assert "`lora`" in rows[0] and "**1.010 ± 0.025 (n=3)**" in rows[0] and "CIDEr ↓" in text


def test_metric_sources_come_from_the_metric_plugins():
    records = golden_records()
    assert "metrics from pycocoevalcap where captioning; " in render(records)
    plain = render_leaderboard(records, "golden")  # no describer: no claim about where numbers come from
    assert "metrics from" not in plain and "- **Records:** 11 runs; peak memory is" in plain


def test_the_footnote_names_the_suites_baseline():
    assert "`zero-shot` is the pre-trained model without fine-tuning." in render(golden_records())
    full = [dataclasses.replace(r, baseline="full") for r in golden_records()]
    text = render(full)
    assert "`full` is the suite's baseline." in text and "`zero-shot` is" not in text
    none = [dataclasses.replace(r, baseline=None) for r in golden_records()]
    assert " is the " not in render(none).splitlines()[-2]


@pytest.mark.real_plots
def test_write_leaderboard_reads_the_store(tmp_path):
    from benchhub.report import write_leaderboard
    from benchhub.store import Store

    store = Store(tmp_path, "golden")
    store.ensure_writable()
    for r in golden_records():
        store.write(r, store.path_for(r.spec, r.run_id))
    assert all(isinstance(r, RunRecord) for r in store.records())
    path = write_leaderboard(store, plugins.registry())
    assert path == tmp_path / "golden" / "leaderboard.md"
    written = path.read_text()
    plain = render(sorted(golden_records(), key=lambda r: store.path_for(r.spec, r.run_id)))
    # the same text, with each table followed by its plots: a heading, a caption and a PNG beside the Markdown
    links = re.findall(r"^!\[[^\]]*\]\((plots/[^)]+\.png)\)$", written, re.M)
    assert links and all((store.dir / link).stat().st_size > 1000 for link in links)
    assert sorted(p.name for p in (store.dir / "plots").iterdir()) == sorted(Path(link).name for link in links)
    assert re.sub(r"(?ms)^### .*?^!\[[^\n]*\n\n", "", written) == plain
    assert len(re.findall(r"^### ", written, re.M)) == len(links)
    stale = store.dir / "plots" / "table9-loss.png"
    stale.write_bytes(b"old")
    write_leaderboard(store, plugins.registry())
    assert not stale.exists()  # a table that went away takes its pictures with it


def test_pareto_marks_only_undominated_runs():
    rs = [record(m, seed=s, cider=c + s / 100, peak_mib=mib, train_s=t + s / 100)
          for m, c, mib, t in (("full", 3.0, 500, 6.0), ("lora", 2.0, 450, 4.0), ("ia3", 1.5, 460, 3.0))
          for s in range(3)]  # ia3: worse and heavier than lora, but faster
    one_seed = record("wide", cider=9.0, peak_mib=100, train_s=1.0)  # unranked: moves no front
    rows = _rows(render(rs + [one_seed]))
    assert "| memory, time | ✅ ok |" in rows["`full`"] and "| memory, time | ✅ ok |" in rows["`lora`"]
    assert "| time | ✅ ok |" in rows["`ia3`"] and "| – | ✅ ok |" in rows["`wide`"]


def test_plugin_text_cannot_break_or_inject_into_the_markdown():
    evil = {"target_modules": "a|b<script>alert(1)</script>`"}
    bad = record("lora", cider=2.0, options=evil)
    broken = record("boom", status="failed", error="RuntimeError: <script>x</script> | *bold* `tick`")
    text = render([record("full", cider=3.0), bad, broken])
    table = [line for line in text.splitlines() if line.startswith("| ") and "lora(" in line][0]
    cells = [c for c in re.split(r"(?<!\\)\|", table)][1:-1]
    header = [line for line in text.splitlines() if line.startswith("| Rank")][0]
    assert len(cells) == header.count("|") - 1  # the pipe in the option did not add a column
    for line in text.splitlines():  # raw HTML appears only inside code spans, where Markdown shows it as text
        for at in [m.start() for m in re.finditer("<script>", line)]:
            assert line[:at].count("`") % 2 == 1, line
    assert "- `boom` seed 0: RuntimeError: &lt;script&gt;x&lt;/script&gt; \\| \\*bold\\* \\`tick\\`" in text


def test_csv_has_one_row_per_run_and_seed_and_reads_with_pandas(tmp_path):
    import pandas as pd

    from benchhub.report.export import leaderboard_csv

    path = tmp_path / "leaderboard.csv"
    path.write_text(leaderboard_csv(golden_records()))
    frame = pd.read_csv(path)
    assert len(frame) == 11 and list(frame.columns[:7]) == ["suite", "model", "dataset", "method", "lr", "seed",
                                                            "status"]
    full = frame[frame["method"] == "full"].sort_values("seed")
    assert list(full["CIDEr"]) == [3.8, 3.7, 3.75] and list(full["seed"]) == [0, 1, 2]
    assert list(full["source CIDEr"]) == [2.0, 2.2, 2.1] and full["peak_memory_bytes"].iloc[0] == 500 * 2**20
    assert frame["CIDEr"].dtype == float and set(frame["status"]) == {"ok", "over-budget", "does-not-fit", "failed"}


def test_timings_taken_on_a_busy_machine_are_marked_with_the_reason(tmp_path):
    import dataclasses

    from benchhub.report.html import render_html

    busy = {"busy": True, "why": "1 run(s) of other benchhub processes at the same time", "cores": 2}
    quiet = record("lora", cider=2.0, train_s=4.0)
    loaded = dataclasses.replace(record("full", cider=3.0, train_s=9.0), load=busy)
    text = render([quiet, loaded])
    rows = _rows(text)
    assert "9.0 ‡" in rows["`full`"] and "‡" not in rows["`lora`"]
    assert "‡ timed on a busy machine (1 run(s) of other benchhub processes at the same time)" in text
    assert "‡" not in render([quiet])
    assert "‡ timed on a busy machine" in render_html([quiet, loaded], "golden")


def test_runs_a_time_limit_stopped_are_not_ranked_beside_complete_runs():
    """A run stopped by max_seconds shows its steps and is unranked beside complete runs; when every
    training row stopped the same way they are ranked together (issue 15)."""
    from benchhub.report.rows import status_text, table_rows

    def stopped(rec, steps):
        import dataclasses

        return dataclasses.replace(rec, train={**rec.train, "stopped_by": "time", "steps": steps,
                                               "planned_steps": 200})

    group = [record("zero-shot", cider=0.7), record("full", cider=3.0), stopped(record("lora", cider=3.5), 1)]
    rows = {r["method"]: r for r in table_rows(group, ["CIDEr"], "CIDEr", True)}
    assert not rows["lora"]["ranked"] and rows["full"]["ranked"]
    assert status_text(rows["lora"]) == "ok (time limit: 1/200 steps; unranked: the other runs completed their steps)"
    both = [record("zero-shot", cider=0.7), stopped(record("full", cider=3.0), 150),
            stopped(record("lora", cider=3.5), 1)]
    rows = {r["method"]: r for r in table_rows(both, ["CIDEr"], "CIDEr", True)}
    assert rows["lora"]["ranked"] and rows["full"]["ranked"] and status_text(rows["full"]) == \
        "ok (time limit: 150/200 steps)"
    text = render([*group])
    assert "1/200 steps" in text


def test_cost_fronts_exclude_the_baseline_and_differences_within_noise():
    from benchhub.report.ranking import TableStats
    from benchhub.report.rows import table_rows

    group = [record("zero-shot", cider=0.7, peak_mib=300),
             record("full", 0, cider=3.0, train_s=10.0), record("full", 1, cider=3.0, train_s=12.0),
             record("full", 2, cider=3.0, train_s=11.0),
             record("lora", 0, cider=2.0, train_s=9.0), record("lora", 1, cider=2.0, train_s=13.0),
             record("lora", 2, cider=2.0, train_s=11.0)]
    rows = table_rows(group, ["CIDEr"], "CIDEr", True)
    stats = TableStats(rows, group, "CIDEr", True)
    assert "zero-shot" not in stats.fronts["time"] | stats.fronts["memory"]  # never "best" on a cost
    # lora's mean time (11.0) equals full's, and their intervals overlap: only quality decides, full dominates
    assert stats.fronts["time"] == {"full"}


def test_records_not_current_are_set_aside_with_what_changed(monkeypatch):
    """Only records measured as benchhub measures today are ranked: another library version, other code, a rate
    the current sweep no longer chooses are listed under the table with the reason, one row per method."""
    from benchhub.report import currency

    old_env = {**ENV, "versions": {**ENV["versions"], "transformers": "5.22.0"}}

    def at(rec, env=ENV, when="2026-02-01", **changes):
        return dataclasses.replace(rec, environment=env, started_at=when, **changes)

    other_code = {**CURRENT, "code": {"benchhub.train": "000000000000"}}
    sweep = lambda lr, score: at(record("full", seed=1000, cider=3.0), role="sweep", metrics={},  # noqa: E731
                                 config={**record("full").config, "seed": 1000,
                                         "method": {**record("full").config["method"], "lr": lr}},
                                 scores={"validation": {"metrics": {"CIDEr": score}, "examples": 20}})
    selection = {"grid": [1e-3, 3e-3], "seeds": [1000], "chosen": 1e-3, "validation": {"0.001": 3.0, "0.003": 2.0}}
    moved = record("full", seed=0, cider=2.0)  # chosen by an earlier sweep (other validation scores)
    moved = at(moved, config={**moved.config, "method": {**moved.config["method"], "lr": 3e-3}},
               selection={**selection, "chosen": 3e-3}, when="2026-01-15")
    group = [at(record("zero-shot", cider=0.7), old_env, "2026-01-01"), at(record("zero-shot", cider=0.8)),
             at(record("lora", cider=2.5), identity=other_code), sweep(1e-3, 3.0), sweep(3e-3, 2.0), moved,
             *[at(r, selection=selection) for r in _seeds("full", [3.0, 3.1, 3.2])]]
    text = render(group)
    table, below = text.split("Not ranked:")
    main = table.split("| Rank |")[1].split("\n\n")[0]  # the ranked table itself
    assert main.count("| `full` |") == 1 and main.count("| `zero-shot` |") == 1 and "`lora`" not in main
    assert "0.800" in main and "0.700" not in main and "3.100 ± 0.248 (n=3)" in main
    assert "`zero-shot` (1 run, seed 0): transformers 5.22.0 → 5.23.0" in below
    assert "`lora` (1 run, seed 0): code changed: benchhub.train" in below
    assert "`full` (1 run, seed 0): learning rate 0.003: the current sweep chooses 0.001" in below
    assert "`benchhub run` with the same suite re-measures those of other code, libraries or machine" in below
    # nothing current (e.g. another machine reads committed results): the latest consistent set, with a note
    monkeypatch.setattr(currency, "today", lambda: {**ENV, "device": "CPU Other (8 cores)"})
    elsewhere = render(group)
    assert "**Not current:** No record of this table was measured as benchhub measures today (device CPU Test" \
        in elsewhere


def test_a_label_matplotlib_would_read_as_tex_still_gets_a_report(fresh_plugins, tmp_path):
    """`$` in a (valid) regex option is text in every plot, never mathtext (which raised and left no report)."""
    from cli_helpers import invoke

    from benchhub.store import Store

    store = Store(tmp_path, "golden")
    store.dir.mkdir(parents=True)
    regex = {"target_modules": ".*v_proj|$^^$"}
    for seed, cider in enumerate([2.0, 2.2, 2.1]):
        for made in (record("lora", seed=seed, cider=cider, options=regex), record("full", seed=seed, cider=3.0 + seed)):
            store.write(made, store.path_for(made.spec, made.run_id))
    result = invoke("report", "--suite", "golden", "--results", tmp_path)
    assert result.exit_code == 0, result.output
    html = (store.dir / "report.html").read_text()
    assert "v_proj|$^^$" in html and html.count("Plotly.newPlot(") >= 3
    assert len(list((store.dir / "plots").glob("*.png"))) >= 3  # the PNGs beside leaderboard.md drew it too


def test_the_busy_footnote_says_each_reason_once():
    import dataclasses

    why = "1 run(s) of other benchhub processes at the same time"
    runs = [dataclasses.replace(record("full", seed=s, cider=3.0, train_s=9.0),
                                load={"busy": True, "why": f"{why}; load 6.6 on 2 cores" if s else why, "cores": 2})
            for s in range(2)]
    text = render(runs)
    assert text.count(why) == 1 and "load 6.6 on 2 cores" in text


def test_a_column_of_dashes_says_why():
    """Issue 23: with `--methods lora,full` Forgetting was – with no reason while the footnote named the baseline."""
    from benchhub.report.console import leaderboard_tables

    without = [r for r in golden_records() if r.label != "zero-shot"]
    text = render(without)
    assert "Forgetting is – in every row: the baseline `zero-shot` has no current ranked record in this table; run " \
           "it beside the others (e.g. `--methods zero-shot,…`)." in text
    assert "`zero-shot` is the suite's baseline; it was not run here, so Forgetting is –." in text
    assert "– in a cell: Δ and Forgetting of a row that is not ranked" in text  # the per-row reasons, once
    assert "Forgetting is – in every row" not in render(golden_records())
    caption = str(leaderboard_tables(without)[0].caption)
    assert "Forgetting is –: the baseline zero-shot has no current ranked record here" in caption
