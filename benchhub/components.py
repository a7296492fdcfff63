"""What method, model, dataset and metric plugins provide: small base classes with documented defaults.

A plugin class may subclass these or only have the same members; registration checks the
required ones and fills in every documented default that a class does not define, so the core
reads `method.trains` or calls `method.after_optimizer_step(...)` without probing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from benchhub.errors import RunFailure, UserError
from benchhub.spec import instantiate, parse_component

if TYPE_CHECKING:  # pragma: no cover
    from benchhub.bundle import Bundle


@dataclass
class Splits:
    """What a dataset's load() returns: training examples, held-out examples, a description of the split."""

    train: list
    eval: list
    info: dict = field(default_factory=dict)
    validation: list | None = None  # for choosing a learning rate; None: the core carves it from train
    source: list | None = None  # held-out source-domain examples, scored to measure forgetting

    def carve_validation(self, fraction: float) -> None:
        """Move a fixed `fraction` of the training examples (the same for every seed) to a validation split."""
        import random

        order = list(range(len(self.train)))
        random.Random("benchhub/validation").shuffle(order)
        held = set(order[:max(1, round(fraction * len(order)))])
        self.validation = [{**_as_held_out(self.train[i]), "id": f"train/{i}"} for i in sorted(held)]
        self.train = [ex for i, ex in enumerate(self.train) if i not in held]
        self.info = {**self.info, "train": len(self.train), "validation": len(self.validation),
                     "validation_split": f"{fraction:.0%} of the training examples, fixed across seeds"}


def _as_held_out(example: dict) -> dict:
    """A training example as a held-out one: its target text becomes the reference."""
    out = {k: v for k, v in example.items() if k != "text"}
    out.setdefault("references", [example["text"]] if "text" in example else [str(example.get("label"))])
    return out


class Method:
    """A way to fine-tune: `prepare` freezes, wraps or replaces parts of the bundle's model."""

    name: str
    variant_option = "type"  # `name:variant` passes the variant as this option
    default_lr: float = 1e-4  # unless the suite or `--methods 'x(lr=...)'` sets lr
    trains: bool = True  # False: evaluation only (zero-shot)
    freezes: tuple = ()  # components it promises to leave frozen; read after prepare() and checked
    quantization: str | None = None  # "nf4" / "int8": the model loads its base quantized

    def prepare(self, bundle: Bundle) -> Bundle:
        raise NotImplementedError

    def after_optimizer_step(self, bundle: Bundle, step: int, total_steps: int) -> None:
        """Called after each optimizer step, before gradients are cleared (AdaLoRA re-allocates)."""

    def check(self, meta_bundle: Callable[[], Bundle]) -> None:
        """Options checked against the model at plan time, before anything runs: raise UserError (one line).

        `meta_bundle()` returns the model's bundle on the meta device (no weights), built on first
        call; e.g. LoRA checks that its target_modules name modules of the model.
        """


class Model:
    """A model family with presets: `build` returns a Bundle on a device."""

    name: str
    variant_option = "preset"
    tasks: tuple = ("caption",)
    presets: tuple = ()
    quantizations: tuple = ()  # base quantizations `build(quantization=...)` can load: "nf4", "int8"

    def build(self, device, seed: int = 0, quantization: str | None = None) -> Bundle:
        raise NotImplementedError

    def prepare(self, log: Callable[[str], Any] = print, progress=None) -> dict | None:
        """One-time work before the runs (pre-training, downloads), in a child process; None: nothing to do.
        A checkpoint it makes returns {"key", "sha256", "code"} (`checkpoints.cached_checkpoint` does)."""
        return None

    def checkpoint(self) -> dict | None:
        """The weights `build` starts from, named before anything is built: {"key": ...} plus "sha256" when
        they are at hand. Part of a run's identity: records made from other weights are not reused."""
        return None

    def meta_bundle(self) -> Bundle:
        """The bundle with its model on the meta device (no weights), for `benchhub plan`."""
        raise RunFailure(f"model '{self.name}' cannot be planned without weights (no meta_bundle)")


