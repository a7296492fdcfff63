"""The `benchhub run` command: bad input, failures, resume, exit codes (toy plugin, real processes)."""
import json

import pytest
from cli_helpers import assert_one_line_error, invoke
from cli_helpers import records as _records


@pytest.mark.parametrize("args,needle", [
    (["--methods", "lorra"], "unknown method 'lorra'; did you mean 'lora'?"),
    (["--models", "blip3:tiny"], "unknown model 'blip3'; did you mean 'blip2'?"),
    (["--suite", "defualt"], "unknown suite 'defualt'; did you mean 'default'?"),
    (["--suite", "missing/suite.toml"], "suite file 'missing/suite.toml' does not exist"),
    (["--effective-batch", "-4"], "--effective-batch must be greater than or equal to 1, got -4"),
    (["--micro-batch", "5"], "micro-batch 5 does not divide effective batch 16"),
    (["--micro-batch", "0"], "--micro-batch must be greater than or equal to 1, got 0"),
    (["--memory-limit", "lots"], "cannot parse memory limit 'lots'"),
    (["--max-steps", "0"], "--max-steps must be greater than or equal to 1, got 0"),
    (["--methods", "lora(rank=8)"], "method 'lora' has no option 'rank'; options: r, alpha"),
    (["--seeds", "one,two"], "--seeds expects comma-separated integers"),
])
def test_bad_input_is_one_line_exit_2(fresh_plugins, tmp_path, args, needle):
    assert_one_line_error(invoke("run", "--results", tmp_path, *args), needle)


