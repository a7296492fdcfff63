"""Resumable training: a run's full training state saved every N optimizer steps (or every S seconds), and read
back when the run starts again after it was killed or pre-empted.

The state is what the next step depends on: the trained parameters and every buffer, the optimizer's and the
learning-rate scheduler's state, torch's (and CUDA's) and Python's random states, the data position (the step:
the sampler is replayed to it) and what the record reports (losses so far, target tokens, training seconds). A
resumed run is the same computation as an uninterrupted one, bit for bit on one machine (tests/e2e). The file
is written aside and renamed (a kill mid-write leaves the previous state), read with `weights_only=True`, and
used only when it belongs to this run: the same run id, planned steps and trainable parameter names and shapes.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

CUDA_DEFAULT_SECONDS = 600.0  # on a GPU without --checkpoint-every: a state every 10 minutes


class Resume:
    """Where one run's training state goes (`path`), and how often: every `every` steps, or `seconds`."""

    def __init__(self, path: str, run_id: str, every: int | None = None, seconds: float | None = None):
        self.path, self.run_id, self.every, self.seconds = Path(path), run_id, every, seconds
        self.last = time.monotonic()
        self.saved = 0
        self.resumed_from: int | None = None

    @classmethod
    def from_payload(cls, payload: dict | None, device) -> Resume | None:
        if not payload:
            return None
        every = payload.get("every")
        seconds = payload.get("seconds") or (CUDA_DEFAULT_SECONDS if every is None and device.type == "cuda"
                                             else None)
        return cls(payload["path"], payload["run_id"], every, seconds)  # neither: only a rung's state is saved

    def due(self, step: int, total: int, last: int | None = None) -> bool:
        """Whether to save after `step`: every `every` steps or `seconds`, and after the last step of a
        successive-halving rung (`last` < `total`), where its survivors go on."""
        if step >= total:
            return False  # the run is about to finish: its record is the state
        if step == last:
            return True
        if self.every and step % self.every == 0:
            return True
        return bool(self.seconds) and time.monotonic() - self.last >= self.seconds

    def _identity(self, total_steps: int, params: dict) -> dict:
        return {"run_id": self.run_id, "total_steps": total_steps,
                "params": [[name, list(p.shape)] for name, p in params.items()]}

    def save(self, step: int, total_steps: int, model, params: dict, optimizer, scheduler, progress: dict) -> None:
        import torch

        state = {"identity": self._identity(total_steps, params), "step": step,
                 "params": {n: p.detach().cpu().clone() for n, p in params.items()},
                 "buffers": {n: b.detach().cpu().clone() for n, b in model.named_buffers()},
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "rng": {"torch": torch.get_rng_state(),
                         "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                         "python": list(_python_state())},
                 **progress}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)
        self.saved += 1
        self.last = time.monotonic()

    def load(self, total_steps: int, model, params: dict, optimizer, scheduler, last: int | None = None) -> dict | None:
        """Restore the saved state into the live objects; returns the progress it recorded (None: nothing to
        resume from, a state of another run, or one past `last`, the step a halving rung stops after)."""
        import torch

        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable state: the run starts over
            return None
        if not isinstance(state, dict) or state.get("identity") != self._identity(total_steps, params) \
                or (last is not None and state["step"] > last):
            return None
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(state["params"][name].to(p.device))
            buffers = dict(model.named_buffers())
            for name, b in state["buffers"].items():
                if name in buffers:
                    buffers[name].copy_(b.to(buffers[name].device))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        version, internal, gauss = state["rng"]["python"]
        random.setstate((version, tuple(internal), gauss))
        self.resumed_from = state["step"]
        return state

    def restore(self, total_steps: int, model, params: dict, optimizer, scheduler, sampler,
                last: int | None = None) -> tuple:
        """(first step, losses so far, target tokens so far, training seconds so far): from the saved state when
        there is one of this run up to step `last` (the sampler replayed to its data position), else from the
        start."""
        state = self.load(total_steps, model, params, optimizer, scheduler, last)
        if state is None:
            return 1, [], 0, 0.0
        for _ in range(state["step"]):  # the data position: the sampler's draws so far
            next(sampler)
        return state["step"] + 1, list(state["losses"]), state["tokens"], state["seconds"]

    def report(self) -> dict:
        """What the record says about it: the step resumed from, and how many states were saved (nothing when
        neither happened)."""
        if self.resumed_from is None and not self.saved:
            return {}
        return {"resumed_from_step": self.resumed_from, "states_saved": self.saved}

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _python_state() -> tuple:
    version, internal, gauss = random.getstate()
    return version, list(internal), gauss


def state_path(results_dir: Path, run_id: str) -> Path:
    """`<results>/<suite>/resume/<run id>.pt`: beside the run's records, so a re-run finds it."""
    return Path(results_dir) / "resume" / f"{run_id}.pt"
