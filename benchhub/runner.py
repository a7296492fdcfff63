"""Runs each RunSpec in its own child process under its Budget and records what happened."""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

from benchhub.errors import RunFailure, UserError
from benchhub.records import SCHEMA_VERSION, RunSpec, run_spec_from_config
from benchhub.suite import instantiate, parse_component

# A forkserver with the heavy libraries imported once: ~0.8 s per child instead of ~6.5 s for
# spawn, and no OpenMP deadlock as with a plain fork after torch is loaded (see NOTES).
PRELOAD = ["torch", "transformers", "peft", "benchhub.train"]
_ctx = None


def mp_context():
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


# ---------------------------------------------------------------- environment


def select_device():
    """BENCHHUB_DEVICE (cpu, cuda, cuda:1) or CUDA when available, else CPU."""
    import torch

    wanted = os.environ.get("BENCHHUB_DEVICE")
    if not wanted:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except (RuntimeError, ValueError):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}' is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}' but this machine has {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"BENCHHUB_DEVICE='{wanted}': benchhub runs on cpu or cuda")
    return device


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model} ({os.cpu_count()} cores)"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device) -> dict:
    versions = {"python": platform.python_version()}
    for dist in ("benchhub", "torch", "transformers", "peft", "tokenizers", "bitsandbytes", "pycocoevalcap"):
        versions[dist] = _version(dist)
    return {"versions": versions, "device": device_name(device), "device_type": device.type,
            "platform": platform.platform(), "git_sha": git_sha()}


# ---------------------------------------------------------------- child side


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def _redirect_output(log_path: str | None) -> None:
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def peak_memory(device) -> dict:
    """The run process's peaks: CUDA allocator allocated/reserved; CPU resident set size."""
    from benchhub.memory import run_peak

    peaks = run_peak(device)
    if device.type == "cuda":
        return {"kind": "cuda", "peak_bytes": peaks["reserved"], "allocated_bytes": peaks["allocated"],
                "reserved_bytes": peaks["reserved"]}
    return {"kind": "cpu-rss", "peak_bytes": peaks["rss"]}


def build_bundle(spec: RunSpec, classes: dict, method, device):
    """The model plugin's bundle for a run, loaded quantized when the method asks for it."""
    model_plugin = instantiate(classes["model"], spec.model.name, spec.model.options)
    quantization = getattr(method, "quantization", None)
    if not quantization:
        return model_plugin.build(device, seed=spec.seed)
    import inspect

    if "quantization" not in inspect.signature(model_plugin.build).parameters:
        raise RunFailure(f"method '{spec.method.name}' needs a {quantization} base model, which model "
                         f"'{spec.model.name}' cannot load")
    bundle = model_plugin.build(device, seed=spec.seed, quantization=quantization)
    from benchhub.quantization import keep_trainable

    keep_trainable(bundle.model)
    return bundle


def check_claims(method, manifest: dict, name: str) -> None:
    """A method that says it freezes a component must leave nothing in it trainable."""
    for component in getattr(method, "freezes", ()):
        trainable = manifest.get(component, {}).get("trainable", 0)
        if trainable:
            raise RunFailure(f"method '{name}' claims to freeze '{component}' but leaves {trainable:,} "
                             f"of its parameters trainable")


def prepare_run(spec: RunSpec, classes: dict, device, phase=lambda *a: None):
    """Build the bundle, apply the method, and run the self-checks that need no training step.

    Checks: the image conditions the output; the method keeps its freezing promises and leaves
    something to train. `check_accumulation` is the third check (run after the memory search).
    """
    import torch

    method = instantiate(classes["method"], spec.method.name, spec.method.options)
    phase("phase", "building model")
    bundle = build_bundle(spec, classes, method, device)
    splits = classes["dataset"](**spec.dataset.options).load(seed=spec.seed)
    checks = {}
    if hasattr(bundle, "check_image_conditioning") and splits.train:
        checks["image_conditioning_logit_change"] = bundle.check_image_conditioning(splits.train[0])
    bundle.total_steps = spec.budget.total_steps(len(splits.train))
    torch.manual_seed(spec.seed)
    bundle = method.prepare(bundle) or bundle
    check_claims(method, bundle.manifest(), spec.method_label)
    if getattr(method, "trains", True) and bundle.parameter_counts()[0] == 0:
        raise RunFailure(f"method '{spec.method.name}' left no trainable parameters")
    return method, bundle, splits, checks


