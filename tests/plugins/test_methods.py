"""Every built-in method on a small real BLIP-2: what trains, what it claims, save and exact reload."""
import json

import pytest
import torch
from click.testing import CliRunner

from benchhub.budget import Budget
from benchhub.checks import check_promises
from benchhub.cli import cli
from benchhub.pipeline import build_bundle
from benchhub.spec import ComponentSpec, RunSpec, parse_component
from benchhub.train import train_loop

SMALL = {"hidden": 32, "layers": 2, "heads": 2, "ffn": 64, "num_query_tokens": 4, "pretrain_images": 32,
         "pretrain_steps": 5, "pretrain_batch": 8}

# method -> components that must stay entirely frozen / must train
EXPECT = {
    "full": ((), ("vision", "bridge", "language")),
    "lora": (("vision", "bridge"), ("language",)),
    "frozen-top(k=1)": (("vision", "bridge", "head"), ("language",)),
    "frozen-top(k=1,tower=vision)": (("bridge", "language", "head"), ("vision",)),
    "frozen-top(k=2,tower=bridge,head=true)": (("vision",), ("bridge", "head")),
    "domain-head": (("vision", "bridge", "language"), ("head",)),
    "domain-head(kind=mlp,init=random)": (("vision", "bridge", "language"), ("head",)),
    "dora": (("vision", "bridge"), ("language",)),
    "ia3": (("vision", "bridge"), ("language",)),
    "vera": (("vision", "bridge"), ("language",)),
    "adalora": (("vision", "bridge"), ("language",)),
    "loha": (("vision", "bridge"), ("language",)),
    "lokr": (("vision", "bridge"), ("language",)),
    "oft": (("vision", "bridge"), ("language",)),
    "peft:hra": (("vision", "bridge"), ("language",)),
    "qlora": (("vision", "bridge"), ("language",)),
    "lora-int8": (("vision", "bridge"), ("language",)),
}


def _spec(label: str) -> RunSpec:
    method = parse_component(label)
    return RunSpec(suite="t", method=method, model=ComponentSpec("blip2:tiny", SMALL),
                   dataset=ComponentSpec("shapes", {"train_size": 16, "eval_size": 4}), metrics=(),
                   budget=Budget(effective_batch=4, micro_batch=2, max_steps=3), seed=0, lr=5e-2)


@pytest.fixture(scope="module")
def examples():
    from benchhub import plugins

    return plugins.registry().create("dataset", "shapes", train_size=16, eval_size=4).load().train


def _logits(bundle, examples):
    batch = {k: v.to(bundle.device) for k, v in bundle.collate(examples[:4]).items()}
    bundle.model.eval()
    with torch.no_grad():
        return bundle.model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"]).logits.float()


@pytest.mark.parametrize("label", sorted(EXPECT))
def test_method_trains_saves_and_reloads_exactly(fresh_plugins, label, examples, tmp_path):
    spec = _spec(label)
    classes = fresh_plugins.registry().classes_for(spec)
    method = classes.new_method(spec)
    bundle = build_bundle(spec, classes, method, torch.device("cpu"))
    before = _logits(bundle, examples)
    bundle.total_steps = 3
    torch.manual_seed(0)
    bundle = method.prepare(bundle) or bundle
    frozen, trained = EXPECT[label]
    manifest = bundle.manifest()
    for component in frozen:
        assert manifest[component]["trainable"] == 0, (component, manifest)
    for component in trained:
        assert manifest[component]["trainable"] > 0, (component, manifest)
    check_promises(method, bundle, label)
    stats = train_loop(bundle, examples, spec.budget, lr=spec.lr, seed=0, method=method)
    assert stats.steps == 3
    after = _logits(bundle, examples)
    assert (after - before).abs().max() > 1e-4, "training changed nothing"
    bundle.save(tmp_path / "weights")
    fresh_method = classes.new_method(spec)
    reloaded = build_bundle(spec, classes, fresh_method, torch.device("cpu"))
    reloaded.total_steps = 3
    reloaded.load_trained(tmp_path / "weights", fresh_method)
    # AdaLoRA saves its adapter with the pruned ranks cut out: the same function, summed over fewer
    # terms, so equal up to float rounding. Every other method reloads bit for bit.
    tolerance = 1e-6 if label == "adalora" else 0.0
    assert (_logits(reloaded, examples) - after).abs().max().item() <= tolerance
    assert reloaded.predict(examples[:2]) == bundle.predict(examples[:2])


def test_adalora_reallocates_rank_every_step(fresh_plugins, examples, monkeypatch):
    spec = _spec("adalora")
    classes = fresh_plugins.registry().classes_for(spec)
    method = classes.new_method(spec)
    bundle = build_bundle(spec, classes, method, torch.device("cpu"))
    bundle.total_steps = 3
    method.prepare(bundle)
    assert bundle.model.peft_config["default"].total_step == 3
    calls = []
    original = bundle.model.base_model.update_and_allocate
    monkeypatch.setattr(bundle.model.base_model, "update_and_allocate",
                        lambda step: (calls.append(step), original(step)))
    train_loop(bundle, examples, spec.budget, lr=1e-3, seed=0, method=method)
    assert calls == [1, 2, 3]


