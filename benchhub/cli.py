"""The `benchhub` command line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from benchhub.errors import RunFailure, UserError


class _UserErrorExit(click.ClickException):
    exit_code = 2


class BenchhubGroup(click.Group):
    """Turns UserError anywhere below into one `Error: ...` line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserErrorExit(str(exc)) from None


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{option} expects comma-separated integers, got '{text}'") from None
    if not values:
        raise UserError(f"{option} expects at least one integer")
    return values


def _select(requested: str | None, available: tuple, parse) -> tuple | None:
    """`--methods lora,full`: suite entries matching a label or name, else a new component."""
    if requested is None:
        return None
    specs = parse(requested)
    if not specs:
        raise UserError(f"empty list '{requested}'; name at least one, e.g. lora,full")
    out = []
    for spec in specs:
        label = spec.label()
        exact = [s for s in available if s.label() == label]
        by_name = [s for s in available if s.name == spec.name] if not spec.options else []
        for s in exact or by_name or [spec]:
            if s not in out:
                out.append(s)
    return tuple(out)


def _resolve(registry, suite_name, methods, models, seeds, budget_changes):
    """A suite with the command line's selections and overrides applied, and its planned matrix."""
    from dataclasses import replace

    from benchhub.suite import load_suite, override_budget, parse_component_list, plan

    suite = load_suite(suite_name)
    suite = replace(
        suite,
        methods=_select(methods, suite.methods, parse_component_list) or suite.methods,
        models=_select(models, suite.models, parse_component_list) or suite.models,
        seeds=seeds or suite.seeds,
        budget=override_budget(suite.budget, **budget_changes),
    )
    matrix = plan(suite, registry)
    if not matrix.specs:
        reasons = "; ".join(f"{model}: {reason}" for model, _, reason in matrix.skipped)
        raise UserError(f"nothing to run: every model × dataset pair was skipped ({reasons})")
    return suite, matrix


@click.group(cls=BenchhubGroup)
@click.version_option(package_name="benchhub")
def cli():
    """Compare vision-language fine-tuning methods under the same budgets."""


@cli.command()
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Suite name in benchmarks/ or path to a TOML suite file.")
@click.option("--methods", help="Comma-separated methods, with options: 'lora(r=8,alpha=16),full'.")
@click.option("--models", help="Comma-separated models, e.g. 'blip2:tiny'.")
@click.option("--seed", type=int, help="Run one seed.")
@click.option("--seeds", help="Run several seeds: '0,1,2'.")
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory for records and leaderboards.")
@click.option("--max-steps", type=int, help="Optimizer steps per run (overrides the suite).")
@click.option("--effective-batch", type=int, help="Examples per optimizer step (overrides the suite).")
@click.option("--micro-batch", type=int, help="Examples per forward/backward (must divide the effective batch); "
                                             "under a memory limit, the largest one tried.")
@click.option("--max-seconds", type=float, help="Train wall-clock limit per run; the run stops cleanly and evaluates.")
@click.option("--memory-limit", help="Peak memory per run, e.g. 24GiB, 512MiB, none: the micro-batch shrinks "
                                    "until a measured step fits; runs that do not fit at 1 are recorded does-not-fit.")
@click.option("--force", is_flag=True, help="Re-run runs whose record already exists.")
@click.option("--timeout", "run_timeout", type=click.FloatRange(min=0, min_open=True),
              help="Kill a run after this many seconds (recorded failed).")
@click.option("--dry-run", is_flag=True, help="Print the resolved matrix (and skipped pairs) without running.")
@click.pass_context
def run(ctx, suite_name, methods, models, seed, seeds, results_dir, max_steps, effective_batch, micro_batch,
        max_seconds, memory_limit, force, run_timeout, dry_run):
    """Run every method × model × seed of a suite, each in its own process; write the leaderboard."""
    from rich.console import Console

    from benchhub import plugins
    from benchhub.records import parse_memory
    from benchhub.store import Store

    if seed is not None and seeds is not None:
        raise UserError("use either --seed or --seeds, not both")
    registry = plugins.registry()
    budget_changes = {"max_steps": max_steps, "effective_batch": effective_batch, "micro_batch": micro_batch,
                      "max_seconds": max_seconds}
    if memory_limit is not None:
        budget_changes["memory_limit_bytes"] = parse_memory(memory_limit)
    suite, matrix = _resolve(registry, suite_name, methods, models,
                             _ints(seeds, "--seeds") or ((seed,) if seed is not None else None), budget_changes)
    specs = matrix.specs
    store = Store(results_dir, suite.name)

    from benchhub import runner

    console = Console(stderr=True)
    device = runner.select_device()
    env = runner.environment(device)
    if dry_run:
        _print_plan(suite, matrix, store, env, force)
        return
    store.ensure_writable()
    from benchhub.matrix import run_matrix

    console.print(f"[bold]benchhub[/] suite [cyan]{suite.name}[/] · {len(specs)} runs · {env['device']}")
    console.print(f"budget: {suite.budget.describe()}")
    for model, method, reason in matrix.skipped:
        console.print(f"[yellow]    skipped[/] {model} · {method}: {reason}")
    outcome = run_matrix(specs, registry, store, env, device, console, force=force, timeout=run_timeout)
    n_failed = len(outcome.failed)
    click.echo(f"{len(outcome.records)} ran, {outcome.skipped} skipped, {n_failed} failed; "
               f"leaderboard: {outcome.leaderboard}")
    ctx.exit(1 if n_failed else 0)


