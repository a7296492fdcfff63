"""`benchhub compare OLD NEW` against a golden file (regenerate deliberately: BENCHHUB_UPDATE_GOLDEN=1)."""
import dataclasses
import os
from pathlib import Path

from benchhub.store import Store
from cli_helpers import assert_one_line_error, invoke
from test_report import per_image, record

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "compare.md"


def _write(root, records):
    store = Store(root, "golden")
    for r in records:
        store.write(r, store.path_for(r.spec, r.run_id))
    return root


def _suite(lora_cider, full_train_s=6.0, lora_noise=0.5):
    lora = [record("lora", seed=s, cider=lora_cider + 0.05 * s, trainable=900, train_s=4.0,
                   examples=per_image(lora_cider + 0.05 * s, spread=lora_noise)) for s in (0, 1)]
    full = [record("full", seed=s, cider=3.0 + 0.05 * s, trainable=10000, train_s=full_train_s) for s in (0, 1)]
    return [record("zero-shot", cider=0.7)] + full + lora


def test_compare_marks_what_moved_beyond_noise_and_fails_on_regressions(tmp_path):
    old = _write(tmp_path / "old", _suite(2.0))
    new = _write(tmp_path / "new", _suite(1.6, full_train_s=7.2))  # lora worse; full 1.2× slower
    result = invoke("compare", old, new)
    assert result.exit_code == 1
    text = result.output.replace(str(tmp_path), "<tmp>")
    if os.environ.get("BENCHHUB_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert "| `lora` | `shapes(train_size=300)` | 0,1 | 2.025 | 1.625 | -0.400 | worse |" in text
    assert "| `full` | `shapes(train_size=300)` | 0,1 | 3.025 | 3.025 | +0.000 | no |" in text
    assert "worse: CIDEr of lora on blip2:tiny is significantly worse (2.025 → 1.625)" in text
    assert "worse: train time of full on blip2:tiny grew 1.200× (threshold 1.1; medians over 2 → 2 quiet seeds)" in text
    assert invoke("compare", old, new, "--threshold", "1.3").output.count("worse:") == 2  # CIDEr and BLEU-4 of lora


def test_same_results_compare_clean_and_a_budget_change_is_stated(tmp_path):
    old = _write(tmp_path / "old", _suite(2.0))
    assert invoke("compare", old, old).exit_code == 0
    changed = [dataclasses.replace(r, config={**r.config, "budget": {**r.config["budget"], "max_steps": 100}})
               for r in _suite(2.0)]
    result = invoke("compare", old, _write(tmp_path / "new", changed))
    assert result.exit_code == 0 and "- budget differs for `full` on `blip2:tiny`: max_steps 200 → 100" in result.output


def test_compare_needs_two_results_directories(tmp_path):
    assert_one_line_error(invoke("compare", tmp_path / "nope", tmp_path), "no results found")


def test_a_rerun_with_other_seeds_is_compared_method_by_method(tmp_path):
    """Other final seeds (a re-run checking the committed numbers): every seed of each side, one suite's
    directory accepted as well as a results directory."""
    old = _write(tmp_path / "old", _suite(2.0))
    other = [dataclasses.replace(r, config={**r.config, "seed": r.seed + 3}, run_id=r.run_id + "x")
             for r in _suite(2.0)]
    result = invoke("compare", old / "golden", _write(tmp_path / "new", other) / "golden")
    assert result.exit_code == 0, result.output
    assert "| `lora` | `shapes(train_size=300)` | 0,1 → 3,4 | 2.025 | 2.025 | +0.000 | no |" in result.output


def test_directories_with_nothing_in_common_fail(tmp_path):
    old = _write(tmp_path / "old", _suite(2.0)[:3])  # zero-shot and full
    new = _write(tmp_path / "new", _suite(2.0)[3:])  # lora only
    result = invoke("compare", old, new)
    assert result.exit_code == 1 and "worse: no model × method × dataset is in both" in result.output


def test_costs_measured_on_different_machines_are_shown_not_gated(tmp_path):
    old = _write(tmp_path / "old", _suite(2.0))
    slower = [dataclasses.replace(r, environment={**r.environment, "device": "CPU Slow (2 cores)"})
              for r in _suite(2.0, full_train_s=12.0)]
    result = invoke("compare", old, _write(tmp_path / "new", slower))
    assert result.exit_code == 0, result.output
    assert "measured on different machines: shown, not gated" in result.output and "| 2.000 |" in result.output


def test_train_time_is_gated_on_the_median_of_quiet_seeds(tmp_path):
    """A ratio of medians within the threshold passes, one over it fails, busy runs never count."""
    def suite(times, busy=False):
        out = [record("full", seed=s, cider=3.0 + 0.05 * s, trainable=10000, train_s=t) for s, t in enumerate(times)]
        return [dataclasses.replace(r, load={"busy": True, "why": "load 7"}) if busy else r for r in out]

    old = _write(tmp_path / "old", suite([4.0, 5.0, 4.5]))
    noisy = invoke("compare", old, _write(tmp_path / "noisy", suite([5.5, 4.4, 4.8])))  # median 4.8 / 4.5
    assert noisy.exit_code == 0 and "| 1.067 |" in noisy.output, noisy.output
    slower = invoke("compare", old, _write(tmp_path / "slow", suite([9.0, 9.5, 9.2])))
    assert slower.exit_code == 1 and "worse: train time of full on blip2:tiny grew 2.044× (threshold 1.1; medians over 3 → 3 quiet seeds)" in slower.output
    busy = invoke("compare", old, _write(tmp_path / "busy", suite([9.0, 9.5, 9.2], busy=True)))
    assert busy.exit_code == 0 and "a side has only busy runs: not gated" in busy.output


def test_overlapping_seeds_are_said(tmp_path):
    old = _write(tmp_path / "old", _suite(2.0))
    more = _suite(2.0) + [record("lora", seed=2, cider=2.1, trainable=900, train_s=4.0)]
    result = invoke("compare", old, _write(tmp_path / "new", more))
    assert "left out: `lora` seeds 2 (only new)" in result.output


def test_directories_that_share_no_model_and_dataset_are_refused_in_one_line(tmp_path):
    """Issue 23: a regression gate pointed at the wrong directory (another suite) must not pass."""
    from cli_helpers import assert_one_line_error

    old = _write(tmp_path / "old", _suite(2.0))
    elsewhere = [dataclasses.replace(r, config={**r.config, "dataset": {"name": "digits", "options": {}}},
                                     run_id=r.run_id + "d") for r in _suite(2.0)]
    new = _write(tmp_path / "new", elsewhere)
    assert_one_line_error(invoke("compare", old, new), "share no model × dataset pair")


def test_runs_pair_by_method_name_and_option_differences_are_listed(tmp_path):
    """Issue 23: `lora` against `lora(r=16)` pairs (the one lora run on each side) and says what differs."""
    old = _write(tmp_path / "old", _suite(2.0))
    renamed = [record("lora", seed=s, cider=2.0 + 0.05 * s, trainable=1800, train_s=4.0, options={"r": 16},
                      examples=per_image(2.0 + 0.05 * s)) for s in (0, 1)]
    new = _write(tmp_path / "new", [r for r in _suite(2.0) if r.label != "lora"] + renamed)
    result = invoke("compare", old, new)
    assert result.exit_code == 0, result.output
    assert "3 model × method × dataset in both; 0 not paired." in result.output
    assert "| `blip2:tiny` | `lora → lora(r=16)` | `shapes(train_size=300)` | 0,1 |" in result.output
    assert "- options differ for `lora → lora(r=16)` on `blip2:tiny` (paired by method name): r null → 16" \
        in result.output


def test_pair_states_a_pairing_and_ambiguity_is_said(tmp_path):
    """Two lora runs on the new side: which one the old lora meets is ambiguous until --pair says so."""
    old = _write(tmp_path / "old", _suite(2.0))
    wide = [record("lora", seed=s, cider=2.0, trainable=1800, train_s=4.0, options={"r": r}, examples=per_image(2.0))
            for s in (0, 1) for r in (16, 32)]
    new = _write(tmp_path / "new", [r for r in _suite(2.0) if r.label != "lora"] + wide)
    vague = invoke("compare", old, new)
    assert "ambiguous: several runs of this method; state one with --pair OLD=NEW" in vague.output
    assert "2 model × method × dataset in both; 3 not paired" in vague.output
    stated = invoke("compare", old, new, "--pair", "lora=lora(r=32)")
    assert "| `lora → lora(r=32)` |" in stated.output and "(paired by --pair): r null → 32" in stated.output
    assert vague.exit_code == 1  # a gate never passes without comparing a method it could not pair
    assert "worse: 3 run(s) could not be paired unambiguously; state the pairing with --pair OLD=NEW" in vague.output
    assert "`lora(r=16)` on `blip2:tiny` (on the new side only)" in stated.output
    for bad, says in (("lora", "--pair must be OLD_LABEL=NEW_LABEL"), ("=lora", "--pair must be OLD_LABEL=NEW_LABEL"),
                      ("nope=lora(r=16)", "--pair: no ranked run labelled 'nope' on the old side; it has full, lora"),
                      ("lora=lora(r=8)", "no ranked run labelled 'lora(r=8)' on the new side")):
        assert_one_line_error(invoke("compare", old, new, "--pair", bad), says)
    assert_one_line_error(invoke("compare", old, new, "--pair", "lora=lora(r=16)", "--pair", "lora=lora(r=32)"),
                          "--pair gives 'lora' twice")
    assert_one_line_error(invoke("compare", old, new, "--pair", "lora=lora(r=16)", "--pair", "full=lora(r=16)"),
                          "--pair pairs 'lora(r=16)' twice")
    assert_one_line_error(invoke("compare", old, new, "--pair", "zero-shot=full"),
                          "--pair zero-shot=full: pairs runs of one method, but these are full and zero-shot")


def test_runs_pair_seed_by_seed_where_the_seeds_overlap(tmp_path):
    """A side missing a seed: the other side's extra seed is left out (and said), never averaged in."""
    old = _write(tmp_path / "old", _suite(2.0))
    fewer = [r for r in _suite(2.0) if not (r.label == "full" and r.seed == 1)]
    result = invoke("compare", old, _write(tmp_path / "new", fewer))
    assert "| `blip2:tiny` | `full` | `shapes(train_size=300)` | 0 | 3.000 | 3.000 | +0.000 |" in result.output
    assert "Compared seed by seed on the seeds both sides have; left out: `full` seeds 1 (only old)." in result.output


def test_the_time_verdict_is_the_median_of_quiet_seeds(tmp_path):
    """One busy, slow seed neither fails the gate nor hides a real slowdown of the quiet ones."""
    def suite(times, busy_seed=None):
        out = [record("full", seed=s, cider=3.0 + 0.05 * s, trainable=10000, train_s=t) for s, t in enumerate(times)]
        return [dataclasses.replace(r, load={"busy": True, "why": "load 7"}) if r.seed == busy_seed else r for r in out]

    old = _write(tmp_path / "old", suite([4.0, 4.1, 3.9]))
    one_busy = invoke("compare", old, _write(tmp_path / "busy", suite([4.0, 30.0, 4.1], busy_seed=1)))
    assert one_busy.exit_code == 0, one_busy.output
    assert "| 1.012 | 1.000 | 1 |" in one_busy.output  # median(4.0, 4.1) / median(4.0, 4.1, 3.9) = 4.05 / 4.0
    slow = invoke("compare", old, _write(tmp_path / "slow", suite([8.0, 30.0, 8.2], busy_seed=1)))
    assert slow.exit_code == 1 and "medians over 3 → 2 quiet seeds" in slow.output
