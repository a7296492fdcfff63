"""Console views: one run (`show`), the resolved matrix (`--dry-run`), self-checks, plugins, plans."""
from __future__ import annotations

from benchhub.budget import format_bytes
from benchhub.records import RunRecord
from benchhub.report.rows import busy_mark, group_key, status_text

SPLIT_LABELS = {"weights": "weights", "gradients": "gradients", "optimizer": "optimizer",
                "activations_other": "activations/other", "peak_allocated": "step peak"}


def show_text(record: RunRecord, path) -> str:
    """`benchhub show RUN`: status, metrics, timings, memory, compute, the parameter manifest, samples."""
    c = record.config
    lines = [f"run {record.run_id}  ({path})",
             f"  suite {c['suite']} · model {c['model']['name']} · method {c['method_label']} · seed {c['seed']}",
             f"  status {record.status}" + (f": {record.error}" if record.error else "")]
    if record.metrics:
        lines.append("  metrics " + ", ".join(f"{k} {_num(v, '.4f')}" for k, v in sorted(record.metrics.items())))
    for split, scored in sorted(record.scores.items()):
        lines.append(f"  {split} ({scored.get('examples', '?')} examples) "
                     + ", ".join(f"{k} {_num(v, '.4f')}" for k, v in sorted(scored.get("metrics", {}).items())))
    if record.selection:
        sel = record.selection
        lines.append(f"  lr {_num(sel.get('chosen'), 'g')} chosen on validation {sel.get('metric')} from the grid: "
                     f"{sel.get('summary', '')}")
    elif record.role == "sweep":
        lines.append("  a learning-rate sweep run: scored on the validation split only")
    if record.train:
        t, b = record.train, record.batching
        lines.append(f"  train {_num(t.get('seconds'), '.1f')} s, {t.get('steps', '?')} steps, "
                     f"{_num(t.get('samples_per_second'), 'g')} samples/s, lr {_num(c['method']['lr'], 'g')}, "
                     f"micro-batch {b.get('micro_batch', '?')} × {b.get('grad_accum_steps', '?')} accumulation")
        resume = t.get("resume") if isinstance(t.get("resume"), dict) else {}
        if resume.get("resumed_from_step") is not None:
            lines.append(f"  resumed from its training state at step {resume['resumed_from_step']} (killed or "
                         f"pre-empted before; {resume.get('states_saved', 0)} state(s) saved since)")
    if record.eval:
        lines.append(f"  eval {_num(record.eval.get('seconds'), '.1f')} s on {record.eval.get('examples', '?')} "
                     "examples")
    lines += _memory_lines(record.memory) + _compute_lines(record.compute or {})
    lines += _parameter_lines(record.parameters or {})
    if record.weights:
        lines.append(f"  weights {path.parent / record.weights}")
    lines += _identity_lines(record, path)
    for sample in (record.eval or {}).get("samples", [])[:3]:
        references = sample.get("references") or ["?"]
        lines.append(f"  e.g. {sample.get('prediction')!r}  (reference {references[0]!r})")
    return "\n".join(lines)


def _num(value, spec: str) -> str:
    """A number as `spec` formats it; '–' for a missing one (null: not finite, or not measured)."""
    return "–" if value is None else format(value, spec)


def _identity_lines(record: RunRecord, path) -> list[str]:
    """What the run's numbers depend on (`identity`), and whether its leaderboard ranks it (`currency`)."""
    from benchhub.report.currency import split

    env, ident = record.environment or {}, record.identity or {}
    machine = ident.get("machine") or env.get("machine") or {}
    lines = [f"  measured on {env.get('device')}" + (f", torch CPU capability {machine['cpu_capability']}"
                                                     if machine.get("cpu_capability") else "")
             + (f", {machine['gpu']} (driver {machine.get('driver')}, CUDA {machine.get('cuda')})"
                if machine.get("gpu") else "") + (f", commit {env['git_sha']}" if env.get("git_sha") else "")]
    checkpoint = ident.get("checkpoint") or {}
    if checkpoint:
        made = record.model_preparation or {}
        loss = f", pre-training loss {made['final_loss']:.6f}" if made.get("final_loss") is not None else ""
        lines.append(f"  checkpoint {checkpoint.get('key')}" + (f" sha256 {checkpoint['sha256']}" if
                                                                checkpoint.get("sha256") else "") + loss)
    if ident.get("code"):
        lines.append(f"  code: {len(ident['code'])} modules its processes loaded (hashes in the record's identity)")
    group = [r for r in _siblings(path) if group_key(r) == group_key(record)] or [record]
    table = split(group)
    reasons = next((why for r, why in table.stale if r.run_id == record.run_id), None)
    if reasons is not None:
        lines.append(f"  not current, set aside: {'; '.join(reasons)}")
    elif table.note:
        lines.append(f"  not current here: {table.note}")
    else:
        lines.append("  current: measured as benchhub measures today; its leaderboard ranks it")
    return lines


