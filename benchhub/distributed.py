"""One run on several processes (the budget's `processes`): data parallel through accelerate.

Every rank builds the same model from the same seed and draws the same effective batch from the
same seeded sampler; rank r takes the r-th slice of it. accelerate wraps the model in
DistributedDataParallel (gloo on CPU, NCCL on GPU), which averages the ranks' gradients once per
optimizer step (`no_sync` on the other micro-batches). The loss is divided by the target tokens
of the *whole* effective batch, summed over the ranks, so N processes compute the gradient one
process computes (up to the order of float additions). Rank 0 evaluates; the others only train.

`Single` is the one-process case, with the same methods doing nothing, so the training loop
reads the same either way.
"""
from __future__ import annotations

import contextlib
import os

def rank_environment(rank: int, world: int, port: int) -> dict:
    """The variables torch.distributed and accelerate read to join a process group on this machine."""
    return {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world)}


class Single:
    """One process: every collective is the identity."""

    rank, world = 0, 1

    def share(self, indices: list) -> list:
        return indices

    def total(self, value: float) -> float:
        return value

    def minimum(self, value: int) -> int:
        return value

    def either(self, flag: bool) -> bool:
        return flag

    def wrap(self, bundle) -> None:
        pass

    @contextlib.contextmanager
    def forward(self, bundle, sync: bool):
        yield

    def close(self) -> None:
        pass


class DataParallel(Single):
    """This process as rank `RANK` of `WORLD_SIZE` (the variables `rank_environment` sets)."""

    def __init__(self, device, threads: int | None):
        import torch
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        from benchhub.claims import usable_cores

        # the budget's threads, else the cores shared out; set before accelerate, which would pick its own
        threads = threads or max(1, usable_cores() // int(os.environ["LOCAL_WORLD_SIZE"]))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        # find_unused_parameters: a method may train parameters a forward does not reach (e.g. a head)
        self.accelerator = Accelerator(cpu=device.type == "cpu", kwargs_handlers=[
            DistributedDataParallelKwargs(find_unused_parameters=True)])
        torch.set_num_threads(threads)
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.device = self.accelerator.device
        self.model = None

    def share(self, indices: list) -> list:
        """This rank's slice of an effective batch (the budget makes it divide evenly)."""
        size = len(indices) // self.world
        return indices[self.rank * size:(self.rank + 1) * size]

    def _reduce(self, value, op):
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=op)
        return tensor.item()

    def total(self, value: float) -> float:
        import torch.distributed as dist

        return self._reduce(value, dist.ReduceOp.SUM)

    def minimum(self, value: int) -> int:
        import torch.distributed as dist

        return int(self._reduce(value, dist.ReduceOp.MIN))

    def either(self, flag: bool) -> bool:
        """True on every rank when it is True on any (e.g. one rank's clock passed max_seconds)."""
        import torch.distributed as dist

        return self._reduce(1.0 if flag else 0.0, dist.ReduceOp.MAX) > 0

    def wrap(self, bundle) -> None:
        """DistributedDataParallel around the bundle's model (rank 0's weights broadcast to all)."""
        self.model = self.accelerator.prepare_model(bundle.model, device_placement=False)

    @contextlib.contextmanager
    def forward(self, bundle, sync: bool):
        """The bundle computes through the DDP wrapper; gradients are averaged only when `sync`."""
        plain = bundle.model
        bundle.model = self.model
        try:
            with contextlib.nullcontext() if sync else self.model.no_sync():
                yield
        finally:
            bundle.model = plain

    def close(self) -> None:
        import torch.distributed as dist

        self.model = None
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def join(payload: dict, device, threads: int | None = None):
    """This process's place in its run: a rank of several (`rank_payloads` gave it one), else `Single`."""
    return DataParallel(device, threads) if payload.get("rank_environment") else Single()


def rank_payloads(payload: dict, processes: int) -> list[dict]:
    """One payload per rank, with the variables that join them into one process group on this machine."""
    import socket

    with socket.socket() as probe:  # a free port for rank 0's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [{**payload, "rank_environment": rank_environment(rank, processes, port)} for rank in range(processes)]


def merge_ranks(results: list[dict]) -> dict:
    """Rank 0's result (it evaluated), with the peak memory and training time of the slowest, largest rank
    and each rank's own."""
    merged = dict(results[0])
    peaks = [(r.get("memory") or {}).get("peak_bytes") for r in results]
    seconds = [(r.get("train") or {}).get("seconds") for r in results]
    if merged.get("memory") is not None and None not in peaks:
        merged["memory"] = {**merged["memory"], "peak_bytes": max(peaks), "per_rank_peak_bytes": peaks}
    train = merged.get("train")
    if train is not None and None not in seconds and max(seconds) > 0:
        slowest = max(seconds)
        merged["train"] = {**train, "seconds": slowest, "per_rank_seconds": seconds,
                           "samples_per_second": round(train["samples"] / slowest, 2),
                           "tokens_per_second": round(train["target_tokens"] / slowest, 1)}
    return merged
