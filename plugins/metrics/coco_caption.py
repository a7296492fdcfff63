"""COCO caption metrics from pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE (local CoreNLP)."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

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


def ptb_tokenize(references: list[list[str]], predictions: list[str]) -> tuple[dict, dict]:
    """One PTBTokenizer pass (one JVM) over references and predictions together."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    both = {f"g{i}": [{"caption": r} for r in refs] for i, refs in enumerate(references)}
    # an empty caption would vanish from the tokenizer's output: score it as a non-word instead
    both.update({f"r{i}": [{"caption": p if p.strip() else "<empty>"}] for i, p in enumerate(predictions)})
    tokens = PTBTokenizer().tokenize(both)
    gts = {i: tokens[f"g{i}"] for i in range(len(references))}
    res = {i: tokens[f"r{i}"] for i in range(len(predictions))}
    return gts, res


def _in_prediction_order(ids: list, values, n: int) -> list[float]:
    """pycocoevalcap's per-image scores (in the order of `ids`, its dict keys) as floats indexed 0..n-1."""
    values = list(values)
    if len(values) != len(ids):
        raise RunFailure(f"pycocoevalcap returned {len(values)} per-image scores for {len(ids)} images")
    by_id = {image_id: float(v) for image_id, v in zip(ids, values)}
    return [by_id[i] for i in range(n)]


class CocoCaption(benchhub.Metric):
    """COCO caption metrics: BLEU-1..4, ROUGE-L, CIDEr (CIDEr-D), METEOR (opt-out), SPICE (needs CoreNLP).

    Options:
        meteor: compute METEOR (needs Java; slower)
        spice_corenlp: path to Stanford CoreNLP jars to compute SPICE
    """

    name = "coco-caption"
    task = "caption"
    primary = "CIDEr"
    columns = ("CIDEr", "BLEU-4")  # what leaderboards show; records keep every score
    higher_is_better = True
    citation = "pycocoevalcap"

    def __init__(self, meteor: bool = True, spice_corenlp: str | None = None):
        # METEOR starts its own JVM (~5-10 s): suites that run many short evaluations switch it off.
        self.meteor = meteor
        self.spice_corenlp = spice_corenlp
        if spice_corenlp is not None and not Path(spice_corenlp).expanduser().is_file():
            raise benchhub.UserError(f"coco-caption: spice_corenlp '{spice_corenlp}' is not a file; point it at "
                                     "stanford-corenlp-3.6.0.jar (its models jar beside it)")
        self.skipped: dict[str, str] = {}

    def compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        return self.score(predictions, references)[0]

    def score(self, predictions: list[str], references: list[list[str]]) -> tuple[dict, dict]:
        """Corpus scores, plus per-image CIDEr (CIDEr-D), BLEU-4 and ROUGE-L from the same pass.

        Per-image CIDEr and ROUGE-L average to their corpus values. Per-image BLEU-4 is pycocoevalcap's
        sentence-level BLEU (own brevity penalty), not a decomposition of corpus BLEU. METEOR and SPICE
        are corpus only.
        """
        if shutil.which("java") is None:
            raise RunFailure("pycocoevalcap's PTBTokenizer needs `java` on PATH; install a JRE "
                             "(e.g. apt-get install default-jre-headless)")
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge

        with _quiet():
            gts, res = ptb_tokenize(references, predictions)
            # pycocoevalcap scores images in the order of gts.keys(): map its lists back to prediction order
            ids = list(gts.keys())
            bleu, bleu_per_image = Bleu(4).compute_score(gts, res)
            scores = {f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)}
            rouge, rouge_per_image = Rouge().compute_score(gts, res)
            scores["ROUGE-L"] = float(rouge)
            cider, cider_per_image = Cider().compute_score(gts, res)
            scores["CIDEr"] = float(cider)
            per_example = {
                "CIDEr": _in_prediction_order(ids, cider_per_image, len(predictions)),
                "BLEU-4": _in_prediction_order(ids, bleu_per_image[3], len(predictions)),
                "ROUGE-L": _in_prediction_order(ids, rouge_per_image, len(predictions)),
            }
            if self.meteor:
                from pycocoevalcap.meteor.meteor import Meteor

                scores["METEOR"] = float(Meteor().compute_score(gts, res)[0])
            if self.spice_corenlp:
                scores["SPICE"] = self._spice(gts, res)
            else:
                self.skipped["SPICE"] = ("SPICE needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads; "
                                         "offline, set coco-caption(spice_corenlp=PATH-to-the-jar)")
        return scores, per_example

    def _spice(self, gts, res) -> float:
        """SPICE with a user-provided CoreNLP jar placed where pycocoevalcap looks for it."""
        import pycocoevalcap.spice.spice as spice_module
        from pycocoevalcap.spice.spice import Spice

        jar = Path(self.spice_corenlp).expanduser().resolve()
        lib = Path(spice_module.__file__).parent / "lib"
        lib.mkdir(exist_ok=True)
        for source in (jar, jar.with_name(jar.stem + "-models.jar")):
            target = lib / source.name
            if source.is_file() and not target.exists():
                target.symlink_to(source)
        try:
            return float(Spice().compute_score(gts, res)[0])
        except Exception as exc:  # noqa: BLE001 - SPICE fails in many ways; the reason is what matters
            raise RunFailure(f"SPICE failed with the CoreNLP jar {jar}: {exc}") from None


@benchhub.hookimpl
def register_metrics(register):
    register(CocoCaption)