@cli.command()
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Suite name in benchmarks/ or path to a TOML suite file.")
@click.option("--methods", help="Comma-separated methods (default: the suite's).")
@click.option("--models", help="Comma-separated models (default: the suite's).")
@click.pass_context
def check(ctx, suite_name, methods, models):
    """Self-check every model × method pair: image conditioning, freezing promises, exact accumulation."""
    from rich.console import Console
    from rich.table import Table

    from benchhub import plugins, runner
    from benchhub.matrix import classes_for

    registry = plugins.registry()
    suite, matrix = _resolve(registry, suite_name, methods, models, None, {})
    device = runner.select_device()
    table = Table("model", "method", "image Δlogit", "accumulation rel. error", "trainable", "result", box=None)
    failed = 0
    seen = set()
    for spec in matrix.specs:
        if (spec.model.name, spec.method_label) in seen:
            continue  # seeds do not change what is checked
        seen.add((spec.model.name, spec.method_label))
        result = runner.run_in_child("check", {"config": spec.config(), "classes": classes_for(spec, registry),
                                               "device": str(device)}, log_path=os.devnull)
        checks = result.get("checks", {})
        params = result.get("parameters") or {}
        ok = result["status"] == "ok"
        failed += not ok
        table.add_row(spec.model.name, spec.method_label,
                      f"{checks['image_conditioning_logit_change']:.3g}" if "image_conditioning_logit_change" in checks
                      else "–",
                      f"{checks['accumulation_rel_error']:.2e}" if "accumulation_rel_error" in checks else "–",
                      f"{params['trainable']:,}" if params else "–",
                      "ok" if ok else f"FAILED: {result.get('error')}")
    Console(width=200).print(table)
    click.echo(f"{len(seen) - failed} pairs passed, {failed} failed (accumulation tolerance 1e-5, float32, "
               f"4 micro-batches of 2 vs one batch of 8)")
    ctx.exit(1 if failed else 0)


@cli.command("plan")
@click.option("--models", required=True, help="Comma-separated models, e.g. 'blip2:opt-2.7b,vit:base'.")
@click.option("--methods", default="full,lora", show_default=True, help="Comma-separated methods, with options.")
@click.option("--memory-limit", "limits", default="24GiB,80GiB", show_default=True,
              help="Comma-separated memory limits to compare against.")
@click.option("--effective-batch", default=16, show_default=True, type=int, help="Effective batch of the budget.")
@click.option("--micro-batch", type=int, help="Largest micro-batch to try (default: the effective batch).")
@click.option("--text-tokens", default=32, show_default=True, type=int,
              help="Text tokens per example (caption or prompt + answer), image tokens not counted.")
@click.option("--precision", type=click.Choice(["bf16", "fp32"]), default="bf16", show_default=True,
              help="bf16: activations under bf16 autocast, as benchhub trains on CUDA; fp32: as on CPU.")
