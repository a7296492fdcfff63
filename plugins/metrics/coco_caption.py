"""CIDEr-D and BLEU-1..4 from pycocoevalcap, with its PTBTokenizer (Java), one tokenizer pass."""
from __future__ import annotations

import contextlib
import io
import os
import shutil

import benchhub
from benchhub.errors import RunFailure


@contextlib.contextmanager
def _quiet():
    """Capture pycocoevalcap's prints (BLEU debug lines) and the JVM's stderr."""
    out = io.StringIO()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            with contextlib.redirect_stdout(out):
                yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class CocoCaption:
    """COCO caption metrics: CIDEr (CIDEr-D), BLEU-1..4; PTB-tokenised as in the COCO evaluation."""

    name = "coco-caption"
    task = "caption"
    primary = "CIDEr"
    columns = ("CIDEr", "BLEU-4")  # what leaderboards show
    higher_is_better = True

    def compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        if shutil.which("java") is None:
            raise RunFailure("pycocoevalcap's PTBTokenizer needs `java` on PATH; install a JRE "
                             "(e.g. apt-get install default-jre-headless)")
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        gts = {i: [{"caption": r} for r in refs] for i, refs in enumerate(references)}
        res = {i: [{"caption": p if p.strip() else "<empty>"}] for i, p in enumerate(predictions)}
        with _quiet():
            tokenizer = PTBTokenizer()
            gts, res = tokenizer.tokenize(gts), tokenizer.tokenize(res)
            bleu, _ = Bleu(4).compute_score(gts, res)
            cider, _ = Cider().compute_score(gts, res)
        scores = {f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)}
        scores["CIDEr"] = float(cider)
        return scores


@benchhub.hookimpl
def register_metrics(register):
    register(CocoCaption)