class Dataset:
    """Examples for one task, split into train and held-out evaluation examples."""

    name: str
    variant_option = "preset"
    task: str = "caption"

    def load(self, seed: int = 0) -> Splits:
        raise NotImplementedError

    def check(self) -> None:
        """Before anything runs (plan time, in benchhub's process): files present and well formed; raise
        UserError naming the file and line. Runs once per plan; a costly check (decoding every image) is
        cached by content, as the built-in file datasets do (`benchhub_plugins.datasets.validate`)."""

    #: What the labels name in an image, as augmentation policies declare what they change
    #: (`Augmentation.changes`): e.g. ("horizontal", "hue") for captions that say "on the left" and "red".
    #: None: not declared, and only policies that change nothing the labels could name may run.
    depends_on: tuple | None = None
    #: Those of `depends_on` that `rewrite` keeps true (a mirror image's caption with left and right swapped).
    rewrites: tuple = ()

    def rewrite(self, example: dict, attribute: str) -> dict:
        """The training example made true again after a policy changed `attribute` (one of `rewrites`)."""
        raise NotImplementedError

    def stratum(self, example: dict):
        """What a data budget's subsets keep in proportion (`benchhub.subsets`): the class of a labelled
        example by default, none otherwise. It must not depend on the run seed."""
        return example.get("label")

    def pretraining(self, size: int | None = None) -> list:
        """Training examples of this dataset's domain for pre-training a model before the runs."""
        return self.load(seed=0).train[:size]

    def vocabulary(self) -> list:
        """Texts that hold every word the dataset can produce (for tokenizers trained locally)."""
        return [ex.get("text", "") for ex in self.pretraining()]


class Metric:
    """Scores predictions against references."""

    name: str
    variant_option = "preset"
    task: str = "caption"
    primary: str | None = None  # the score that ranks a leaderboard
    columns: tuple = ()  # the scores a leaderboard shows (records keep every score)
    higher_is_better: bool = True
    citation: str = ""  # where the numbers come from, e.g. "pycocoevalcap"
    skipped: dict = {}  # score -> why it was not computed (set by compute on the instance)

    def compute(self, predictions: list, references: list) -> dict:
        raise NotImplementedError

    def score(self, predictions: list, references: list) -> tuple[dict, dict]:
        """(corpus scores, per-example scores: score name -> one float per prediction, in order).

        Per-example scores make paired comparisons possible (bootstrap over examples). The default
        has none: `compute` only. A score listed per example should average to its corpus value
        where the metric is a mean (CIDEr-D, accuracy); corpus-level BLEU is not such a mean.
        """
        return self.compute(predictions, references), {}


class Augmentation:
    """A data-augmentation policy: each training batch's images changed per step, on the fly, deterministic
    under the run's seed and step (`benchhub.augment`); the policy and its options are part of the run's config."""

    name: str
    variant_option = "preset"  # `name:variant` passes the variant as this option
    #: What it may change in an image, from ATTRIBUTES; a dataset whose labels depend on one of them must
    #: rewrite the labels (`Dataset.rewrites`) or the suite is refused at plan time.
    changes: tuple = ()

    def apply(self, images) -> tuple:
        """(images, {attribute: bool tensor, one per image, True where this image's `attribute` changed}) for a
        float batch B × 3 × H × W in [0, 1]; random draws from torch's global generator (seeded per step)."""
        return images, {}


#: What a policy can change in an image, and a dataset's labels can depend on.
ATTRIBUTES = ("horizontal", "vertical", "rotation", "hue", "brightness", "scale", "blur")

BASES = {"method": Method, "model": Model, "dataset": Dataset, "metric": Metric, "augmentation": Augmentation}
REQUIRED = {"method": ("prepare",), "model": ("build",), "dataset": ("load",), "metric": ("compute",),
            "augmentation": ("apply",)}


