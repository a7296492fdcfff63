"""Per-example scores from Metric.score: one float per prediction, in prediction order, from the same pass."""
import json

import pytest

from benchhub_plugins.metrics import coco_caption
from benchhub_plugins.metrics.classification import Classification
from benchhub_plugins.metrics.coco_caption import CocoCaption
from benchhub_plugins.metrics.vqa import VqaAccuracy

REFS = [
    ["a red circle on the left", "a red circle at the left"],
    ["a blue star above a green square", "a green square below a blue star"],
    ["two yellow triangles side by side", "a pair of yellow triangles"],
    ["a black dog runs on the grass", "a dog running across a lawn"],
]
PREDS = [
    "a red circle on the left",  # perfect: a reference verbatim
    "a blue star below a green square",
    "a cat sleeping on a sofa",  # wrong
    "a black dog on the grass",
]
COCO_KEYS = {"CIDEr", "BLEU-4", "ROUGE-L"}


def _swap(items, i, j):
    items = list(items)
    items[i], items[j] = items[j], items[i]
    return items


def _assert_plain_floats(per_example, n):
    for name, values in per_example.items():
        assert isinstance(values, list) and len(values) == n, name
        assert all(type(v) is float for v in values), name
    json.dumps(per_example)


@pytest.fixture(scope="module")
def coco():
    return CocoCaption(meteor=False).score(PREDS, REFS)


def test_coco_per_example_keys_and_types(coco):
    scores, per_example = coco
    assert set(per_example) == COCO_KEYS
    assert "METEOR" not in per_example and "SPICE" not in per_example
    _assert_plain_floats(per_example, len(PREDS))
    assert all(type(v) is float for v in scores.values())


def test_coco_per_example_cider_and_rouge_average_to_corpus(coco):
    scores, per_example = coco
    assert sum(per_example["CIDEr"]) / len(PREDS) == pytest.approx(scores["CIDEr"])
    assert sum(per_example["ROUGE-L"]) / len(PREDS) == pytest.approx(scores["ROUGE-L"])


def test_coco_perfect_caption_beats_wrong_one(coco):
    _, per_example = coco
    cider = per_example["CIDEr"]
    assert cider[0] > cider[2] and cider[0] == max(cider)
    assert per_example["BLEU-4"][0] == pytest.approx(1.0) and per_example["BLEU-4"][0] > per_example["BLEU-4"][2]
    assert per_example["ROUGE-L"][0] == pytest.approx(1.0) and per_example["ROUGE-L"][0] > per_example["ROUGE-L"][2]


def test_coco_per_example_lists_follow_prediction_order(coco):
    _, per_example = coco
    # swap two examples (prediction with its references): corpus CIDEr-D's IDF is order-free, so every
    # per-example list swaps the same two entries and nothing else changes
    swapped_scores, swapped = CocoCaption(meteor=False).score(_swap(PREDS, 0, 2), _swap(REFS, 0, 2))
    for name in COCO_KEYS:
        assert swapped[name] == pytest.approx(_swap(per_example[name], 0, 2)), name
    assert swapped_scores["CIDEr"] == pytest.approx(coco[0]["CIDEr"])


def test_coco_maps_pycocoevalcap_order_back_to_predictions(coco, monkeypatch):
    # pycocoevalcap returns per-image scores in its dicts' key order: feed it the keys in reverse insertion
    # order and the per-example lists must still come back in prediction order
    tokenize = coco_caption.ptb_tokenize

    def reversed_keys(references, predictions):
        gts, res = tokenize(references, predictions)
        return dict(reversed(gts.items())), dict(reversed(res.items()))

    monkeypatch.setattr(coco_caption, "ptb_tokenize", reversed_keys)
    _, per_example = CocoCaption(meteor=False).score(PREDS, REFS)
    for name in COCO_KEYS:
        assert per_example[name] == pytest.approx(coco[1][name]), name


def test_coco_per_example_match_pycocoevalcap_per_image(coco):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    with coco_caption._quiet():
        gts, res = coco_caption.ptb_tokenize(REFS, PREDS)
        _, cider = Cider().compute_score(gts, res)
        _, bleu = Bleu(4).compute_score(gts, res)
    assert coco[1]["CIDEr"] == pytest.approx([float(c) for c in cider])
    assert coco[1]["BLEU-4"] == pytest.approx(bleu[3])


def test_coco_compute_is_score_corpus(coco):
    assert CocoCaption(meteor=False).compute(PREDS, REFS) == coco[0]


VQA_PREDS = ["red", "2", "a dog", "blue", "yes"]
VQA_REFS = [["red"], ["two"], ["dog", "dog", "cat", "dog"], ["green"], ["yes", "no", "no", "no"]]


def test_vqa_per_example_means_are_corpus():
    metric = VqaAccuracy()
    scores, per_example = metric.score(VQA_PREDS, VQA_REFS)
    assert set(per_example) == {"VQA accuracy", "exact match"}
    _assert_plain_floats(per_example, len(VQA_PREDS))
    for name in per_example:
        assert sum(per_example[name]) / len(VQA_PREDS) == pytest.approx(scores[name])
    assert per_example["exact match"] == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert per_example["VQA accuracy"][:4] == pytest.approx([1.0, 1.0, 0.75, 0.0])  # 3 of 4 annotators: leave-one-out
    assert 0.0 < per_example["VQA accuracy"][4] < 1.0
    assert metric.compute(VQA_PREDS, VQA_REFS) == scores
    _, swapped = metric.score(_swap(VQA_PREDS, 0, 3), _swap(VQA_REFS, 0, 3))
    assert swapped == {name: _swap(values, 0, 3) for name, values in per_example.items()}


def test_classification_per_example_accuracy():
    preds = ["cat", "dog", "dog", "bird", "fish"]
    refs = [["cat"], ["cat"], ["dog"], ["bird"], ["fish"]]
    metric = Classification()
    scores, per_example = metric.score(preds, refs)
    assert set(per_example) == {"accuracy"}  # macro-F1 has no per-example value
    _assert_plain_floats(per_example, len(preds))
    assert per_example["accuracy"] == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert sum(per_example["accuracy"]) / len(preds) == pytest.approx(scores["accuracy"])
    assert metric.compute(preds, refs) == scores
    assert metric.score([], []) == ({"accuracy": 0.0, "macro-F1": 0.0}, {"accuracy": []})
