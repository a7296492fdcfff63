"""Measuring memory: live tensor bytes, the CUDA cap, out-of-memory errors."""
import types

import pytest
import torch

from benchhub import memory


def test_tensor_memory_counts_live_storages_once():
    tracker = memory.tensor_memory()
    with tracker:
        a = torch.zeros(1024)  # 4 KiB
        view = a[:10]  # same storage: not counted again
        b = torch.ones(2048)  # 8 KiB
        del b
        c = torch.ones(256)  # 1 KiB
    assert tracker.peak == 4096 + 8192 and tracker.current == 4096 + 1024
    del a, view, c


def test_cuda_cap_is_the_limit_as_a_fraction(monkeypatch):
    calls = []
    fake_cuda = types.SimpleNamespace(
        get_device_properties=lambda device: types.SimpleNamespace(total_memory=80 * 2**30),
        set_per_process_memory_fraction=lambda fraction, device: calls.append((fraction, device)))
    monkeypatch.setattr(torch, "cuda", fake_cuda)
    device = types.SimpleNamespace(type="cuda")
    assert memory.cap_cuda_memory(device, 24 * 2**30) == pytest.approx(0.3)
    assert memory.cap_cuda_memory(device, 200 * 2**30) == 1.0
    assert memory.cap_cuda_memory(device, None) is None and len(calls) == 2


def test_out_of_memory_errors_are_recognised():
    assert memory.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert memory.is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"))
    assert not memory.is_out_of_memory(ValueError("out of memory"))  # only allocator errors
    assert not memory.is_out_of_memory(RuntimeError("a real bug"))
