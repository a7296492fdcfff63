"""VQA accuracy: the standard min(#humans who gave the answer / 3, 1), averaged over annotator subsets."""
from __future__ import annotations

import re

import benchhub

_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_CONTRACTIONS = {"dont": "don't", "doesnt": "doesn't", "isnt": "isn't", "arent": "aren't", "cant": "can't",
                 "wont": "won't", "whats": "what's", "thats": "that's", "its": "it's"}
# the official VQA evaluation's punctuation list
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_DIGIT_COMMA = re.compile(r"(\d)(,)(\d)")


def normalize_answer(answer: str) -> str:
    """The VQA evaluation's answer normalisation: case, punctuation, articles, number words, contractions."""
    text = answer.lower().replace("\n", " ").replace("\t", " ").strip()
    for p in _PUNCT:  # as the official processPunctuation: glued punctuation vanishes, spaced becomes a space
        if (p + " " in text or " " + p in text) or _DIGIT_COMMA.search(text):
            text = text.replace(p, "")
        else:
            text = text.replace(p, " ")
    text = re.sub(r"(?<!\d)\.(?!\d)", "", text)  # periods, but not decimal points
    words = []
    for word in text.split():
        word = _NUMBERS.get(word, word)
        if word in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: list[str]) -> float:
    """Accuracy of one prediction against the human answers (10 in VQA v2; any number here)."""
    pred = normalize_answer(prediction)
    gold = [normalize_answer(a) for a in answers]
    if len(gold) == 1:
        return float(pred == gold[0])
    # average over leaving each annotator out, as the official evaluation does
    scores = []
    for i in range(len(gold)):
        others = gold[:i] + gold[i + 1:]
        scores.append(min(1.0, sum(a == pred for a in others) / 3.0))
    return sum(scores) / len(scores)


class VqaAccuracy(benchhub.Metric):
    """VQA accuracy (min(#matching humans / 3, 1) with the standard answer normalisation) and exact match."""

    name = "vqa-accuracy"
    task = "vqa"
    primary = "VQA accuracy"
    columns = ("VQA accuracy", "exact match")
    higher_is_better = True

    def compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        return self.score(predictions, references)[0]

    def score(self, predictions: list[str], references: list[list[str]]) -> tuple[dict, dict]:
        """Corpus scores and per-question "VQA accuracy" and "exact match" (their means are the corpus scores)."""
        pairs = list(zip(predictions, references))
        accuracy = [float(vqa_accuracy(p, refs)) for p, refs in pairs]
        exact = [float(normalize_answer(p) == normalize_answer(refs[0])) for p, refs in pairs]
        n = len(predictions) or 1
        scores = {"VQA accuracy": sum(accuracy) / n, "exact match": sum(exact) / n}
        return scores, {"VQA accuracy": accuracy, "exact match": exact}


@benchhub.hookimpl
def register_metrics(register):
    register(VqaAccuracy)