def test_quantized_methods_load_quantized_bases(fresh_plugins):
    import bitsandbytes as bnb

    for label, layer in (("qlora", bnb.nn.Linear4bit), ("lora-int8", bnb.nn.Linear8bitLt)):
        spec = _spec(label)
        classes = fresh_plugins.registry().classes_for(spec)
        method = classes.new_method(spec)
        bundle = build_bundle(spec, classes, method, torch.device("cpu"))
        q_proj = bundle.blocks("language")[0].self_attn.q_proj
        assert isinstance(q_proj, layer)
        method.prepare(bundle)
        trainable, total = bundle.parameter_counts()
        # logical parameter counts: the 4-bit packing does not shrink the reported total
        full = _spec("full")
        full_classes = fresh_plugins.registry().classes_for(full)
        full_total = build_bundle(full, full_classes, full_classes.new_method(full),
                                  torch.device("cpu")).parameter_counts()[1]
        assert total == full_total + trainable


def test_false_freeze_claim_is_caught(toy, toy_suite, tmp_path):
    """A method that says it freezes the head but trains it is refused, not ranked."""
    suite = toy_suite(["claims-frozen-head"])
    result = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--results", str(tmp_path)])
    assert result.exit_code == 1
    record = json.loads(next((tmp_path / "toy").glob("*__*.json")).read_text())
    assert record["status"] == "failed"
    assert record["error"] == "method 'claims-frozen-head' claims to freeze 'head' but leaves 15 of its parameters trainable"


@pytest.mark.parametrize("label,needle", [
    ("peft:lorra", "unknown peft type 'lorra'; did you mean 'lora'?"),
    ("dora(rank=4)", "dora: peft LoraConfig has no option 'rank'"),
    ("frozen-top(tower=neck)", "frozen-top: unknown tower 'neck'; available: language, vision, bridge"),
    ("frozen-top(k=0)", "frozen-top: k must be a positive integer"),
    ("domain-head(kind=tree)", "domain-head: unknown kind 'tree'"),
    ("peft", "peft: name a tuner type"),
])
def test_bad_method_options(fresh_plugins, tmp_path, label, needle):
    result = CliRunner().invoke(cli, ["run", "--suite", "tiny", "--methods", label, "--results", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {needle}" or needle in result.output.strip().splitlines()[0]
    assert len(result.output.strip().splitlines()) == 1


def test_unsupported_peft_type_is_refused_before_anything_runs(fresh_plugins):
    """Prompt-learning PEFT types need a task-specific PeftModel: known from the type alone, so refused at plan
    time (exit 2), not after a model was built (issue 15)."""
    from benchhub.errors import UserError

    spec = _spec("peft:prompt_tuning")
    classes = fresh_plugins.registry().classes_for(spec)
    with pytest.raises(UserError, match="prompt_tuning is a prompt-learning method"):
        classes.new_method(spec)


def test_quantization_needs_a_model_that_can_load_it(toy, toy_suite, tmp_path):
    suite = toy_suite(["qlora"])
    result = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--results", str(tmp_path)])
    record = json.loads(next((tmp_path / "toy").glob("*__*.json")).read_text())
    assert result.exit_code == 1
    assert record["error"] == "method 'qlora' needs a nf4 base model, which model 'toy' cannot load"


def test_show_and_predict(fresh_plugins, tmp_path):
    results = tmp_path / "results"
    ran = CliRunner().invoke(cli, ["run", "--suite", "tiny", "--methods", "lora,zero-shot", "--results", str(results)])
    assert ran.exit_code == 0, ran.output
    records = {json.loads(p.read_text())["config"]["method"]["name"]: json.loads(p.read_text())
               for p in (results / "tiny").glob("*__*.json")}
    lora = records["lora"]
    assert (results / "tiny" / lora["weights"] / "adapter_model.safetensors").is_file()
    assert (results / "tiny" / lora["weights"] / "adapter_config.json").is_file()
    shown = CliRunner().invoke(cli, ["show", lora["run_id"][:8], "--results", str(results)])
    assert shown.exit_code == 0, shown.output
    assert "component" in shown.output and "vision" in shown.output and "0.00%" in shown.output
    from benchhub_plugins.datasets.shapes import generate

    paths = []
    for i, ex in enumerate(generate("target", 2, seed=5)):
        ex["image"].save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    for run_id in (lora["run_id"], records["zero-shot"]["run_id"]):
        out = CliRunner().invoke(cli, ["predict", run_id, *paths, "--results", str(results)])
        assert out.exit_code == 0, out.output
        lines = out.output.strip().splitlines()
        assert [line.split("\t")[0] for line in lines] == paths
        assert all(line.split("\t")[1].startswith("a ") for line in lines)
    bad = CliRunner().invoke(cli, ["predict", lora["run_id"], str(tmp_path / "nope.png"), "--results", str(results)])
    assert bad.exit_code == 2 and "image '" in bad.output and "does not exist" in bad.output
    missing = CliRunner().invoke(cli, ["show", "ffffffff", "--results", str(results)])
    assert missing.exit_code == 2 and "no run 'ffffffff'" in missing.output
