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
    ({"effective_batch": -4}, "budget effective_batch must be greater than or equal to 1, got -4"),
    ({"micro_batch": 0}, "budget micro_batch must be greater than or equal to 1, got 0"),
    ({"effective_batch": 16, "micro_batch": 5}, "micro-batch 5 does not divide effective batch 16; choose one of 1, 2, 4, 8, 16"),
    ({"max_steps": None, "max_epochs": None}, "max_steps or max_epochs"),
    ({"max_steps": -3}, "budget max_steps must be greater than or equal to 1, got -3"),
    ({"max_steps": True}, "budget max_steps must be an integer, got true"),
    ({"lr_schedule": "cosin"}, "budget lr_schedule must be 'cosine', 'linear' or 'constant', got 'cosin'"),
    ({"max_seconds": float("nan")}, "budget max_seconds must be a finite number, got nan"),
    ({"max_epochs": float("inf")}, "budget max_epochs must be a finite number, got inf"),
    ({"max_grad_norm": float("nan")}, "budget max_grad_norm must be a finite number, got nan"),
    ({"weight_decay": float("nan")}, "budget weight_decay must be a finite number, got nan"),
    ({"threads": 100000}, "budget threads must be less than or equal to 1024, got 100000"),
    ({"effective_batch": 1000000000039, "micro_batch": 2}, "effective_batch must be less than or equal to 1048576"),
    ({"effective_batch": 720720, "micro_batch": 17017}, "choose one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, …"),
])
def test_budget_rejects(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        Budget(**kwargs)