def complete(kind: str, cls: type, plugin: str = "?") -> type:
    """Check a registered class against its kind and give it the documented defaults it lacks."""
    base = BASES[kind]
    name = cls.__dict__.get("name", getattr(cls, "name", None))
    if not isinstance(name, str) or not name:
        raise UserError(f"plugin '{plugin}' registered a {kind} without a `name` attribute: {cls!r}")
    missing = [m for m in REQUIRED[kind] if not callable(getattr(cls, m, None))]
    if missing:
        raise UserError(f"plugin '{plugin}' registered {kind} '{name}' without {missing[0]}()")
    if issubclass(cls, base):
        return cls
    for attr, value in vars(base).items():
        if not attr.startswith("_") and attr not in REQUIRED[kind] and not hasattr(cls, attr):
            setattr(cls, attr, value)
    return cls


@dataclass(frozen=True)
class RunClasses:
    """The registered classes that serve one run; they travel to the run's child process by reference."""

    method: type
    model: type
    dataset: type
    metrics: dict  # metric label (as in the suite) -> class
    source: type | None = None  # the suite's [source] dataset, if it names one
    augment: type | None = None  # the run's augmentation policy, if it has one

    def completed(self) -> RunClasses:
        """The same classes with their documented defaults (again, in a child process)."""
        for kind in ("method", "model", "dataset"):
            complete(kind, getattr(self, kind))
        for cls in self.metrics.values():
            complete("metric", cls)
        if self.source is not None:
            complete("dataset", self.source)
        if self.augment is not None:
            complete("augmentation", self.augment)
        return self

    def all(self) -> list:
        return [self.method, self.model, self.dataset, *self.metrics.values(),
                *filter(None, [self.source, self.augment])]

    def new_method(self, spec) -> Method:
        return instantiate(self.method, spec.method.name, spec.method.options)

    def new_model(self, spec) -> Model:
        return instantiate(self.model, spec.model.name, spec.model.options)

    def new_augmentation(self, spec) -> Augmentation | None:
        return instantiate(self.augment, spec.augment.name, spec.augment.options) if spec.augment else None

    def new_dataset(self, spec) -> Dataset:
        return instantiate(self.dataset, spec.dataset.name, spec.dataset.options)

    def load_splits(self, spec) -> Splits:
        """The dataset's splits (the data do not depend on the run seed, except per-seed draws such as
        which caption trains), with the suite's [source] dataset's eval split as the source set."""
        splits = self.new_dataset(spec).load(seed=spec.seed)
        if spec.source is not None:
            splits.source = instantiate(self.source, spec.source.name, spec.source.options).load(seed=0).eval
        if splits.validation is None and spec.validation_fraction:
            splits.carve_validation(spec.validation_fraction)
        if spec.train_subset:  # a data budget: the same nested subset for every method and seed
            from benchhub.subsets import subset

            splits.train = subset(splits.train, spec.train_subset, self.new_dataset(spec).stratum)
            splits.info = {**splits.info, "train": len(splits.train), "train_subset": spec.train_subset}
        return splits

    def new_metrics(self, spec) -> list:
        out = []
        for label in spec.metrics:
            metric = parse_component(label)
            out.append(instantiate(self.metrics[label], metric.name, metric.options))
        return out

    def scoring(self, spec) -> dict:
        """What ranks and what shows: the first metric's primary score, every metric's columns."""
        metrics = self.new_metrics(spec)
        if not metrics:
            return {}
        primary = metrics[0].primary
        columns = [c for m in metrics for c in m.columns]
        return {"primary": primary, "columns": ([primary] if primary and primary not in columns else []) + columns,
                "higher_is_better": {c: bool(m.higher_is_better) for m in metrics for c in (*m.columns, m.primary)
                                     if c}}
