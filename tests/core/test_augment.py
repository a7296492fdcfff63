"""Augmentation policies (issue 25): plugins registered like methods, applied per step on the fly, deterministic
under the run's seed and step, and never falsifying a label: shapes rewrites a mirrored caption, and a colour
jitter (which could turn a red shape orange) is refused at plan time in one line."""
import pytest
import torch
from PIL import Image, ImageOps

from benchhub import plugins
from benchhub.augment import Augmenter, conflicts
from benchhub.spec import ComponentSpec, RunSpec
from cli_helpers import assert_one_line_error, invoke


def _policy(name, **options):
    return plugins.registry().create("augmentation", name, **options)


def _cls(kind, name):
    return plugins.registry().get(kind, name)


@pytest.mark.parametrize("policy, dataset, refused", [
    ("none", "shapes", None), ("light", "shapes", None), ("flip", "shapes", None),
    ("colour", "shapes", "changes hue, which the labels of dataset 'shapes' name"),
    ("strong", "shapes", "changes hue, rotation"),
    ("flip", "digits", "changes horizontal, which the labels of dataset 'digits' name"),
    ("flip", "shapes-classify", None), ("colour", "digits", None),
])
def test_a_policy_that_would_falsify_labels_is_refused(fresh_plugins, policy, dataset, refused):
    problem = conflicts(_cls("augmentation", policy), policy, _cls("dataset", dataset), dataset)
    assert problem is None if refused is None else refused in problem


def test_a_dataset_that_declares_nothing_takes_only_none(fresh_plugins):
    class Undeclared:
        depends_on = None
        rewrites = ()

    assert "does not declare what its labels depend on" in conflicts(_cls("augmentation", "light"), "light",
                                                                     Undeclared, "mine")
    assert conflicts(_cls("augmentation", "none"), "none", Undeclared, "mine") is None


def _shapes_train(n=16):
    dataset = plugins.registry().create("dataset", "shapes", train_size=n, eval_size=2, validation_size=2,
                                        source_size=2)
    return dataset, dataset.load(seed=0).train


def test_flip_mirrors_the_image_and_swaps_left_and_right_in_the_caption(fresh_plugins):
    dataset, train = _shapes_train(40)
    sided = [ex for ex in train if " left" in ex["text"] or " right" in ex["text"]]
    assert sided, "no caption with left or right in 40 shapes images"
    out = Augmenter(_policy("flip", p=1.0), dataset, seed=0)(sided, step=1)
    for before, after in zip(sided, out):
        assert list(after["image"].getdata()) == list(ImageOps.mirror(before["image"]).getdata())
        swapped = before["text"].replace("left", "@").replace("right", "left").replace("@", "right")
        assert after["text"] == swapped and after["text"] != before["text"]
    kept = Augmenter(_policy("flip", p=0.0), dataset, seed=0)(sided, step=1)
    assert [ex["text"] for ex in kept] == [ex["text"] for ex in sided]


def test_vqa_questions_and_answers_are_rewritten_too(fresh_plugins):
    dataset = plugins.registry().create("dataset", "shapes-vqa")
    example = {"image": Image.new("RGB", (32, 32)), "prompt": "question : where is the shape ? answer :",
               "text": "on the left"}
    assert dataset.rewrite(example, "horizontal")["text"] == "on the right"


def test_augmentation_is_deterministic_per_seed_and_step_and_leaves_training_randomness_alone(fresh_plugins):
    dataset, train = _shapes_train()
    augment = Augmenter(_policy("light"), dataset, seed=3)
    pixels = lambda examples: [list(ex["image"].getdata()) for ex in examples]  # noqa: E731
    torch.manual_seed(123)
    first = pixels(augment(train, step=5))
    after = torch.rand(3)
    torch.manual_seed(123)
    assert pixels(augment(train, step=5)) == first and torch.equal(torch.rand(3), after)  # the stream is untouched
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)
    assert pixels(augment(train, step=6)) != first  # another step, other draws
    assert pixels(Augmenter(_policy("light"), dataset, seed=4)(train, step=5)) != first  # another seed
    assert first != pixels(train)  # it does change the images
    assert [ex["text"] for ex in augment(train, step=5)] == [ex["text"] for ex in train]  # light keeps captions


def test_a_policy_is_part_of_the_config_and_none_keeps_the_run_id():
    base = RunSpec("s", ComponentSpec("lora"), ComponentSpec("m"), ComponentSpec("d"), ("acc",),
                   __import__("benchhub.budget", fromlist=["Budget"]).Budget(max_steps=5), 0, 1e-3)
    light = RunSpec.from_config({**base.config(), "augment": {"name": "light", "options": {"jitter": 0.1}}})
    assert "augment" not in base.config() and light.augment == ComponentSpec("light", {"jitter": 0.1})
    assert RunSpec.from_config(light.config()) == light
    assert light.config_hash({}) != base.config_hash({})


@pytest.mark.parametrize("args, needle", [
    (["--augment", "colour"], "augmentation 'colour' changes hue, which the labels of dataset 'shapes' name"),
    (["--augment", "strong"], "changes hue, rotation"),
    (["--augment", "blah"], "unknown augmentation 'blah'"),
    (["--augment", "flip(p=2)"], "flip: p must be in [0, 1], got 2"),
    (["--augment", ","], "--augment: empty list"),
    (["--augment", "light(jitter=x)"], "jitter"),
])
def test_bad_policies_are_one_line_errors_before_anything_runs(fresh_plugins, tmp_path, args, needle):
    assert_one_line_error(invoke("run", "--results", tmp_path, *args), needle)
    assert not (tmp_path / "default").exists()


def test_each_training_method_runs_under_each_policy(fresh_plugins, tmp_path):
    dry = invoke("run", "--methods", "zero-shot,full(lr=1e-3)", "--seeds", "0", "--augment", "none,flip,light",
                 "--dry-run", "--results", tmp_path)
    assert dry.exit_code == 0, dry.output
    out = " ".join(dry.output.split())
    assert "full(lr=0.001) + flip" in out and "full(lr=0.001) + light" in out and "zero-shot + " not in out
    assert "4 runs planned" in out  # zero-shot once (nothing to augment), full under each of 3 policies


def test_augmentations_are_listed_with_what_they_change(fresh_plugins):
    result = invoke("augmentations")
    assert result.exit_code == 0
    for name in ("none", "light", "strong", "colour", "flip"):
        assert name in result.output
    details = invoke("augmentations", "flip")
    assert details.exit_code == 0 and "the probability that an image is mirrored" in details.output
    assert "register_augmentations" in invoke("plugins").output


def test_an_augmented_run_trains_and_records_its_policy(fresh_plugins, tmp_path):
    result = invoke("run", "--suite", "tiny", "--methods", "lora", "--augment", "flip(p=0.5)", "--max-steps", "4",
                    "--results", tmp_path)
    assert result.exit_code == 0, result.output
    import json

    record = json.loads(next((tmp_path / "tiny").glob("*__*.json")).read_text())
    assert record["status"] == "ok" and record["config"]["augment"] == {"name": "flip", "options": {"p": 0.5}}
    assert record["config"]["method_label"] == "lora + flip(p=0.5)" and record["train"]["steps"] == 4
    assert "augmentations" in record["identity"]["plugins"] or any("augment" in m for m in record["identity"]["code"])