def check_accumulation(bundle, examples: list, checks: dict, phase=lambda *a: None) -> None:
    """k micro-batches must give the gradient of one batch (relative error ≤ 1e-5, float32)."""
    from benchhub.train import ACCUMULATION_TOLERANCE, accumulation_error

    phase("phase", "checking accumulation")
    error = accumulation_error(bundle, examples)
    checks["accumulation_rel_error"] = error
    if not error <= ACCUMULATION_TOLERANCE:
        raise RunFailure(f"accumulation check failed: {min(4, len(examples))} micro-batches give gradients "
                         f"{error:.2e} (relative) away from one batch (tolerance {ACCUMULATION_TOLERANCE:g}); "
                         "not ranked")


def _does_not_fit(spec: RunSpec, device, needed: int | None, lower_bound: bool, search: dict | None,
                  checks: dict, parameters: dict | None, data) -> dict:
    memory = peak_memory(device)
    memory.update(needed_bytes=needed, needed_is_lower_bound=lower_bound)
    if search is not None:
        memory["search"] = {k: search[k] for k in ("trials", "seconds")}
    from benchhub.records import format_bytes

    need = f"{'more than ' if lower_bound else ''}{format_bytes(needed)}"
    return {"status": "does-not-fit", "error": f"does not fit {format_bytes(spec.budget.memory_limit_bytes)} even at "
            f"micro-batch 1 (needs {need})", "checks": checks, "parameters": parameters, "memory": memory,
            "data": data}