def plan_command(models, methods, limits, effective_batch, micro_batch, text_tokens, precision):
    """Parameters and estimated peak memory per model × method, without loading weights.

    Each model is built on the meta device from its config (shipped for the built-in real
    presets); one training step (forward, backward, AdamW) runs on fake tensors to estimate the
    peak bytes of tensors (what CUDA reports as allocated). For each memory limit it states the
    largest micro-batch (a divisor of the effective batch) whose estimate fits.
    """
    from rich.console import Console
    from rich.table import Table

    from benchhub import plugins
    from benchhub.planning import PairPlan
    from benchhub.records import Budget, format_bytes, parse_memory
    from benchhub.suite import _check_options, instantiate, parse_component_list, split_name

    registry = plugins.registry()
    limit_values = [(text.strip(), parse_memory(text)) for text in limits.split(",") if text.strip()]
    if not limit_values or any(v is None for _, v in limit_values):
        raise UserError(f"--memory-limit needs sizes to compare with, e.g. 24GiB,80GiB; got '{limits}'")
    budget = Budget(effective_batch=effective_batch, micro_batch=micro_batch or effective_batch)
    if text_tokens < 1:
        raise UserError(f"--text-tokens must be a positive integer, got {text_tokens}")
    model_specs, method_specs = parse_component_list(models), parse_component_list(methods)
    if not model_specs or not method_specs:
        raise UserError("plan needs at least one model and one method")
    runner_quiet()
    m = budget.micro_batch
    table = Table("model", "method", "total params", "trainable", "weights", "grads + AdamW",
                  f"activations/other @{m}", f"peak @{m}", *[f"fits {t}?" for t, _ in limit_values], box=None,
                  title=f"estimated tensor peak of one training step ({precision}, effective batch "
                        f"{budget.effective_batch}, {text_tokens} text tokens per example); 'yes @m×k' = "
                        "micro-batch m with k accumulation steps. Not included: the CUDA context and allocator "
                        "fragmentation (leave ~10 % headroom), or the CPU process's runtime (~350 MiB)")
    for model in model_specs:
        model_cls = registry.get("model", split_name(model.name)[0])
        _check_options("model", model_cls, {**split_name(model.name, model_cls)[1], **model.options}, model.name)
        for method in method_specs:
            method_cls = registry.get("method", split_name(method.name)[0])
            options = {k: v for k, v in method.options.items() if k != "lr"}
            _check_options("method", method_cls, {**split_name(method.name, method_cls)[1], **options}, method.name)
            try:
                pair = PairPlan(instantiate(model_cls, model.name, model.options),
                                instantiate(method_cls, method.name, options), text_tokens, precision,
                                budget.effective_batch)
                table.add_row(*_plan_row(pair, model.name, method.label(), budget, limit_values, format_bytes))
            except Exception as exc:  # noqa: BLE001 - a row says why, the other pairs still plan
                kind = "" if isinstance(exc, RunFailure) else f"{type(exc).__name__}: "
                table.add_row(model.name, method.label(), f"cannot plan: {kind}{str(exc).strip().splitlines()[0]}")
    Console(width=240).print(table)


def _plan_row(pair, model: str, method: str, budget, limits, fmt) -> list[str]:
    share = 100 * pair.trainable / pair.total if pair.total else 0
    static = pair.static()
    cells = [model, method, f"{pair.total:,}", f"{pair.trainable:,} ({share:.2f} %)", fmt(static["weights_bytes"]),
             fmt(static["gradients_and_optimizer_bytes"])]
    if not pair.trains:  # inference only: the weights (generation activations are not estimated)
        return cells + ["–", fmt(static["weights_bytes"]),
                        *["yes (no training)" if static["weights_bytes"] <= v else "no" for _, v in limits]]
    top = pair.step(budget.micro_batch)
    cells += [fmt(top["activations_other"]), fmt(top["peak_allocated"])]
    for _, limit in limits:
        chosen, est = pair.fits(limit, budget.micro_batch)
        cells.append(f"yes @{chosen}×{budget.effective_batch // chosen}" if chosen
                     else f"no: {fmt(est['peak_allocated'])} @1")
    return cells


def runner_quiet() -> None:
    import warnings

    from benchhub import runner

    runner._quiet_libraries()
    warnings.filterwarnings("ignore", category=FutureWarning)


def _print_plan(suite, matrix, store, env, force) -> None:
    """The dry run: every resolved run, whether it would run, and the skipped pairs with reasons."""
    from rich.console import Console
    from rich.table import Table

    from benchhub.store import DONE_STATUSES

    table = Table("model", "method", "seed", "lr", "µbatch × accum", "steps", "run id", "would", box=None,
                  title=f"suite {suite.name} · {env['device']} · {suite.budget.describe()}")
    for spec in matrix.specs:
        run_id = spec.config_hash(env)
        existing = store.find(run_id) if store.dir.is_dir() else None
        done = existing is not None and existing["status"] in DONE_STATUSES and not force
        table.add_row(spec.model.name, spec.method_label, str(spec.seed), f"{spec.lr:g}",
                      f"{spec.budget.micro_batch} × {spec.budget.grad_accum_steps}",
                      str(spec.budget.max_steps or f"{spec.budget.max_epochs} epochs"), run_id,
                      "skip (recorded)" if done else "run")
    for model, method, reason in matrix.skipped:
        table.add_row(model, method, "–", "–", "–", "–", "–", f"skip: {reason}")
    Console(width=200).print(table)
    click.echo(f"{len(matrix.specs)} runs planned, {len(matrix.skipped)} pairs skipped; nothing was run (--dry-run)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List every plugin: package, version, hooks and what it registers."""
    from benchhub import plugins as plugin_mod

    described = plugin_mod.describe_plugins()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "package", "hooks", "registers")
    for p in described:
        package = f"{p['package']} {p['version']}" if p["package"] else p["module"]
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registers"].items())
        table.add_row(p["name"], package, ", ".join(p["hooks"]), registers)
    Console(width=200).print(table)