def _siblings(path) -> list[RunRecord]:
    """The records of the suite directory that holds `path` (the run's leaderboard table is among them)."""
    from pathlib import Path

    from benchhub.store import Store

    path = Path(path)
    try:
        return Store(path.parent.parent, path.parent.name).records()
    except (OSError, ValueError):
        return []


def _memory_lines(memory: dict) -> list[str]:
    lines = []
    if memory.get("peak_bytes"):
        limit = f" (limit {format_bytes(memory['limit_bytes'])})" if memory.get("limit_bytes") else ""
        lines.append(f"  peak memory {format_bytes(memory['peak_bytes'])} [{memory.get('kind', '?')}]{limit}")
    split = memory.get("split") or {}
    if split:
        lines.append("  step memory " + ", ".join(f"{label} {format_bytes(split.get(f'{key}_bytes'))}"
                                                  for key, label in SPLIT_LABELS.items()))
    search = memory.get("search") or {}
    if search.get("trials"):
        tried = ", ".join(f"{t.get('micro_batch')} {'fits' if t.get('fits') else 'no'}"
                          + (f" ({format_bytes(t['peak_bytes'])})" if t.get("peak_bytes") else "")
                          for t in search["trials"])
        lines.append(f"  micro-batch search {tried}; {_num(search.get('seconds'), '.2f')} s")
    return lines


def _compute_lines(compute: dict) -> list[str]:
    if not compute.get("flops_per_step"):
        return []
    mfu = f", MFU {100 * compute['mfu']:.2f} % of {(compute.get('peak_flops_per_second') or 0) / 1e9:,.0f} " \
          f"GFLOP/s ({compute.get('peak_source')})" if compute.get("mfu") else \
        f" (no MFU: {compute.get('peak_source')})"
    achieved = compute.get("achieved_flops_per_second")
    return [f"  compute {compute['flops_per_step'] / 1e9:,.3f} GFLOP per step, "
            f"{_num(achieved and achieved / 1e9, ',.2f')} GFLOP/s{mfu}"]


def _parameter_lines(params: dict) -> list[str]:
    if not params:
        return []
    lines = [f"  parameters {params['trainable']:,} trainable of {params['total']:,}",
             f"    {'component':<10} {'trainable':>12} {'total':>12} {'share':>8}"]
    for name, counts in params.get("manifest", {}).items():
        share = 100 * counts["trainable"] / counts["total"] if counts["total"] else 0.0
        lines.append(f"    {name:<10} {counts['trainable']:>12,} {counts['total']:>12,} {share:>7.2f}%")
    return lines