def execute(spec: RunSpec, classes: dict, device, progress=None, weights_dir: str | None = None) -> dict:
    """Build, adapt, measure, train and evaluate one run in this process; returns the measured parts.

    With a memory limit the micro-batch is searched (see `memory.search_micro_batch`); a run that
    does not fit even at micro-batch 1 returns status "does-not-fit" with the memory it needed.
    """
    import dataclasses

    import torch

    from benchhub import memory as mem

    phase = progress or (lambda *a: None)
    limit = spec.budget.memory_limit_bytes
    torch.manual_seed(spec.seed)
    baseline_rss = mem.current_rss() if device.type == "cpu" else None
    if device.type == "cuda":
        torch.cuda.set_device(device)  # bf16 checks and synchronize then look at this device
        torch.cuda.reset_peak_memory_stats(device)
        mem.cap_cuda_memory(device, limit)
    try:
        method, bundle, splits, checks = prepare_run(spec, classes, device, phase)
    except Exception as exc:
        if limit is not None and mem.is_out_of_memory(exc):  # the weights alone do not fit
            return _does_not_fit(spec, device, limit, True, None, {}, None, None)
        raise
    trainable, total = bundle.parameter_counts()
    parameters = {"trainable": trainable, "total": total, "manifest": bundle.manifest()}
    trains = getattr(method, "trains", True)
    budget, search, compute = spec.budget, None, None
    if trains:
        phase("phase", "measuring memory")
        search = mem.search_micro_batch(bundle, splits.train, budget, log=lambda m: phase("phase", m))
        if search["micro_batch"] is None:
            return _does_not_fit(spec, device, search["needed_bytes"], search["needed_is_lower_bound"], search,
                                 checks, parameters, splits.info)
        budget = dataclasses.replace(budget, micro_batch=search["micro_batch"])
        with mem.uncapped(device, limit):  # a correctness check, not part of the budget (one batch of 8)
            check_accumulation(bundle, splits.train[:8], checks, phase)
        phase("phase", "counting FLOPs")
        from benchhub.train import batch_indices, collate_micro_batches

        first = next(batch_indices(len(splits.train), budget.effective_batch, spec.seed))
        micro = collate_micro_batches(bundle, [splits.train[i] for i in first], budget.micro_batch)
        count_start = time.perf_counter()
        flops = mem.step_flops(bundle, micro)
        count_seconds = time.perf_counter() - count_start
        del micro
    from benchhub.train import train_loop

    phase("phase", "training")
    stats = train_loop(bundle, splits.train, budget, spec.lr, spec.seed, method=method,
                       progress=lambda s, n, loss: phase("step", s, n, loss),
                       max_seconds=budget.max_seconds) if trains else None
    if stats:
        peak, source = mem.peak_flops(device, device_name(device))
        compute = mem.compute_record(flops, stats.steps, stats.seconds, peak, source, count_seconds)
    phase("phase", "evaluating")
    start = time.perf_counter()
    predictions, eval_batch = predict_within_memory(bundle, splits.eval, 64)
    gen_seconds = time.perf_counter() - start
    references = [ex["references"] for ex in splits.eval]
    scores = {}
    skipped_metrics = {}
    for label in spec.metrics:
        metric_spec = parse_component(label)
        metric = instantiate(classes["metrics"][label], metric_spec.name, metric_spec.options)
        scores.update(metric.compute(predictions, references))
        skipped_metrics.update(getattr(metric, "skipped", {}))
    eval_seconds = time.perf_counter() - start
    bad = [k for k, v in scores.items() if v != v]
    if bad:
        raise RunFailure(f"metric {bad[0]} is NaN")
    saved = weights_error = None
    if weights_dir and trains:
        try:  # the metrics are in hand: a failed save must not lose them
            bundle.save(weights_dir)
            saved = weights_dir
        except Exception as exc:
            traceback.print_exc()
            weights_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    train = None
    if stats:
        curve_every = max(1, len(stats.losses) // 50)
        train = {"seconds": round(stats.seconds, 3), "steps": stats.steps, "samples": stats.samples,
                 "samples_per_second": round(stats.samples / stats.seconds, 2) if stats.seconds else None,
                 "target_tokens": stats.target_tokens,
                 "tokens_per_second": round(stats.target_tokens / stats.seconds, 1) if stats.seconds else None,
                 "final_loss": stats.final_loss, "loss_curve": stats.losses[::curve_every],
                 "stopped_by": stats.stopped_by}
    memory = peak_memory(device)
    if baseline_rss is not None:
        memory["baseline_rss_bytes"] = baseline_rss  # the process before the model: libraries, runtime
    if search is not None:
        memory["split"] = mem.memory_split(search["probe"])
        memory["search"] = {k: search[k] for k in ("trials", "seconds")}
    return {
        "metrics": scores,
        "skipped_metrics": skipped_metrics,
        "checks": checks,
        "train": train,
        "eval": {"seconds": round(eval_seconds, 6), "generation_seconds": round(gen_seconds, 6),
                 "examples": len(predictions), "batch_size": eval_batch,
                 "samples": [{"prediction": p, "references": r} for p, r in zip(predictions[:5], references)]},
        "memory": memory,
        "compute": compute,
        "parameters": parameters,
        "batching": batching(budget),
        "data": splits.info,
        "weights": saved,
        "weights_error": weights_error,
    }


def predict_within_memory(bundle, examples: list, batch_size: int) -> tuple[list, int]:
    """Predictions in batches of `batch_size`, halved after each out-of-memory error (a CUDA cap)."""
    from benchhub.memory import is_out_of_memory, release_freed_memory

    while True:
        try:
            return bundle.predict(examples, batch_size=batch_size), batch_size
        except Exception as exc:  # noqa: BLE001
            if batch_size == 1 or not is_out_of_memory(exc):
                raise
        batch_size //= 2
        release_freed_memory(bundle.device, collect=True)


def batching(budget) -> dict:
    return {"effective_batch": budget.effective_batch, "micro_batch": budget.micro_batch,
            "grad_accum_steps": budget.grad_accum_steps}


def _child(task: str, payload: dict, events, result_path: str, log_path: str | None) -> None:
    _redirect_output(log_path)
    _quiet_libraries()

    last_step = [0.0]

    def send(*event):
        if event[0] == "step":  # at most ~10 progress updates a second, and always the last one
            now_ = time.monotonic()
            if now_ - last_step[0] < 0.1 and event[1] != event[2]:
                return
            last_step[0] = now_
        events.put(event)

    result: dict
    try:
        if task == "check":
            import torch

            spec = run_spec_from_config(payload["config"])
            method, bundle, splits, checks = prepare_run(spec, payload["classes"], torch.device(payload["device"]),
                                                         send)
            if getattr(method, "trains", True):
                check_accumulation(bundle, splits.train[:8], checks, send)
            trainable, total = bundle.parameter_counts()
            result = {"checks": checks, "parameters": {"trainable": trainable, "total": total}}
        elif task == "prepare":
            plugin = instantiate(payload["cls"], payload["name"], payload["options"])
            result = {"info": plugin.prepare(log=lambda m: send("phase", m),
                                             progress=lambda s, n, loss: send("step", s, n, loss))}
        else:
            import torch

            spec = run_spec_from_config(payload["config"])
            result = execute(spec, payload["classes"], torch.device(payload["device"]), send,
                             weights_dir=payload.get("weights_dir"))
        result.setdefault("status", "ok")
    except BaseException as exc:  # recorded, not raised: the matrix goes on
        traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        kind = "" if isinstance(exc, RunFailure) else f"{type(exc).__name__}: "
        result = {"status": "failed", "error": f"{kind}{message}"[:500]}
        try:
            result["memory"] = peak_memory(__import__("torch").device(payload.get("device", "cpu")))
        except Exception:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    tmp = result_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh, default=str)
    os.replace(tmp, result_path)


