"""The shared training loop: token-weighted gradient accumulation on a real BLIP-2, schedules."""
import pytest
import torch

from benchhub.budget import Budget
from benchhub.train import accumulate_gradients, batch_indices, lr_factor

SMALL = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "image_size": 32, "patch_size": 8,
         "num_query_tokens": 4, "vision_position_std": 0.5}


@pytest.fixture(scope="module")
def bundle():
    from benchhub_plugins.models.blip2 import Blip2Bundle, build_tiny

    model, processor = build_tiny(SMALL, seed=0)
    return Blip2Bundle(model, processor, torch.device("cpu"))


@pytest.fixture(scope="module")
def examples():
    from benchhub_plugins.datasets.shapes import generate

    data = generate("target", 8, seed=3)
    # very different caption lengths, so every micro-batch pads differently
    return [{"image": ex["image"],
             "text": ex["captions"][0] if i >= 4 else " ".join(ex["captions"][0].split()[:1 + i % 2])}
            for i, ex in enumerate(data)]


def _grads(bundle, micro_batches):
    bundle.model.zero_grad(set_to_none=True)
    loss, tokens = accumulate_gradients(bundle, micro_batches)
    grads = torch.cat([p.grad.flatten() for p in bundle.model.parameters() if p.grad is not None])
    return loss / tokens, grads


@pytest.mark.parametrize("micro", [1, 2, 4])
def test_accumulated_gradients_equal_full_batch(bundle, examples, micro):
    bundle.model.eval()  # dropout is 0 anyway; eval makes the comparison exact in intent
    full_loss, full = _grads(bundle, [bundle.collate(examples)])
    parts = [bundle.collate(examples[i:i + micro]) for i in range(0, len(examples), micro)]
    assert len({p["input_ids"].shape[1] for p in parts}) > 1 or micro == len(examples)
    acc_loss, acc = _grads(bundle, parts)
    assert acc_loss == pytest.approx(full_loss, rel=1e-6)
    rel = ((acc - full).abs().max() / full.abs().max()).item()
    assert rel <= 1e-5, rel


def test_mean_of_micro_batch_means_would_be_wrong(bundle, examples):
    """The check above can fail: the common per-micro-batch mean differs from the full batch."""
    _, full = _grads(bundle, [bundle.collate(examples)])
    bundle.model.zero_grad(set_to_none=True)
    parts = [bundle.collate(examples[i:i + 2]) for i in range(0, len(examples), 2)]
    for p in parts:
        loss, n = bundle.loss_sum(p)
        (loss / n / len(parts)).backward()
    naive = torch.cat([p.grad.flatten() for p in bundle.model.parameters() if p.grad is not None])
    assert ((naive - full).abs().max() / full.abs().max()).item() > 1e-3


def test_lr_schedules():
    cosine = lr_factor("cosine", warmup_steps=10, total_steps=110)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.5) and cosine(110) == pytest.approx(0.0, abs=1e-12)
    linear = lr_factor("linear", warmup_steps=0, total_steps=100)
    assert linear(50) == pytest.approx(0.5)
    assert lr_factor("constant", 0, 100)(99) == 1.0


def test_sampler_covers_each_epoch_once():
    stream = batch_indices(10, 4, seed=0)
    first = [i for _ in range(5) for i in next(stream)]  # 20 indices = 2 epochs
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:]) == list(range(10))
    again = batch_indices(10, 4, seed=0)
    assert next(again) == first[:4]


def test_train_loop_budget_and_stats(bundle, examples):
    from benchhub.train import train_loop

    budget = Budget(effective_batch=4, micro_batch=2, max_steps=3)
    stats = train_loop(bundle, examples, budget, lr=1e-3, seed=0)
    assert stats.steps == 3 and stats.samples == 12 and len(stats.losses) == 3
    assert stats.target_tokens > 0 and stats.seconds > 0
    assert not bundle.model.training


def test_accumulation_check_runs_in_float32(bundle, examples, monkeypatch):
    """On CUDA the training loop autocasts to bf16; the self-check must not (it checks normalisation)."""
    import benchhub.train as train_mod

    def no_autocast(device):
        raise AssertionError("the accumulation check must run without autocast")

    monkeypatch.setattr(train_mod, "autocast", no_autocast)
    assert train_mod.accumulation_error(bundle, examples) <= 1e-5


def test_empty_training_set_fails_instead_of_hanging(bundle):
    from benchhub.errors import RunFailure
    from benchhub.train import train_loop

    with pytest.raises(RunFailure, match="training set is empty"):
        train_loop(bundle, [], Budget(effective_batch=2, micro_batch=2, max_steps=1), lr=1e-3, seed=0)