@cli.command()
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--suite", "suite_name", help="Only this suite (default: every suite found).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Also print the Markdown.")
def report(results_dir, suite_name, to_stdout):
    """Regenerate leaderboard.md for each suite from its stored records."""
    from benchhub.report import write_leaderboard
    from benchhub.store import Store

    root = Path(results_dir)
    names = [suite_name] if suite_name else sorted(p.name for p in root.iterdir() if p.is_dir()) \
        if root.is_dir() else []
    stores = [Store(root, n) for n in names]
    stores = [s for s in stores if s.records()]
    if not stores:
        where = f"suite '{suite_name}' in {root}" if suite_name else str(root)
        raise UserError(f"no results found for {where}; run `benchhub run` first")
    for store in stores:
        path = write_leaderboard(store)
        click.echo(f"{path} ({len(store.records())} records)")
        if to_stdout:
            click.echo(path.read_text())


def _find_record(run: str, results_dir: str) -> tuple[dict, Path]:
    """A record by run id (or unique prefix) under the results directory, or by its file path."""
    from benchhub.store import read_record

    path = Path(run)
    if path.suffix == ".json" and path.is_file():
        record = read_record(path)
        if record is None:
            raise UserError(f"{run} is not a benchhub record")
        return record, path
    import glob

    root = Path(results_dir)
    matches = [p for p in sorted(root.glob(f"*/*__{glob.escape(run)}*.json"))
               if p.stem.rsplit("__", 1)[-1].startswith(run)] if run else []
    if not matches:
        raise UserError(f"no run '{run}' in {root}; `benchhub show` takes a run id (or a unique prefix) from "
                        f"a record's file name, or the record's path")
    if len(matches) > 1:
        raise UserError(f"run id '{run}' is ambiguous: {', '.join(p.stem.rsplit('__', 1)[-1] for p in matches[:5])}")
    record = read_record(matches[0])
    if record is None:
        raise UserError(f"{matches[0]} is not a readable benchhub record")
    return record, matches[0]


@cli.command()
@click.argument("run")
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def show(run, results_dir, as_json):
    """Show one run: status, metrics, timings, memory and its trainable-parameter manifest."""
    from benchhub.records import format_bytes

    record, path = _find_record(run, results_dir)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
        return
    c = record["config"]
    lines = [f"run {record['run_id']}  ({path})",
             f"  suite {c['suite']} · model {c['model']['name']} · method {c['method_label']} · seed {c['seed']}",
             f"  status {record['status']}" + (f": {record['error']}" if record.get("error") else "")]
    if record.get("metrics"):
        lines.append("  metrics " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(record["metrics"].items())))
    train = record.get("train") or {}
    if train:
        lines.append(f"  train {train['seconds']:.1f} s, {train['steps']} steps, {train['samples_per_second']} "
                     f"samples/s, lr {c['method']['lr']:g}, micro-batch {record['batching']['micro_batch']} × "
                     f"{record['batching']['grad_accum_steps']} accumulation")
    if record.get("eval"):
        lines.append(f"  eval {record['eval']['seconds']:.1f} s on {record['eval']['examples']} examples")
    memory = record.get("memory") or {}
    if memory.get("peak_bytes"):
        limit = f" (limit {format_bytes(memory['limit_bytes'])})" if memory.get("limit_bytes") else ""
        lines.append(f"  peak memory {format_bytes(memory['peak_bytes'])} [{memory['kind']}]{limit}")
    split = memory.get("split") or {}
    if split:
        parts = {"weights": "weights", "gradients": "gradients", "optimizer": "optimizer",
                 "activations_other": "activations/other", "peak_allocated": "step peak"}
        lines.append("  step memory " + ", ".join(f"{label} {format_bytes(split[f'{key}_bytes'])}"
                                                  for key, label in parts.items()))
    search = memory.get("search") or {}
    if search.get("trials"):
        tried = ", ".join(f"{t['micro_batch']} {'fits' if t['fits'] else 'no'}"
                          + (f" ({format_bytes(t['peak_bytes'])})" if t.get("peak_bytes") else "")
                          for t in search["trials"])
        lines.append(f"  micro-batch search {tried}; {search['seconds']:.2f} s")
    compute = record.get("compute") or {}
    if compute.get("flops_per_step"):
        mfu = f", MFU {100 * compute['mfu']:.2f} % of {compute['peak_flops_per_second'] / 1e9:,.0f} GFLOP/s " \
              f"({compute['peak_source']})" if compute.get("mfu") else f" (no MFU: {compute.get('peak_source')})"
        lines.append(f"  compute {compute['flops_per_step'] / 1e9:,.3f} GFLOP per step, "
                     f"{compute['achieved_flops_per_second'] / 1e9:,.2f} GFLOP/s{mfu}")
    params = record.get("parameters") or {}
    if params:
        lines.append(f"  parameters {params['trainable']:,} trainable of {params['total']:,}")
        lines.append(f"    {'component':<10} {'trainable':>12} {'total':>12} {'share':>8}")
        for name, counts in params.get("manifest", {}).items():
            share = 100 * counts["trainable"] / counts["total"] if counts["total"] else 0.0
            lines.append(f"    {name:<10} {counts['trainable']:>12,} {counts['total']:>12,} {share:>7.2f}%")
    if record.get("weights"):
        lines.append(f"  weights {path.parent / record['weights']}")
    for sample in (record.get("eval") or {}).get("samples", [])[:3]:
        lines.append(f"  e.g. {sample['prediction']!r}  (reference {sample['references'][0]!r})")
    click.echo("\n".join(lines))


