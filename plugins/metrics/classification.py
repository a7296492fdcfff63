"""Classification accuracy and macro-F1."""
import benchhub


class Classification(benchhub.Metric):
    """Accuracy and macro-averaged F1 over the labels present in references or predictions."""

    name = "classification"
    task = "classify"
    primary = "accuracy"
    columns = ("accuracy", "macro-F1")
    higher_is_better = True

    def compute(self, predictions: list, references: list) -> dict:
        return self.score(predictions, references)[0]

    def score(self, predictions: list, references: list) -> tuple[dict, dict]:
        """Corpus accuracy and macro-F1, plus per-example "accuracy" (1.0 / 0.0); macro-F1 has none."""
        truth = [refs[0] for refs in references]
        pairs = list(zip(predictions, truth))
        correct = [1.0 if p == t else 0.0 for p, t in pairs]
        accuracy = sum(correct) / len(correct) if correct else 0.0
        f1s = []
        for label in sorted(set(truth) | set(predictions)):
            tp = sum(p == label and t == label for p, t in pairs)
            fp = sum(p == label and t != label for p, t in pairs)
            fn = sum(p != label and t == label for p, t in pairs)
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        scores = {"accuracy": accuracy, "macro-F1": sum(f1s) / len(f1s) if f1s else 0.0}
        return scores, {"accuracy": correct}


@benchhub.hookimpl
def register_metrics(register):
    register(Classification)
