"""`evaluate:<name>`: any 🤗 evaluate metric, for users who are online (its scripts live on the Hub)."""
from __future__ import annotations

import benchhub
from benchhub.errors import HUB_SETTINGS, RunFailure, first_line


class EvaluateBridge(benchhub.Metric):
    """A 🤗 `evaluate` metric by name, e.g. evaluate:sacrebleu; needs the Hub (fails offline, clearly).

    Options:
        metric: the evaluate metric's name (as evaluate:NAME)
        task: the task it scores: caption, vqa or classify
    """

    name = "evaluate"
    variant_option = "metric"
    task = "caption"

    def __init__(self, metric: str | None = None, task: str = "caption", **kwargs):
        if not metric:
            raise benchhub.UserError("evaluate: name a metric, e.g. evaluate:sacrebleu")
        self.metric, self.task, self.kwargs = metric, task, kwargs
        self.primary = metric
        self.columns = (metric,)

    def compute(self, predictions: list, references: list) -> dict:
        try:
            import evaluate
        except ImportError:
            raise RunFailure("evaluate:<name> needs the `evaluate` package: pip install evaluate") from None
        try:
            scorer = evaluate.load(self.metric)
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            raise RunFailure(f"evaluate.load('{self.metric}') failed: its script lives on the Hugging Face Hub, "
                             f"which is unreachable{HUB_SETTINGS}: {first_line(exc, with_type=False)[:200]}") from None
        result = scorer.compute(predictions=predictions, references=references, **self.kwargs)
        # the headline number (key == metric name, or "score" as sacrebleu has it) is stored under the
        # metric's name, which is the leaderboard's primary column; the rest as metric/key
        return {(self.metric if k in (self.metric, "score") else f"{self.metric}/{k}"): float(v)
                for k, v in result.items() if isinstance(v, (int, float))}


@benchhub.hookimpl
def register_metrics(register):
    register(EvaluateBridge)