def run_in_child(task: str, payload: dict, on_event=None, log_path: str | None = None,
                 timeout: float | None = None) -> dict:
    """Run `task` in a fresh child process; a crash, kill or timeout becomes a failed result."""
    ctx = mp_context()
    events = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="benchhub-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        proc = ctx.Process(target=_child, args=(task, payload, events, result_path, log_path), daemon=True)
        proc.start()
        deadline = time.monotonic() + timeout if timeout else None
        try:
            while proc.is_alive() or not events.empty():
                if deadline and time.monotonic() > deadline and proc.is_alive():
                    proc.kill()
                    proc.join()
                    return {"status": "failed", "error": f"timed out after {timeout:g} s"}
                try:
                    event = events.get(timeout=0.1)
                except queue_mod.Empty:
                    continue
                if on_event:
                    on_event(*event)
        except KeyboardInterrupt:
            proc.kill()
            raise
        proc.join()
        if os.path.exists(result_path):
            with open(result_path) as fh:
                return json.load(fh)
        code = proc.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return {"status": "failed", "error": f"child process killed by {name}{hint}"}
        return {"status": "failed", "error": f"child process exited with code {code} without a result"}


# ---------------------------------------------------------------- parent side


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def make_record(spec: RunSpec, run_id: str, env: dict, result: dict, started: str, wall: float) -> dict:
    status = result.get("status", "failed")
    memory = result.get("memory") or {}
    limit = spec.budget.memory_limit_bytes
    if limit is not None:
        memory["limit_bytes"] = limit
    if status == "ok" and limit is not None and memory.get("peak_bytes", 0) > limit:
        status = "over-budget"
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "config": spec.config(),
        "status": status,
        "error": result.get("error"),
        "metrics": result.get("metrics", {}),
        "skipped_metrics": result.get("skipped_metrics") or {},
        "checks": result.get("checks") or {},
        "primary_metric": None,
        "train": result.get("train"),
        "eval": result.get("eval"),
        "memory": memory,
        "parameters": result.get("parameters"),
        "weights": result.get("weights"),
        "weights_error": result.get("weights_error"),
        "batching": result.get("batching") or batching(spec.budget),
        "compute": result.get("compute"),
        "data": result.get("data"),
        "environment": env,
        "started_at": started,
        "wall_seconds": round(wall, 2),
    }
