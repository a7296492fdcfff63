"""The budget every run of a suite shares, and memory sizes as people write them."""
import pytest

from benchhub.budget import Budget, parse_memory
from benchhub.errors import UserError


@pytest.mark.parametrize("text,expected", [
    ("24GiB", 24 * 2**30), ("512MiB", 512 * 2**20), ("80GB", 80 * 10**9), ("1.5g", int(1.5 * 2**30)),
    ("1024", 1024), (4096, 4096), ("none", None), (None, None),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "24 parsecs", "-1GiB", "0", "GiB"])
def test_parse_memory_rejects(text):
    with pytest.raises(UserError, match="memory limit"):
        parse_memory(text)


def test_budget_arithmetic():
    b = Budget(effective_batch=32, micro_batch=8, max_steps=100)
    assert b.grad_accum_steps == 4
    assert b.total_steps(1000) == 100
    epochs = Budget(effective_batch=32, micro_batch=32, max_steps=None, max_epochs=2)
    assert epochs.total_steps(160) == 10
    both = Budget(effective_batch=10, micro_batch=5, max_steps=7, max_epochs=2)
    assert both.total_steps(100) == 7  # whichever limit comes first


@pytest.mark.parametrize("kwargs,message", [
    ({"effective_batch": -4}, "effective-batch must be a positive integer"),
    ({"micro_batch": 0}, "micro-batch must be a positive integer"),
    ({"effective_batch": 16, "micro_batch": 5}, "micro-batch 5 does not divide effective batch 16; choose one of 1, 2, 4, 8, 16"),
    ({"max_steps": None, "max_epochs": None}, "max_steps or max_epochs"),
    ({"max_steps": -3}, "max-steps must be a positive integer"),
    ({"lr_schedule": "cosin"}, "unknown lr_schedule 'cosin'"),
    ({"max_seconds": float("nan")}, "max-seconds must be a positive number"),
])
def test_budget_rejects(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        Budget(**kwargs)