@cli.command()
@click.argument("run")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
def predict(run, images, results_dir, batch_size):
    """Reload a run's fine-tuned weights and caption (or classify) new images."""
    from benchhub import plugins as plugin_mod

    record, path = _find_record(run, results_dir)
    if record["status"] in ("failed", "does-not-fit"):
        raise UserError(f"run {record['run_id']} {'failed' if record['status'] == 'failed' else 'did not fit'} "
                        f"({record.get('error')}); there is nothing to predict with")
    missing = [i for i in images if not Path(i).is_file()]
    if missing:
        raise UserError(f"image '{missing[0]}' does not exist")
    from PIL import Image, UnidentifiedImageError

    try:
        pictures = [Image.open(i).convert("RGB") for i in images]
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read image: {exc}") from None
    weights = path.parent / record["weights"] if record.get("weights") else None
    if record.get("train") and (weights is None or not weights.is_dir()):
        raise UserError(f"run {record['run_id']} has no saved weights (expected {weights}); re-run it with --force")
    from benchhub import runner
    from benchhub.matrix import classes_for
    from benchhub.records import run_spec_from_config
    from benchhub.suite import instantiate

    spec = run_spec_from_config(record["config"])
    classes = classes_for(spec, plugin_mod.registry())
    method = instantiate(classes["method"], spec.method.name, spec.method.options)
    runner._quiet_libraries()
    device = runner.select_device()
    try:
        bundle = runner.build_bundle(spec, classes, method, device)
        if weights is not None:
            bundle.load_trained(weights, method)
    except (RunFailure, OSError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load run {record['run_id']}: {message}") from None
    for image, output in zip(images, bundle.predict([{"image": p} for p in pictures], batch_size=batch_size)):
        click.echo(f"{image}\t{output}")


@cli.group()
def new():
    """Create a new plugin package from a template."""


@new.command("method")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(), help="Where to create it (default: ./benchhub-NAME).")
def new_method(name, directory):
    """Create a ready-to-install method plugin package: pyproject, module, test."""
    from benchhub import plugins as plugin_mod
    from benchhub.scaffold import new_method as scaffold

    registry = plugin_mod.registry()
    if name in registry.names("method"):
        raise UserError(f"method '{name}' already exists (plugin '{registry.owners[('method', name)]}'); "
                        f"choose another name")
    target = scaffold(name, Path(directory) if directory else None)
    click.echo(f"created {target}\nnext: pip install -e {target} && benchhub run --methods {name}")


def main(argv=None):
    """Console-script entry point."""
    import logging

    from benchhub import plugins as plugin_mod

    # bitsandbytes logs a harmless "Failed to load CPU gemm_4bit_forward ... 'kernels'" on import (NOTES)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

    try:
        for p in plugin_mod.load_plugins().hook.register_commands.get_hookimpls():
            p.function(cli=cli)
    except UserError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    cli.main(args=argv, prog_name="benchhub")


if __name__ == "__main__":
    main()
