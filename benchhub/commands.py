"""Commands that look before running: what is installed (`methods`, `models`, `datasets`, `metrics`,
`suites`), what a pair needs (`plan`), and a new plugin to start from (`new`)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from benchhub.errors import UserError, one_line


def wide_console():
    """The console every command prints its tables on (wide enough for the leaderboard's columns)."""
    from rich.console import Console

    return Console(width=200)


def _escape(text) -> str:
    from rich.markup import escape

    return escape(str(text))


def listing_command(plural: str) -> click.Command:
    """`benchhub <plural> [NAME]`: every installed one, or one's options from its own signature and docstring."""
    from benchhub.catalog import KIND_NAMES

    kind = KIND_NAMES[plural]

    @click.command(plural, help=f"List the installed {plural}; with NAME, that {kind}'s options: type, default "
                                "and help, from the plugin's own signature and docstring.")
    @click.argument("name", required=False)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def command(name, as_json):
        from benchhub import catalog, plugins

        registry = plugins.registry()
        data = catalog.details(registry, kind, name) if name else catalog.listing(registry, kind)
        if as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        elif name:
            _print_details(kind, data)
        else:
            _print_listing(kind, data)

    return command


def _print_listing(kind: str, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    extra = {"method": "default lr", "model": "presets", "augmentation": "changes"}.get(kind)
    for header in ("name", *([extra] if extra else []), "what it is", "plugin"):
        table.add_column(header)
    for row in rows:
        more = {"method": lambda: f"{row['default_lr']:g}" if row.get("default_lr") else "–",
                "model": lambda: ", ".join(row["presets"]) or "–",
                "augmentation": lambda: ", ".join(row["changes"]) or "nothing"}.get(kind)
        table.add_row(*map(_escape, (row["name"], *([more()] if more else []), row["summary"], row["plugin"])))
    wide_console().print(table)
    click.echo(f"`benchhub {kind}s NAME` shows one's options.")


def _print_details(kind: str, data: dict) -> None:
    from rich.table import Table

    console = wide_console()
    console.print(f"[bold]{_escape(data['name'])}[/] ({kind}, plugin {_escape(data['plugin'])}): "
                  f"{_escape(data['summary'])}")
    if data.get("presets"):
        console.print(f"presets: {_escape(', '.join(data['presets']))} (as {_escape(data['name'])}:PRESET)")
    if data.get("default_lr"):
        console.print(f"default learning rate: {data['default_lr']:g}")
    if not data["options"]:
        console.print("no options")
        return
    table = Table(box=None, header_style="bold")
    for header in ("option", "type", "default", "help"):
        table.add_column(header)
    for option in data["options"]:
        table.add_row(*map(_escape, (option["name"], option["type"], option["default"], option["help"] or "–")))
    console.print(table)
    first = data["options"][0]
    flag = {"method": "--methods", "model": "--models"}.get(kind)
    if flag:
        console.print(_escape(f"set options as {flag} '{data['name']}({first['name']}=...)' or in a suite's "
                              f"[{kind}s.{data['name']}] table"))


@click.command("suites")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def suites_command(as_json):
    """List the suites `--suite NAME` finds (./benchmarks first, then benchhub's own)."""
    from rich.table import Table

    from benchhub.catalog import suites

    found = suites()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    table = Table(box=None, header_style="bold")
    for header in ("name", "description", "methods", "models"):
        table.add_column(header)
    for suite in found:
        table.add_row(*map(_escape, (suite["name"], suite["description"], len(suite["methods"]),
                                     ", ".join(suite["models"]))))
    wide_console().print(table)


@click.command("plan")
@click.option("--models", required=True, help="Comma-separated models, e.g. 'blip2:opt-2.7b,vit:base'.")
@click.option("--methods", default="full,lora", show_default=True, help="Comma-separated methods, with options.")
@click.option("--memory-limit", "limits", default="24GiB,80GiB", show_default=True,
              help="Comma-separated memory limits to compare against; none: estimates only.")
@click.option("--effective-batch", default=16, show_default=True, type=int, help="Effective batch of the budget.")
@click.option("--micro-batch", type=int, help="Largest micro-batch to try (default: the effective batch).")
@click.option("--text-tokens", default=32, show_default=True, type=int,
              help="Text tokens per example (caption or prompt + answer), image tokens not counted.")
@click.option("--precision", type=click.Choice(["bf16-mixed", "frozen-bf16", "fp32", "bf16"]), default="bf16-mixed",
              show_default=True, help="As the budget's precision: bf16-mixed (fp32 weights, bf16 autocast: CUDA's "
              "default), frozen-bf16 (frozen weights in bf16), fp32 (CPU's default); bf16 = bf16-mixed.")
def plan_command(models, methods, limits, effective_batch, micro_batch, text_tokens, precision):
    """Parameters and estimated peak memory per model × method, without loading weights.

    Each model is built on the meta device from its config (shipped for the built-in real
    presets); one training step (forward, backward, AdamW) runs on fake tensors to estimate the
    peak bytes of tensors (what CUDA reports as allocated). For each memory limit it states the
    largest micro-batch (a divisor of the effective batch) whose estimate fits.
    """
    from benchhub import plugins
    from benchhub.budget import Budget, parse_memory
    from benchhub.isolation import quiet_libraries
    from benchhub.planning import plan_table
    from benchhub.spec import parse_component_list

    registry = plugins.registry()
    limit_values = [(text.strip(), parse_memory(text)) for text in limits.split(",") if text.strip()]
    if any(v is None for _, v in limit_values) and len(limit_values) > 1:
        raise UserError(f"--memory-limit is sizes to compare with (24GiB,80GiB) or none alone; got '{limits}'")
    limit_values = [(text, v) for text, v in limit_values if v is not None]
    from benchhub.schemas import check_budget

    check_budget({"effective_batch": effective_batch, "micro_batch": micro_batch or effective_batch},
                 lambda loc: "--" + str(loc[0]).replace("_", "-") if loc else "budget")
    budget = Budget(effective_batch=effective_batch, micro_batch=micro_batch or effective_batch)
    if not 1 <= text_tokens <= 65536:
        raise UserError(f"--text-tokens must be an integer from 1 to 65536, got {text_tokens}")
    if effective_batch > 4096:
        raise UserError(f"--effective-batch {effective_batch}: plan estimates budgets up to 4096 examples per step "
                        "(peak memory does not grow with accumulation)")
    model_specs, method_specs = parse_component_list(models), parse_component_list(methods)
    if not model_specs or not method_specs:
        raise UserError("plan needs at least one model and one method")
    quiet_libraries()
    table, failed = plan_table(registry, model_specs, method_specs, budget, limit_values, text_tokens,
                               "bf16-mixed" if precision == "bf16" else precision,
                               progress=lambda text: click.echo(text, err=True))
    if table.row_count:
        wide_console().print(table, width=240)
    for model, method, why in failed:
        click.echo(f"cannot plan {model} × {method}: {why}", err=True)
    if not table.row_count:
        raise SystemExit(1)  # nothing could be planned


@click.group()
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
    click.echo(f"created {target}\nnext: pip install -e {target} && benchhub run --suite tiny --methods "
               f"zero-shot,full,{name} --results results-{name}")


@click.command("prepare")
@click.option("--suite", "suite_names", multiple=True,
              help="Prepare this suite's models (repeatable; default: every built-in suite of tiny models).")
@click.option("--rebuild", is_flag=True, help="Pre-train the shipped tiny checkpoints afresh into the package "
                                              "(maintainers: then re-measure results/).")
def prepare_models(suite_names, rebuild):
    """Make the suites' models ready before anything runs: a tiny preset is shipped pre-trained with the package
    (or, for a recipe you changed, pre-trained once and cached); with --rebuild, re-make the shipped ones."""
    from benchhub import plugins
    from benchhub.prepare import builtin_suites, prepare

    names = list(suite_names) or builtin_suites()
    changed = prepare(plugins.registry(), names, rebuild, click.echo)
    if rebuild:
        click.echo(f"{changed} shipped checkpoint(s) changed" + ("; re-measure results/ (runs start from them)"
                                                                  if changed else ""))


@click.command("show")
@click.argument("run")
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def show(run, results_dir, as_json):
    """Show one run: status, metrics, timings, memory and its trainable-parameter manifest.

    RUN is a run id (or a unique prefix), a record's path, or a method as the leaderboard names it
    (e.g. `lora`) when one run has that name."""
    from benchhub.report.console import show_text
    from benchhub.store import find_record

    record, path = find_record(run, results_dir)
    text = record.to_json() if as_json else show_text(record, path)
    click.echo("\n".join(one_line(line, limit=10**6) for line in text.splitlines()))  # a label may hold escapes


@click.command("predict")
@click.argument("run")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--results", "results_dir", default="results", show_default=True, type=click.Path(),
              help="Directory holding the suites' records.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Images per forward pass.")
def predict(run, images, results_dir, batch_size):
    """Reload a run's fine-tuned weights and caption (or classify) new images."""
    from benchhub import plugins
    from benchhub.predict import predict as predict_images
    from benchhub.store import find_record

    record, path = find_record(run, results_dir)
    for image, output in predict_images(record, path, list(images), batch_size, plugins.registry()):
        click.echo(f"{image}\t{output}")


def add_to(cli: click.Group) -> None:
    for plural in ("methods", "models", "datasets", "metrics", "augmentations"):
        cli.add_command(listing_command(plural))
    for command in (suites_command, plan_command, prepare_models, new, show, predict):
        cli.add_command(command)
