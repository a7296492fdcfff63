"""The `benchhub` command line: parses arguments and calls the core, nothing else."""
from __future__ import annotations

import json
import re
import sys

import click

from benchhub.errors import UserError, one_line


class _UserErrorExit(click.ClickException):
    exit_code = 2


class BenchhubGroup(click.Group):
    """Turns UserError anywhere below into one `Error: ...` line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            message = str(exc)
            if (ctx.obj or {}).get("verbose") and exc.__cause__ is not None:  # a plugin's bug: its traceback too
                click.echo("".join(__import__("traceback").format_exception(exc.__cause__)).rstrip(), err=True)
                message = message.replace(" (benchhub --verbose prints the traceback)", "")
            raise _UserErrorExit(one_line(message)) from None
        except KeyboardInterrupt:  # 130, as shells report an interrupted command; records written are whole
            click.echo("\ninterrupted: finished runs' records are kept; run the same command again to resume",
                       err=True)
            sys.exit(130)
        except click.UsageError as exc:  # click's own (a bad option value): one line too, with where to look
            where = exc.ctx.command_path if exc.ctx else "benchhub"
            raise _UserErrorExit(f"{exc.format_message()} (see `{where} --help`)") from None


class _Limit(click.ParamType):
    """A positive number of seconds, or `none`: no limit (over a suite's limit, too)."""

    name = "seconds|none"

    def convert(self, value, param, ctx):
        from benchhub.budget import NO_LIMIT

        if isinstance(value, str) and value.strip().lower() == "none":
            return NO_LIMIT
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds or none", param, ctx)
        if not 0 < number < float("inf"):
            self.fail(f"{value!r} must be a positive number of seconds, or none", param, ctx)
        return number


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        if not re.fullmatch(r"[0-9,\s+-]*", text, flags=re.ASCII):
            raise ValueError(text)
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{option} expects comma-separated integers, got '{text}'") from None
    if not values:
        raise UserError(f"{option} expects at least one integer")
    return values




@click.group(cls=BenchhubGroup)
@click.version_option(package_name="benchhub")
@click.option("--verbose", is_flag=True, help="When a plugin raises, print its traceback above the one-line error.")
@click.pass_context
def cli(ctx, verbose):
    """Compare vision-language fine-tuning methods under the same budgets."""
    ctx.obj = {"verbose": verbose}


@cli.command()
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Suite name in benchmarks/ or path to a TOML suite file.")
@click.option("--methods", help="Comma-separated methods, with options: 'lora(r=8,alpha=16),full'; a learning-rate "
                               "grid, chosen on the validation split: 'full(lr=[1e-4,3e-4,1e-3])'.")
@click.option("--models", help="Comma-separated models, with options: 'blip2:tiny', 'blip2(preset=tiny,layers=1)' "
                              "(a preset given as an option is the same model as its `name:preset`).")
@click.option("--seeds", help="Final seeds, the ranked runs: '0' or '0,1,2', or 'auto' (adaptive: 3 seeds, more "
                               "only while a method's rank is ambiguous, up to 8; 'auto:3-12' sets the range) "
                               "(default: the suite's).")
@click.option("--sweep-seeds", help="Seeds a learning-rate grid is swept with, disjoint from --seeds "
                                    "(default: the suite's sweep_seeds, else 1000).")
@click.option("--augment", help="Augmentation policies, each training method runs under each: 'none,light', "
                               "'flip(p=0.5)' (default: the suite's `augment`, else none; `benchhub augmentations`).")
@click.option("--train-sizes", help="Data budgets: every training method on nested, stratified subsets of these "
                                    "sizes, e.g. 30,100,300 (default: the suite's `train_sizes`, else all).")
@click.option("--sweep", type=click.Choice(["halving", "full"]), help="How a learning-rate grid is swept: halving "
              "(successive halving: every rate to 1/3 of its steps, the best third on) or full (every rate at full "
              "length) (default: the suite's `sweep`, else halving).")
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory for records and leaderboards.")
@click.option("--max-steps", type=int, help="Optimizer steps per run (overrides the suite).")
@click.option("--effective-batch", type=int, help="Examples per optimizer step (overrides the suite).")
@click.option("--micro-batch", type=int, help="Examples per forward/backward (must divide the effective batch); "
                                             "under a memory limit, the largest one tried.")
@click.option("--max-seconds", type=_Limit(), help="Train wall-clock limit per run; the run stops cleanly and "
                                                  "evaluates (none: no limit, over the suite's).")
@click.option("--memory-limit", help="Peak memory per run, e.g. 24GiB, 512MiB, none: the micro-batch shrinks "
                                    "until a measured step fits; runs that do not fit at 1 are recorded does-not-fit.")
@click.option("--force", is_flag=True, help="Re-run runs whose record already exists.")
@click.option("--checkpoint-every", type=click.IntRange(min=1, max=10**9), metavar="STEPS", help="Save each run's "
              "training state every STEPS steps; a killed run resumes from it when run again (default: the suite's "
              "[budget] checkpoint_every; on a GPU, every 10 minutes).")
@click.option("--timeout", "run_timeout", type=_Limit(), show_default="none",
              help="Kill a run after this many seconds (recorded failed).")
@click.option("--jobs", type=click.IntRange(min=1), help="Runs side by side, each in its own process "
                                                          "(default: the suite's `jobs`, else 1).")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads per run (part of the budget: it changes "
                                                            "the numerics; overrides the suite).")
@click.option("--processes", type=click.IntRange(min=1), help="Data-parallel processes per run (accelerate DDP; "
                                                              "effective batch = micro × accumulation × N).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: child processes here (GPUs: one run per visible device); ray: one Ray task per run.")
@click.option("--ray-address", help="Ray cluster to join (default: a local Ray instance).")
@click.option("--artifacts", type=click.Path(), help="Where Ray workers save run weights (shared storage); "
                                                    "default: on the worker, its node recorded.")
@click.option("--dry-run", is_flag=True, help="Print the resolved matrix (and skipped pairs) without running.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the paths of the leaderboard and report at the end.")
@click.pass_context
def run(ctx, suite_name, methods, models, seeds, sweep_seeds, augment, train_sizes, sweep, results_dir, max_steps, effective_batch, micro_batch,
        max_seconds, memory_limit, force, checkpoint_every, run_timeout, jobs, threads, processes, executor,
        ray_address, artifacts, dry_run, quiet):
    """Run every method × model × seed of a suite, each in its own process; write the leaderboard."""
    from rich.console import Console

    from benchhub import executors, plugins, seeding
    from benchhub import matrix as matrix_mod
    from benchhub.budget import NO_LIMIT, parse_memory
    from benchhub.device import select_device
    from benchhub.environment import environment
    from benchhub.store import Store
    from benchhub.suite import baseline_of, reference_of, resolve

    registry = plugins.registry()
    budget_changes = {"max_steps": max_steps, "effective_batch": effective_batch, "micro_batch": micro_batch,
                      "max_seconds": max_seconds, "threads": threads, "processes": processes}
    if memory_limit is not None:
        budget_changes["memory_limit_bytes"] = parse_memory(memory_limit)
    auto = seeding.parse(seeds) if seeds is not None and seeds.startswith("auto") else None
    suite, matrix = resolve(registry, suite_name, methods, models,
                            None if auto else _ints(seeds, "--seeds"), budget_changes, auto=auto, augment=augment,
                            train_sizes=_ints(train_sizes, "--train-sizes") or (),
                            check_data=not dry_run, sweep_seeds=_ints(sweep_seeds, "--sweep-seeds"), sweep=sweep)
    store = Store(results_dir, suite.name)
    device = select_device()
    env = environment(device)
    if executor == "local" or not dry_run:  # a dry run refuses what the run would (a Ray cluster is not started)
        runner, jobs = executors.make(executor, ray_address, artifacts, device, jobs, suite)
    if dry_run:
        _dry_run(suite, matrix, matrix_mod.dry_run(matrix.cells, registry, store, env, force), env["device"])
        return
    store.ensure_writable()
    console = Console(stderr=True, quiet=quiet)
    console.print(f"[bold]benchhub[/] suite [cyan]{suite.name}[/] · {'at least ' * bool(suite.auto_seeds)}"
                  f"{matrix.count()} runs · {env['device']}"
                  + (f" · {jobs} side by side" if jobs > 1 else "") + runner.describe())
    console.print(f"budget: {suite.budget.describe()}")
    for model, method, reason in matrix.skipped:
        console.print(f"[yellow]    skipped[/] {model} · {method}: {reason}")
    timeout = None if run_timeout is NO_LIMIT else run_timeout
    outcome = matrix_mod.run_matrix(matrix.cells, registry, store, env, device, console, force=force,
                                    timeout=timeout, baseline=baseline_of(suite, registry),
                                    reference=reference_of(suite, registry), jobs=jobs,
                                    total=matrix.count(), executor=runner,
                                    checkpoint_every=checkpoint_every or suite.checkpoint_every,
                                    seeding=suite.auto_seeds)
    _finish(outcome, store, quiet)
    ctx.exit(1 if outcome.failed or outcome.blocked else 0)


def _dry_run(suite, matrix, planned: list, device: str) -> None:
    """`run --dry-run`: the resolved matrix, whether the data are ready, how many runs; nothing run."""
    from benchhub.report.console import dry_run_table

    wide_console().print(dry_run_table(suite, matrix, planned, device))
    if matrix.data_problem:
        click.echo(f"data not ready (a run would refuse to start): {matrix.data_problem}")
    more = (f" (adaptive seeds: {suite.auto_seeds.low} per method, up to {suite.auto_seeds.high} while its rank "
            "is ambiguous)") if suite.auto_seeds else ""
    click.echo(f"{matrix.count()} runs planned{more}, {len(matrix.skipped)} pairs skipped; nothing was run "
               "(--dry-run)")


def _finish(outcome, store, quiet: bool) -> None:
    """The end of `run`: the leaderboard in the terminal (also when every run was reused) and where the
    files are; with --quiet only the paths."""
    outputs = [store.dir / name for name in ("leaderboard.md", "report.html", "leaderboard.csv")]
    if quiet:
        click.echo("\n".join(str(p) for p in outputs if p.exists()))
        return
    from benchhub.report.console import leaderboard_tables

    for table in leaderboard_tables(store.records()):
        wide_console().print(table)
    for line in outcome.reasons():
        click.echo(line)
    click.echo(outcome.summary())
    click.echo("also: " + ", ".join(str(p) for p in outputs[1:] if p.exists()))
    reused = sum(outcome.reused.values())
    if reused:
        click.echo(f"{reused} run{'s were' if reused > 1 else ' was'} reused from earlier records (same code, "
                   "libraries, machine and checkpoint); `--force` re-measures them.")


@cli.command()
@click.option("--suite", "suite_name", default="default", show_default=True,
              help="Suite name in benchmarks/ or path to a TOML suite file.")
@click.option("--methods", help="Comma-separated methods (default: the suite's).")
@click.option("--models", help="Comma-separated models (default: the suite's).")
@click.pass_context
def check(ctx, suite_name, methods, models):
    """Self-check every model × method pair: image conditioning, freezing promises, exact accumulation."""
    from benchhub import plugins
    from benchhub.device import select_device
    from benchhub.matrix import check_matrix
    from benchhub.report.console import check_table
    from benchhub.suite import resolve

    registry = plugins.registry()
    _, matrix = resolve(registry, suite_name, methods, models)
    rows = check_matrix(matrix.cells, registry, select_device())
    wide_console().print(check_table(rows))
    failed = sum(result["status"] != "ok" for _, result in rows)
    click.echo(f"{len(rows) - failed} pairs passed, {failed} failed (accumulation tolerance 1e-5, float32, "
               f"4 micro-batches of 2 vs one batch of 8)")
    ctx.exit(1 if failed else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List every plugin: package, version, hooks and what it registers."""
    from benchhub import plugins as plugin_mod
    from benchhub.report.console import plugins_table

    described = plugin_mod.describe_plugins()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    wide_console().print(plugins_table(described))


@cli.command()
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--suite", "suite_name", help="Only this suite (default: every suite found).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Markdown on stdout (the paths go to stderr).")
def report(results_dir, suite_name, to_stdout):
    """Regenerate leaderboard.md, report.html, leaderboard.csv and .json for each suite from its records."""
    from benchhub.report import write_leaderboard
    from benchhub.store import suite_stores

    for store in suite_stores(results_dir, suite_name):
        path = write_leaderboard(store)
        click.echo(f"{path} ({len(store.records())} records)", err=to_stdout)
        written = [p for p in (path.with_name(n) for n in ("report.html", "leaderboard.csv", "leaderboard.json"))
                   if p.is_file()] + sorted((store.dir / "plots").glob("*.png"))  # the PNGs linked from the .md
        click.echo("also: " + ", ".join(map(str, written)), err=to_stdout)
        unread = [bad for bad in store.unreadable() if bad.path.suffix == ".json"]
        if unread:
            click.echo(f"  left out {len(unread)} file(s) that are not records this benchhub understands (`benchhub "
                       f"run` sets them aside): " + "; ".join(f"{bad.path.name}: {bad.why}" for bad in unread[:3])
                       + ("; …" if len(unread) > 3 else ""), err=True)
        if to_stdout:
            click.echo(path.read_text())


@cli.command()
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--threshold", default=1.10, show_default=True, type=click.FloatRange(min=1.0, max=1e6),
              help="Fail when the median train time or peak memory over a run's quiet seeds grows by more than "
                   "this factor.")
@click.option("--pair", "pairs", multiple=True, metavar="OLD=NEW",
              help="Pair the old side's method label OLD with the new side's NEW (repeatable), e.g. "
                   "--pair 'lora=lora(r=16)'.")
def compare(old, new, threshold, pairs):
    """Compare two results directories (e.g. before and after an upgrade): exit 1 if quality got
    significantly worse or time / memory grew beyond --threshold.

    Runs pair by model × dataset × method name (the same label first, else the one run of that method on
    each side); --pair states a pairing. Timings on a busy machine are shown, never gated."""
    from benchhub.compare import compare as compare_dirs, parse_pairs

    if threshold != threshold:  # NaN passes click's range check and would turn the gate off
        raise UserError("--threshold must be a number from 1 to 1000000, got nan")

    result = compare_dirs(old, new, threshold, parse_pairs(pairs))
    click.echo("\n".join(result.lines))
    for reason in result.worse:
        click.echo(f"worse: {reason}", err=True)
    sys.exit(result.exit_code)


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


from benchhub.commands import add_to, wide_console  # noqa: E402 - the listing commands, after the group exists

add_to(cli)

if __name__ == "__main__":
    main()
