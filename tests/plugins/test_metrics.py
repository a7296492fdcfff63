"""Metric plugins: pycocoevalcap scores, VQA accuracy, the evaluate bridge's offline error."""
import pytest

from benchhub.errors import RunFailure, UserError
from benchhub_plugins.metrics.coco_caption import CocoCaption, ptb_tokenize
from benchhub_plugins.metrics.evaluate_bridge import EvaluateBridge
from benchhub_plugins.metrics.vqa import VqaAccuracy, normalize_answer, vqa_accuracy

REFS = [["a red circle on the left", "a red circle at the left"], ["a blue star above a green square"]]


def test_coco_caption_matches_pycocoevalcap_run_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    preds = ["a red circle on the left", "a blue star below a green square"]
    metric = CocoCaption()
    scores = metric.compute(preds, REFS)
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(REFS)})
    res = tok.tokenize({i: [{"caption": p}] for i, p in enumerate(preds)})
    assert scores["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0])
    assert scores["BLEU-4"] == pytest.approx(Bleu(4).compute_score(gts, res)[0][3])
    assert 0 < scores["METEOR"] <= 1 and 0 < scores["ROUGE-L"] <= 1
    assert "SPICE" in metric.skipped and "spice_corenlp" in metric.skipped["SPICE"]


def test_one_tokenizer_pass_keeps_empty_predictions():
    gts, res = ptb_tokenize(REFS, ["", "a blue star"])
    assert res[0] == ["<empty>"] or res[0] == ["empty"]
    assert len(gts[0]) == 2 and res[1] == ["a blue star"]


def test_spice_jar_must_exist(tmp_path):
    with pytest.raises(UserError, match="spice_corenlp"):
        CocoCaption(spice_corenlp=str(tmp_path / "missing.jar"))


@pytest.mark.parametrize("answer,normal", [
    ("Two", "2"), ("a red circle.", "red circle"), ("Yes!", "yes"), ("the star", "star"), ("dont", "don't"),
    ("3.5", "3.5"),
])
def test_vqa_answer_normalisation(answer, normal):
    assert normalize_answer(answer) == normal


def test_vqa_accuracy_rule():
    ten = ["red"] * 3 + ["blue"] * 7
    # leave-one-out over 10 annotators: 3 'red' → 7 subsets with 3 matches, 3 subsets with 2
    assert vqa_accuracy("red", ten) == pytest.approx((7 * 1.0 + 3 * (2 / 3)) / 10)
    assert vqa_accuracy("blue", ten) == 1.0 and vqa_accuracy("green", ten) == 0.0
    assert vqa_accuracy("Two", ["2"]) == 1.0
    scores = VqaAccuracy().compute(["red", "2"], [["red"], ["two"]])
    assert scores == {"VQA accuracy": 1.0, "exact match": 1.0}


def test_evaluate_bridge_fails_clearly_offline(monkeypatch):
    bridge = EvaluateBridge(metric="sacrebleu")
    with pytest.raises(RunFailure) as info:
        bridge.compute(["a"], [["a"]])
    message = str(info.value)
    assert "\n" not in message
    assert "pip install evaluate" in message or "unreachable (offline?)" in message
    with pytest.raises(UserError, match="name a metric"):
        EvaluateBridge()