def test_malformed_suite_toml(fresh_plugins, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[suite\nmethods = [")
    assert_one_line_error(invoke("run", "--suite", bad, "--results", tmp_path), "malformed suite file")


@pytest.mark.parametrize("body,needle", [
    ('[suite]\nmethods = "full"\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"\n', "[suite] methods must be a list, got 'full'"),
    ('[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n', "[dataset] is required"),
    ('[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"\n[budget]\nmicro_bath = 2\n',
     "unknown [budget] key 'micro_bath'"),
    ('[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"\n[extra]\n', "unknown table 'extra'"),
    ('[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"\ntrain_size = -1\n',
     "train_size must be an integer from 1 to 10000000, got -1"),
])
def test_invalid_suite_contents(fresh_plugins, tmp_path, body, needle):
    path = tmp_path / "suite.toml"
    path.write_text(body)
    assert_one_line_error(invoke("run", "--suite", path, "--results", tmp_path), needle)


def test_unwritable_results_directory(fresh_plugins, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_one_line_error(invoke("run", "--results", blocker / "results"), "is not writable")


def test_report_without_results(fresh_plugins, tmp_path):
    assert_one_line_error(invoke("report", "--results", tmp_path / "nothing"), "no results found")


def test_failing_runs_are_recorded_and_the_matrix_goes_on(toy, toy_suite, tmp_path):
    suite = toy_suite(["explode", "full", "nan", "sigkill", "zero-shot"])
    results = tmp_path / "results"
    result = invoke("run", "--suite", suite, "--results", results)
    assert result.exit_code == 1, result.output
    by_method = {r["config"]["method"]["name"]: r for r in _records(results)}
    assert set(by_method) == {"explode", "full", "nan", "sigkill", "zero-shot"}
    assert by_method["explode"]["status"] == "failed"
    assert by_method["explode"]["error"] == "RuntimeError: boom: this method always fails"
    assert by_method["nan"]["status"] == "failed"
    assert by_method["nan"]["error"].startswith("non-finite loss (nan)")
    assert by_method["sigkill"]["error"] == "child process killed by SIGKILL (out of memory?)"
    assert by_method["full"]["status"] == "ok"
    assert by_method["full"]["metrics"]["accuracy"] == 1.0
    assert by_method["zero-shot"]["status"] == "ok"
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "❌ failed" in board and "- `explode` seed 0: RuntimeError: boom" in board
    # the failure's traceback went to the run's log, not to the terminal
    assert "Traceback" not in result.output
    assert "boom" in (results / "toy" / by_method["explode"]["log"]).read_text()


def test_record_contents_and_resume(toy, toy_suite, tmp_path):
    suite = toy_suite(["full"])
    results = tmp_path / "results"
    first = invoke("run", "--suite", suite, "--results", results, "--seeds", "0,1")
    assert first.exit_code == 0, first.output
    records = _records(results)
    assert len(records) == 2
    r = records[0]
    assert r["schema_version"] == 3 and r["status"] == "ok" and r["error"] is None
    assert r["batching"] == {"effective_batch": 8, "micro_batch": 4, "grad_accum_steps": 2}
    assert r["train"]["steps"] == 20 and r["train"]["samples"] == 160
    assert r["train"]["samples_per_second"] > 0 and r["eval"]["seconds"] > 0
    assert r["memory"]["kind"] == "cpu-rss" and r["memory"]["peak_bytes"] > 10 * 2**20
    assert r["parameters"]["trainable"] == r["parameters"]["total"] == 15
    assert r["parameters"]["manifest"] == {"head": {"trainable": 15, "total": 15}}
    for key in ("python", "torch", "transformers", "peft"):
        assert r["environment"]["versions"][key]
    assert r["environment"]["device"].startswith("CPU")
    assert r["run_id"] in next((results / "toy").glob("*seed0*.json")).name
    mtimes = {p: p.stat().st_mtime_ns for p in (results / "toy").glob("*__*.json")}
    second = invoke("run", "--suite", suite, "--results", results, "--seeds", "0,1")
    assert second.exit_code == 0
    assert "0 ran, 2 reused" in second.output
    assert "reused 2: same configuration, libraries, machine, checkpoint and executed code" \
        in second.output
    assert {p: p.stat().st_mtime_ns for p in (results / "toy").glob("*__*.json")} == mtimes
    forced = invoke("run", "--suite", suite, "--results", results, "--seeds", "1", "--force")
    assert "1 ran, 0 reused" in forced.output and "re-ran 1 recorded: --force" in forced.output
    changed = invoke("run", "--suite", suite, "--results", results, "--seeds", "0", "--max-steps", "5")
    assert "1 ran, 0 reused" in changed.output  # a different budget is a different run
    assert "re-ran" not in changed.output  # ... not a re-run of a recorded one
    assert len(_records(results)) == 3


def test_failed_records_are_retried(toy, toy_suite, tmp_path):
    suite = toy_suite(["explode"])
    results = tmp_path / "results"
    assert invoke("run", "--suite", suite, "--results", results).exit_code == 1
    again = invoke("run", "--suite", suite, "--results", results)
    assert "1 ran, 0 reused, 1 failed" in again.output
    assert "re-ran 1 recorded: the stored attempt failed" in again.output
    assert len(_records(results)) == 1


def test_a_method_over_the_memory_limit_does_not_fit_and_is_not_ranked(toy, toy_suite, tmp_path):
    suite = toy_suite(["full", "grow(mib=600)"], extra='memory_limit = "500MiB"')
    results = tmp_path / "results"
    result = invoke("run", "--suite", suite, "--results", results)
    by_label = {r["config"]["method_label"]: r for r in _records(results)}
    grow = by_label["grow(mib=600)"]
    assert grow["status"] == "does-not-fit", grow["memory"]
    assert grow["memory"]["needed_bytes"] > 600 * 2**20 and grow["memory"]["limit_bytes"] == 500 * 2**20
    assert by_label["full"]["status"] == "ok"
    assert result.exit_code == 0
    board = (results / "toy" / "leaderboard.md").read_text()
    assert "does-not-fit (unranked; needs" in board


def test_timeout_kills_and_records(toy, toy_suite, tmp_path):
    suite = toy_suite(["full"])
    result = invoke("run", "--suite", suite, "--results", tmp_path, "--max-steps", "1000000", "--timeout", "3")
    assert result.exit_code == 1
    assert _records(tmp_path)[0]["error"] == "timed out after 3 s"


def test_report_regenerates(toy, toy_suite, tmp_path):
    results = tmp_path / "results"
    invoke("run", "--suite", toy_suite(["full"]), "--results", results)
    board = results / "toy" / "leaderboard.md"
    board.unlink()
    result = invoke("report", "--results", results, "--stdout")
    assert result.exit_code == 0
    assert board.exists() and "| `full` |" in result.output


def test_dry_run_prints_the_matrix_and_runs_nothing(fresh_plugins, tmp_path):
    result = invoke("run", "--dry-run", "--seeds", "0,1", "--methods", "zero-shot,lora,full(lr=1e-3)",
                    "--results", tmp_path)
    assert result.exit_code == 0, result.output
    # the default suite's lora grid: 3 rung runs and a line for what follows; zero-shot once; full, 2 seeds
    out = " ".join(result.output.split())
    assert out.count("blip2:tiny") == 7 and out.count("(sweep to 1/3 of the steps: validation only)") == 3
    assert "then successive halving of the grid (0.002, 0.005, 0.01): all 3 rates to 1/3 of the steps, the best 1 " \
           "to the end (44 % of an exhaustive sweep's steps saved); then the chosen lr × final seeds 0, 1" in out
    assert "9 runs planned, 0 pairs skipped; nothing was run (--dry-run)" in out  # sweeps on seed 1000
    assert not (tmp_path / "default").exists()


def test_models_that_cannot_do_the_task_are_skipped_with_reason(toy, toy_suite, tmp_path):
    suite = toy_suite(["full"]).read_text().replace('models = ["toy"]', 'models = ["toy", "blip2:tiny"]')
    path = tmp_path / "mixed.toml"
    path.write_text(suite)
    dry = invoke("run", "--suite", path, "--dry-run", "--results", tmp_path)
    assert dry.exit_code == 0, dry.output
    assert "skip: model supports caption, vqa, not the dataset's task 'toy'" in dry.output
    ran = invoke("run", "--suite", path, "--results", tmp_path)
    assert ran.exit_code == 0 and "1 ran" in ran.output


def test_metric_for_another_task_is_refused(toy, toy_suite, tmp_path):
    suite = toy_suite(["full"]).read_text().replace('metrics = ["toy-accuracy"]', 'metrics = ["coco-caption"]')
    path = tmp_path / "bad.toml"
    path.write_text(suite)
    assert_one_line_error(invoke("run", "--suite", path, "--results", tmp_path),
                          "metric 'coco-caption' scores task 'caption', but dataset 'toy-data' is task 'toy'")


@pytest.mark.parametrize("args,needle", [
    (["--methods", ""], "empty list ''"),
    (["--models", " , "], "empty list"),
    (["--timeout", "-1"], "Invalid value for '--timeout'"),
])
def test_more_bad_options(fresh_plugins, tmp_path, args, needle):
    result = invoke("run", "--results", tmp_path, *args)
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("value", ["gpu", "cuda:7"])
def test_bad_device_variable(fresh_plugins, tmp_path, monkeypatch, value):
    monkeypatch.setenv("BENCHHUB_DEVICE", value)
    assert_one_line_error(invoke("run", "--dry-run", "--results", tmp_path), f"BENCHHUB_DEVICE='{value}'")


BASE = '[suite]\nmethods = ["full"]\nmodels = ["blip2:tiny"]\n[dataset]\nname = "shapes"\n'


@pytest.mark.parametrize("body,needle", [
    ("budget = 5\n" + BASE, "[budget] must be a table"),
    (BASE + "[methods]\nlora = 5\n", "[methods.lora] must be a table, got 5"),
    (BASE.replace('models = ["blip2:tiny"]', 'models = ["blip2:tiny"]\nmetrics = [5]'), "[suite] metrics[0] must be a string, got 5"),
    (BASE.replace("[suite]", "[suite]\nname = 5"), "[suite] name must be a string, got 5"),
    (BASE.replace("[suite]", '[suite]\nname = ".."'), "[suite] name must be letters, digits"),
    (BASE + "[budget]\nmax_grad_norm = -1\n", "[budget] max_grad_norm must be greater than 0, got -1"),
    (BASE + '[budget]\nweight_decay = "lots"\n', "[budget] weight_decay must be a number, got 'lots'"),
    (BASE + "[budget]\nmemory_limit = 4.5\n", "give a unit"),
])
def test_suite_values_of_the_wrong_type(fresh_plugins, tmp_path, body, needle):
    path = tmp_path / "suite.toml"
    path.write_text(body)
    assert_one_line_error(invoke("run", "--suite", path, "--results", tmp_path), needle)


def test_all_pairs_skipped_is_bad_input(fresh_plugins, tmp_path):
    assert_one_line_error(invoke("run", "--suite", "tiny", "--models", "vit:tiny", "--results", tmp_path),
                          "nothing to run: every model × dataset pair was skipped (vit:tiny: model supports classify")


def test_show_with_odd_ids_and_unreadable_records(toy, toy_suite, tmp_path):
    invoke("run", "--suite", toy_suite(["full"]), "--results", tmp_path)
    (tmp_path / "toy" / "junk__x__seed0__abcdef.json").write_text('{"schema_version": "1"}')
    assert_one_line_error(invoke("show", "*", "--results", tmp_path), "no run '*'")
    assert_one_line_error(invoke("show", "seed0", "--results", tmp_path), "no run 'seed0'")
    assert invoke("report", "--results", tmp_path).exit_code == 0  # the junk file is ignored
    run_id = next(p for p in (tmp_path / "toy").glob("toy__full*.json")).stem.rsplit("__", 1)[1]
    assert invoke("show", run_id[:6], "--results", tmp_path).exit_code == 0


def test_forced_rerun_that_fails_keeps_the_finished_record(toy, toy_suite, tmp_path, monkeypatch):
    suite = toy_suite(["full"])
    assert invoke("run", "--suite", suite, "--results", tmp_path).exit_code == 0
    good = _records(tmp_path)[0]
    forced = invoke("run", "--suite", suite, "--results", tmp_path, "--force", "--timeout", "0.01")
    assert forced.exit_code == 1
    kept = _records(tmp_path)
    assert len(kept) == 1 and kept[0]["status"] == "ok" and kept[0]["metrics"] == good["metrics"]
    failed = list((tmp_path / "toy" / "logs").glob("*.failed.json"))
    assert len(failed) == 1 and json.loads(failed[0].read_text())["error"].startswith("timed out")


def test_loss_sum_and_count_targets_must_agree(toy):
    import torch

    from benchhub.errors import RunFailure
    from benchhub.train import accumulate_gradients

    class Miscounting(toy.ToyBundle):
        def count_targets(self, batch):
            return 2 * len(batch["labels"])

    bundle = Miscounting(torch.nn.Linear(4, 3), torch.device("cpu"))
    batch = bundle.collate(toy.ToyData(size=6).load().train)
    with pytest.raises(RunFailure, match="mis-normalised"):
        accumulate_gradients(bundle, [batch])


def test_time_budget_stops_cleanly_and_is_marked(toy, toy_suite, tmp_path):
    result = invoke("run", "--suite", toy_suite(["full"]), "--results", tmp_path, "--max-steps", "10000000",
                    "--max-seconds", "1")
    assert result.exit_code == 0, result.output
    record = _records(tmp_path)[0]
    assert record["status"] == "ok" and record["train"]["stopped_by"] == "time"
    assert 0 < record["train"]["steps"] < 10_000_000 and 1.0 <= record["train"]["seconds"] < 5
    assert record["metrics"]["accuracy"] >= 0  # evaluated after stopping
    assert "✅ ok (time limit: " in (tmp_path / "toy" / "leaderboard.md").read_text()
    assert_one_line_error(invoke("run", "--results", tmp_path, "--max-seconds", "-1"), "must be a positive number of seconds")


def test_nan_during_training_and_bad_accumulation_are_refused(toy, toy_suite, tmp_path):
    suite = toy_suite(["nan-later", "full"]).read_text().replace('models = ["toy"]', 'models = ["toy", "toy:bad-loss"]')
    path = tmp_path / "s.toml"
    path.write_text(suite)
    result = invoke("run", "--suite", path, "--results", tmp_path)
    assert result.exit_code == 1
    by_key = {(r["config"]["model"]["name"], r["config"]["method"]["name"]): r for r in _records(tmp_path)}
    assert by_key[("toy", "nan-later")]["error"] == "non-finite loss (nan) at step 2"
    assert by_key[("toy", "full")]["status"] == "ok"
    assert by_key[("toy", "full")]["checks"]["accumulation_rel_error"] <= 1e-5
    bad = by_key[("toy:bad-loss", "full")]
    assert bad["status"] == "failed" and bad["error"].startswith("accumulation check failed: 4 micro-batches give")
    assert "not ranked" in bad["error"]


def test_check_command_reports_every_pair(toy, toy_suite, tmp_path):
    suite = toy_suite(["full", "zero-shot"]).read_text().replace('models = ["toy"]',
                                                                   'models = ["toy", "toy:bad-loss"]')
    path = tmp_path / "s.toml"
    path.write_text(suite)
    result = invoke("check", "--suite", path)
    assert result.exit_code == 1
    assert "3 pairs passed, 1 failed" in result.output
    assert "FAILED: accumulation check failed" in result.output
    good = invoke("check", "--suite", path, "--models", "toy")
    assert good.exit_code == 0 and "2 pairs passed, 0 failed" in good.output


def test_plan_counts_parameters_without_weights(fresh_plugins):
    result = invoke("plan", "--models", "blip2:opt-2.7b", "--methods",
                    'full,lora(r=16,alpha=32,target_modules=["q_proj","v_proj"]),qlora', "--memory-limit", "24GiB")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    lora = next(line for line in lines if line.strip().startswith("blip2:opt-2.7b") and "lora(alpha=32" in line)
    assert "5,242,880 (0.14 %)" in lora  # BLIP-2 OPT-2.7B, LoRA r=16 on q_proj, v_proj
    # its peak at micro-batch 16 (22.6 GiB) is within 24 GiB but not within the 10 % headroom the header asks
    assert "22.60 GiB" in lora and "yes @8×2" in lora
    assert "planning blip2:opt-2.7b × full …" in result.output  # a progress line per pair (83 s on OPT-2.7B)
    full = next(line for line in lines if line.strip().startswith("blip2:opt-2.7b") and " full " in line)
    # weights + gradients + AdamW alone are 55.8 GiB: full fine-tuning does not fit 24 GiB at any micro-batch
    assert "3,744,679,936" in full and "41.85 GiB" in full and " no: " in full and full.rstrip().endswith("@1")
    qlora = next(line for line in lines if line.strip().startswith("blip2:opt-2.7b") and " qlora " in line)
    assert "yes @16×1" in qlora
    assert_one_line_error(invoke("plan", "--models", "blip3:x"), "unknown model 'blip3'")
    assert_one_line_error(invoke("plan", "--models", "vit:tiny", "--text-tokens", "0"), "--text-tokens")
    assert_one_line_error(invoke("plan", "--models", "vit:tiny", "--micro-batch", "3"), "does not divide")
    assert_one_line_error(invoke("plan", "--models", "vit:tiny", "--memory-limit", "12XB"), "cannot parse")
    assert_one_line_error(invoke("plan", "--models", "vit:tiny", "--memory-limit", "24GiB,none"), "or none alone")
    estimates = invoke("plan", "--models", "vit:tiny", "--methods", "full", "--memory-limit", "none")
    assert estimates.exit_code == 0 and "vit:tiny" in estimates.output and "fits" not in estimates.output


def test_plan_says_which_pairs_cannot_be_planned_and_fails_when_none_can(toy):
    result = invoke("plan", "--models", "toy", "--methods", "full")
    assert result.exit_code == 1, result.output
    assert "cannot plan toy × full: " in result.output and "model" not in result.output.split("cannot plan")[0]


def test_records_of_other_code_are_run_again(toy, toy_suite, tmp_path):
    """A record is reused only when the same code made it: the modules its run loaded, the plugins' packages,
    the machine's instruction set."""
    suite = toy_suite(["full"])
    assert invoke("run", "--suite", suite, "--results", tmp_path).exit_code == 0
    path = next((tmp_path / "toy").glob("*__*.json"))
    stored = json.loads(path.read_text())
    code = stored["identity"]["code"]
    assert "toyplugin" in stored["identity"]["plugins"] and "benchhub.train" in code and "toyplugin" in code
    assert not [m for m in code if m.startswith(("benchhub.cli", "benchhub.report", "benchhub.stats"))]
    assert stored["identity"]["machine"]["cpu_capability"]
    path.write_text(json.dumps({**stored, "identity": {**stored["identity"], "code": {**code, "benchhub.train": "0" * 12}}}))
    changed = invoke("run", "--suite", suite, "--results", tmp_path)
    assert "1 ran, 0 reused" in changed.output and "re-ran 1 recorded: code changed: benchhub.train" in changed.output
    assert json.loads(path.read_text())["identity"] == stored["identity"]  # replaced by the new run's record
    machine = {**stored["identity"]["machine"], "cpu_capability": "AVX2"}
    path.write_text(json.dumps({**stored, "identity": {**stored["identity"], "machine": machine}}))
    other = invoke("run", "--suite", suite, "--results", tmp_path)
    assert "re-ran 1 recorded: machine: cpu capability AVX2 → " in other.output
    old = {k: v for k, v in stored.items() if k not in ("identity", "scoring", "baseline")}
    path.write_text(json.dumps({**old, "schema_version": 1, "primary_metric": "accuracy"}))
    schema1 = invoke("run", "--suite", suite, "--results", tmp_path)
    assert "1 ran, 0 reused" in schema1.output and "recorded before benchhub kept the code" in schema1.output
    assert "0 ran, 1 reused" in invoke("run", "--suite", suite, "--results", tmp_path).output


def test_a_record_from_another_machine_is_re_measured_and_says_why(toy, toy_suite, tmp_path):
    """Another CPU is another device in the run id: the record is kept beside the new one, and the re-run names
    the difference; the leaderboard ranks this machine's run and lists the other below the table."""
    suite = toy_suite(["full"])
    assert invoke("run", "--suite", suite, "--results", tmp_path).exit_code == 0
    path = next((tmp_path / "toy").glob("*__*.json"))
    stored = json.loads(path.read_text())
    elsewhere = {**stored, "run_id": "0" * 16, "started_at": "2026-01-01T00:00:00+00:00",
                 "environment": {**stored["environment"], "device": "CPU Other (64 cores)"}}
    path.unlink()
    (path.parent / path.name.replace(stored["run_id"], "0" * 16)).write_text(json.dumps(elsewhere))
    again = invoke("run", "--suite", suite, "--results", tmp_path)
    assert "1 ran, 0 reused" in again.output
    assert "re-ran 1 recorded: measured elsewhere: device CPU Other (64 cores) → CPU " in again.output
    assert len(list((tmp_path / "toy").glob("*__*.json"))) == 2  # nothing overwritten
    board = (tmp_path / "toy" / "leaderboard.md").read_text()
    main = board.split("| Rank |")[1].split("\n\n")[0]
    assert main.count("| `full` |") == 1 and "device CPU Other (64 cores) → CPU " in board.split("Not ranked:")[1]
    shown = invoke("show", stored["run_id"], "--results", tmp_path).output
    assert "current: measured as benchhub measures today" in shown and "torch CPU capability" in shown
    old = invoke("show", "0" * 16, "--results", tmp_path).output
    assert "not current, set aside: device CPU Other (64 cores) → CPU " in old


def test_bitsandbytes_kernel_warning_does_not_reach_the_terminal():
    """bitsandbytes logs at import that it cannot fetch CPU kernels from the Hub; benchhub's processes import
    benchhub first, which quiets that logger (the forkserver preloads benchhub before peft)."""
    import subprocess
    import sys

    from benchhub.isolation import PRELOAD

    assert PRELOAD.index("benchhub") < PRELOAD.index("peft")
    out = subprocess.run([sys.executable, "-c", "import benchhub, peft, bitsandbytes"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "kernels-community" not in out.stderr + out.stdout
