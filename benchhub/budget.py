"""The budget every run of a suite shares, and memory sizes as people write them."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from benchhub.errors import UserError
from benchhub.schemas import LR_SCHEDULES, PRECISIONS, check_budget  # noqa: F401 - re-exported

_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
}


NO_LIMIT = type("NoLimit", (), {"__repr__": lambda self: "none"})()  # `--max-seconds none`: clear the suite's


def parse_memory(text) -> int | None:
    """'24GiB' -> 25769803776; 'none' -> None; plain integers are bytes."""
    if text is None:
        return None
    if isinstance(text, bool) or isinstance(text, float):
        raise UserError(f"cannot parse memory limit {text!r}; give a unit, e.g. \"4GiB\" (a bare integer is bytes)")
    if isinstance(text, int):
        value = text
    else:
        s = str(text).strip().lower().replace(" ", "")
        if s in ("none", "unlimited", ""):
            return None
        m = re.fullmatch(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)([a-z]*)", s, flags=re.ASCII)
        if not m or m.group(2) not in _UNITS and m.group(2) != "":
            raise UserError(
                f"cannot parse memory limit '{text}'; use a number with a unit such as 512MiB, 24GiB or 80GB"
            )
        try:
            value = int(float(m.group(1)) * _UNITS.get(m.group(2) or "b"))
        except OverflowError:
            value = 2**64
    if value > 2**60:
        raise UserError(f"memory limit '{str(text)[:40]}' is larger than any machine's; give at most 1 EiB")
    if value <= 0:
        raise UserError(f"memory limit must be positive, got '{text}'")
    return value


def format_bytes(n: int | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit == "GiB" else f"{n / size:.0f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Budget:
    """What every run of a suite gets: memory, effective batch, steps and schedule."""

    effective_batch: int = 16
    micro_batch: int = 16
    max_steps: int | None = 200
    max_epochs: float | None = None
    memory_limit_bytes: int | None = None
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.05
    max_grad_norm: float | None = 1.0
    weight_decay: float = 0.0
    max_seconds: float | None = None  # train wall-clock limit: stop cleanly, evaluate, mark the record
    threads: int | None = None  # CPU threads per run (torch intra-op); None: torch's default. Changes numerics.
    precision: str | None = None  # fp32 | bf16-mixed | frozen-bf16; None: the device's default (PRECISIONS)
    processes: int = 1  # data-parallel processes per run (`benchhub.distributed`); each takes 1/N of a batch

    def __post_init__(self):
        check_budget(asdict(self))  # every key's type, range and finiteness: `benchhub.schemas`

    @property
    def rank_batch(self) -> int:
        """The examples of each effective batch one process takes."""
        return self.effective_batch // self.processes

    @property
    def grad_accum_steps(self) -> int:
        """Micro-batches per optimizer step in each process: effective = micro × accumulation × processes."""
        return self.rank_batch // self.micro_batch

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps: max_steps, or max_epochs over n_train examples, whichever is smaller."""
        steps = []
        if self.max_steps is not None:
            steps.append(self.max_steps)
        if self.max_epochs is not None:
            steps.append(max(1, round(self.max_epochs * n_train / self.effective_batch)))
        return min(steps)

    def describe(self) -> str:
        parts = [
            f"effective batch {self.effective_batch} = {self.micro_batch} × {self.grad_accum_steps}"
            + (f" × {self.processes} processes" if self.processes > 1 else ""),
            f"{self.max_steps} steps" if self.max_steps else f"{self.max_epochs} epochs",
            *([f"at most {self.max_seconds:g} s of training"] if self.max_seconds else []),
            f"{self.lr_schedule} lr, {self.warmup_ratio:.0%} warm-up",
            f"memory limit {format_bytes(self.memory_limit_bytes) if self.memory_limit_bytes else 'none'}",
            *([f"{self.threads} CPU thread{'s' if self.threads > 1 else ''} per "
               f"{'process' if self.processes > 1 else 'run'}"] if self.threads else []),
            *([f"precision {self.precision}"] if self.precision else []),
        ]
        return ", ".join(parts)


def batching(budget: Budget) -> dict:
    return {"effective_batch": budget.effective_batch, "micro_batch": budget.micro_batch,
            "grad_accum_steps": budget.grad_accum_steps,
            **({"processes": budget.processes} if budget.processes > 1 else {})}
