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
        truth = [refs[0] for refs in references]
        pairs = list(zip(predictions, truth))
        accuracy = sum(p == t for p, t in pairs) / len(pairs) if pairs else 0.0
        f1s = []
        for label in sorted(set(truth) | set(predictions)):
            tp = sum(p == label and t == label for p, t in pairs)
            fp = sum(p == label and t != label for p, t in pairs)
            fn = sum(p != label and t == label for p, t in pairs)
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        return {"accuracy": accuracy, "macro-F1": sum(f1s) / len(f1s) if f1s else 0.0}


@benchhub.hookimpl
def register_metrics(register):
    register(Classification)