def escape(text: str) -> str:
    """Plugin- or data-provided text shown as itself in a rich table (no markup)."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))


def dry_run_table(suite, matrix, rows: list[tuple], device: str):
    """`run --dry-run`: every resolved run with what would happen to it, and the skipped pairs."""
    from rich.table import Table

    table = Table("model", "method", "seed", "lr", "µbatch × accum", "steps", "run id", "would", box=None,
                  title=f"suite {suite.name} · {device} · {suite.budget.describe()}")
    for spec, run_id, would in rows:
        later = run_id == "–"  # after a sweep: the chosen rate, every seed
        table.add_row(escape(spec.model.name), escape(spec.method_label), "all" if later else str(spec.seed),
                      "chosen" if later else f"{spec.lr:g}",
                      f"{spec.budget.micro_batch} × {spec.budget.grad_accum_steps}",
                      str(spec.budget.max_steps or f"{spec.budget.max_epochs} epochs"), run_id, would)
    for model, method, reason in matrix.skipped:
        table.add_row(escape(model), escape(method), "–", "–", "–", "–", "–", escape(f"skip: {reason}"))
    return table


def check_table(rows: list[tuple]):
    """`benchhub check`: one row per model × method with its self-check results."""
    from rich.table import Table

    table = Table("model", "method", "image Δlogit", "accumulation rel. error", "trainable", "result", box=None)
    for spec, result in rows:
        checks, params = result.get("checks", {}), result.get("parameters") or {}
        image = checks.get("image_conditioning_logit_change")
        accumulation = checks.get("accumulation_rel_error")
        table.add_row(escape(spec.model.name), escape(spec.method_label), "–" if image is None else f"{image:.3g}",
                      "–" if accumulation is None else f"{accumulation:.2e}",
                      f"{params['trainable']:,}" if params else "–",
                      "ok" if result["status"] == "ok" else escape(f"FAILED: {result.get('error')}"))
    return table


def plugins_table(described: list[dict]):
    from rich.table import Table

    table = Table("plugin", "package", "hooks", "registers")
    for p in described:
        package = f"{p['package']} {p['version']}" if p["package"] else p["module"]
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registers"].items())
        table.add_row(p["name"], package, ", ".join(p["hooks"]), registers)
    return table


def leaderboard_tables(records: list[RunRecord]) -> list:
    """The leaderboard's main columns as rich tables, one per model × dataset × budget (the file has all)."""
    from rich.table import Table

    from benchhub.report.ranking import boards

    tables = []
    for board in boards(records):
        primary, stats = board.primary, board.stats
        table = Table("Rank", "Method", f"{primary} (95 % CI)",
                      escape("Δ vs " + (stats.reference or {}).get("method", "–")), "Forgetting", "LR", "Train s",
                      "Peak memory", "Pareto", "Status", title=escape(f"{board.model} on {board.dataset}"),
                      title_justify="left")
        for row in stats.ordered():
            table.add_row(*_console_cells(row, stats, primary))
        caption = [board.note] if board.note else []
        if stats.reference is None:
            caption.append("Δ is –: the reference has no current ranked record here.")
        if not stats.has_source:
            caption.append("Forgetting is –: no run was scored on a source split ([source] in the suite).")
        elif board.without_baseline:
            caption.append(f"Forgetting is –: the baseline {board.group[0].baseline or '(none)'} has no current "
                           "ranked record here; run it beside the others.")
        if board.stale:
            caption.append(f"{len(board.stale)} record(s) not current are set aside, not ranked (see leaderboard.md)")
        if stats.seeding:
            caption.append(f"Adaptive seeds: ranks tested at {100 * stats.alpha:.2f} %; each row's seeds and why are "
                           "in leaderboard.md.")
        if caption:
            table.caption = escape(" ".join(caption))
        tables.append(table)
    return tables


def _console_cells(row: dict, stats, primary: str | None) -> list[str]:
    def diff_text(diff):
        return "–" if diff is None else f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]" \
            + (" *" if diff.significant else "")

    rank = stats.ranks.get(row["method"])
    mean, half = row[primary] if primary else (None, None)
    memory = row["memory"][0]
    return [("[bold]1[/]" if rank.alone else rank.text) if rank else "–",
            escape(row["method"]),
            "–" if mean is None else f"{mean:.3f}" + (f" ± {half:.3f}" if half is not None else "")
            + f" (n={len(row['records'])})",
            "reference" if row is stats.reference else diff_text(stats.differences.get(row["method"])),
            "baseline" if row is stats.baseline else diff_text(stats.forgetting.get(row["method"])),
            f"{row['lr']:g}" if row["trains"] else "–",
            busy_mark(f"{row['train_s'][0]:.1f}", row) if row["trains"] and row["train_s"][0] is not None else "–",
            format_bytes(int(memory)) if memory is not None else "–",
            ", ".join(k for k, v in stats.fronts.items() if row["method"] in v) or "–", status_text(row)]
