"""The synthetic shapes world: captioned 32×32 images with a source and a shifted target domain."""
from __future__ import annotations

import random
import re

import benchhub
from benchhub import Splits
from benchhub_plugins.datasets.common import check_sizes

SOURCE = {"colours": ("red", "green", "blue", "yellow"), "shapes": ("circle", "square", "triangle")}
# The target domain shifts the look (dark noisy background) and adds colours and a shape.
TARGET = {
    "colours": SOURCE["colours"] + ("purple", "orange"),
    "shapes": SOURCE["shapes"] + ("star",),
}
RGB = {
    "red": (220, 30, 30), "green": (30, 170, 40), "blue": (40, 70, 230), "yellow": (240, 220, 30),
    "purple": (150, 40, 200), "orange": (250, 140, 20),
}
PLACES = {  # single shape: centre (in 0..1 coordinates) -> words
    "on the left": (0.25, 0.5), "on the right": (0.75, 0.5), "at the top": (0.5, 0.25),
    "at the bottom": (0.5, 0.75), "in the middle": (0.5, 0.5),
}
RELATIONS = {  # (dx, dy) of the first shape relative to the second -> (forward, reverse) phrases
    "above": ((0.0, -1.0), "below"), "below": ((0.0, 1.0), "above"),
    "to the left of": ((-1.0, 0.0), "to the right of"), "to the right of": ((1.0, 0.0), "to the left of"),
}
SCALE = 4  # draw at 4× and downsample: anti-aliased edges
SIZE = 32


def _draw(draw, shape: str, colour: str, cx: float, cy: float, r: float) -> None:
    import math

    fill = RGB[colour]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        s = r * 0.85
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
    elif shape == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + i * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        draw.polygon(pts, fill=fill)


def make_example(rng: random.Random, domain: str) -> dict:
    """One image and every caption that describes it (two-shape images get both word orders)."""
    import numpy as np
    from PIL import Image, ImageDraw

    world = SOURCE if domain == "source" else TARGET
    big = SIZE * SCALE
    if domain == "source":
        img = Image.new("RGB", (big, big), (255, 255, 255))
    else:
        img = Image.new("RGB", (big, big), (rng.randint(25, 70),) * 3)
    draw = ImageDraw.Draw(img)

    def pick():
        return rng.choice(world["colours"]), rng.choice(world["shapes"])

    if rng.random() < 0.5:
        colour, shape = pick()
        place = rng.choice(sorted(PLACES))
        px, py = PLACES[place]
        r = big * rng.uniform(0.13, 0.18)
        cx, cy = px * big + rng.uniform(-3, 3) * SCALE, py * big + rng.uniform(-3, 3) * SCALE
        _draw(draw, shape, colour, cx, cy, r)
        captions = [f"a {colour} {shape} {place}"]
        scene = [(colour, shape, place.split()[-1])]
    else:
        (c1, s1), (c2, s2) = pick(), pick()
        while (c1, s1) == (c2, s2):
            c2, s2 = pick()
        relation = rng.choice(sorted(RELATIONS))
        (dx, dy), reverse = RELATIONS[relation]
        r = big * rng.uniform(0.11, 0.14)
        gap = big * 0.25
        mx, my = big / 2 + rng.uniform(-2, 2) * SCALE, big / 2 + rng.uniform(-2, 2) * SCALE
        _draw(draw, s1, c1, mx + dx * gap, my + dy * gap, r)
        _draw(draw, s2, c2, mx - dx * gap, my - dy * gap, r)
        captions = [f"a {c1} {s1} {relation} a {c2} {s2}", f"a {c2} {s2} {reverse} a {c1} {s1}"]
        scene = [(c1, s1, None), (c2, s2, None)]
    img = img.resize((SIZE, SIZE), Image.BOX)
    if domain != "source":
        arr = np.asarray(img, dtype=np.float32)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 18, arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))
    return {"image": img, "captions": captions, "scene": scene}


NUMBER_WORDS = {1: "one", 2: "two"}


def questions(example: dict, rng: random.Random) -> list[tuple[str, str]]:
    """Question-answer pairs about an example's scene (one-word answers)."""
    scene = example["scene"]
    qa = [("how many shapes are there ?", NUMBER_WORDS[len(scene)])]
    if len(scene) == 1:
        colour, shape, place = scene[0]
        qa += [("what colour is the shape ?", colour), ("what shape is it ?", shape),
               ("where is the shape ?", place)]
    else:
        (c1, s1, _), (c2, s2, _) = scene
        if s1 != s2:
            qa += [(f"what colour is the {s1} ?", c1), (f"what colour is the {s2} ?", c2)]
        if c1 != c2:
            qa += [(f"what shape is {c1} ?", s1), (f"what shape is {c2} ?", s2)]
    probe = rng.choice(sorted(TARGET["shapes"]))
    qa.append((f"is there a {probe} ?", "yes" if any(s == probe for _, s, _ in scene) else "no"))
    return qa


def vqa_prompt(question: str) -> str:
    return f"question : {question} answer :"


def generate(domain: str, n: int, seed: int) -> list[dict]:
    """`n` deterministic examples of a domain ('source' or 'target') for a seed.

    Drawing costs ~0.7 ms an image and every run needs ~800, so they are kept on disk (pixels in
    .npz, captions and scenes in .json, keyed by this file's source and pillow's version) and drawn once
    per machine.
    """
    cached = _cache_path(domain, n, seed)
    try:
        return _read(cached)
    except (OSError, ValueError, KeyError):
        pass
    rng = random.Random(f"shapes/{domain}/{seed}")
    examples = [make_example(rng, domain) for _ in range(n)]
    _write(cached, examples)
    return examples


def _cache_path(domain: str, n: int, seed: int):
    import hashlib
    from pathlib import Path

    from benchhub.checkpoints import cache_root

    import PIL

    # the drawing code and the library that draws and downsamples decide the pixels
    source = hashlib.sha256(Path(__file__).read_bytes() + PIL.__version__.encode()).hexdigest()[:12]
    return cache_root() / "shapes" / f"{domain}-{seed}-{n}-{source}"


def _read(path) -> list[dict]:
    import json

    import numpy as np
    from PIL import Image

    meta = json.loads(path.with_suffix(".json").read_text())
    with np.load(path.with_suffix(".npz")) as data:
        pixels = data["pixels"]
    if len(pixels) != len(meta):
        raise ValueError("cache entry is torn")
    return [{**m, "image": Image.fromarray(p), "scene": [tuple(s) for s in m["scene"]]} for m, p in zip(meta, pixels)]


def _write(path, examples: list[dict]) -> None:
    """Pixels, then captions (their file's presence marks a complete entry), each written aside and renamed."""
    import io
    import json

    import numpy as np

    from benchhub.fileio import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, pixels=np.stack([np.asarray(ex["image"]) for ex in examples]))
    atomic_write(path.with_suffix(".npz"), buffer.getvalue())
    atomic_write(path.with_suffix(".json"), json.dumps([{k: v for k, v in ex.items() if k != "image"}
                                                        for ex in examples]))


VQA_WORDS = "question answer : ? how many shapes are there one two what colour is the shape it where yes no of"


def vocabulary_corpus(vqa: bool = False) -> list[str]:
    """Captions (and, with `vqa`, questions) covering every word of both domains, for the tokenizer."""
    words = set(VQA_WORDS.split()) if vqa else set()
    for place in PLACES:
        words.update(place.split())
    for relation, (_, reverse) in RELATIONS.items():
        words.update(relation.split())
    corpus = [" ".join(sorted(words))]
    corpus += [f"a {c} {s}" for c in TARGET["colours"] for s in TARGET["shapes"]]
    return corpus


def _stratum(scene: dict) -> str:
    """A scene's kind, for data budgets: '1 circle', '2 star' (the count of shapes and the first one's shape)."""
    return f"{len(scene['scene'])} {scene['scene'][0][1]}"


class Shapes(benchhub.Dataset):
    """Shapes world: fine-tune on the shifted target domain, evaluate on held-out target images.

    Besides train and eval (image seeds 1 and 2) it generates a validation set in the same domain
    (image seed 3, for choosing learning rates) and, for the target domain, held-out *source*
    images (seed 4, apart from the seed-0 images a model pre-trains on) to measure forgetting.
    None of them depends on the run seed, which only picks each training image's caption.

    Options:
        domain: source (white background) or target (dark, noisy, new colours and stars)
        train_size: training images
        eval_size: evaluation images
        validation_size: validation images (learning-rate sweeps)
        source_size: held-out source-domain images (forgetting)
    """

    name = "shapes"
    task = "caption"
    SPLIT = "generated: train seed 1, eval seed 2, validation seed 3, source seed 4"
    depends_on = ("horizontal", "vertical", "rotation", "hue")  # captions say left/right, top/bottom and colours
    rewrites = ("horizontal",)  # a mirrored image: left and right swapped in its caption (or question and answer)

    def stratum(self, example: dict):
        """A data budget keeps in proportion the scenes' kinds: how many shapes, and the first one's shape."""
        return example.get("stratum")

    def rewrite(self, example: dict, attribute: str) -> dict:
        """The example of a mirrored image (attribute "horizontal"): "on the left" <-> "on the right", "to the
        left of" <-> "to the right of", in the caption and, for VQA, the question and its answer."""
        swap = {"left": "right", "right": "left"}
        return {k: re.sub(r"\b(left|right)\b", lambda m: swap[m.group(1)], v) if k in ("text", "prompt") else v
                for k, v in example.items()}

    def __init__(self, domain: str = "target", train_size: int = 300, eval_size: int = 200,
                 validation_size: int = 100, source_size: int = 200):
        if domain not in ("source", "target"):
            raise benchhub.UserError(f"dataset shapes: domain must be 'source' or 'target', got {domain!r}")
        check_sizes(self.name, train_size=train_size, eval_size=eval_size, validation_size=validation_size,
                    source_size=source_size)
        self.domain, self.train_size, self.eval_size = domain, train_size, eval_size
        self.validation_size, self.source_size = validation_size, source_size

    def _scenes(self, domain: str, n: int, image_seed: int) -> list[dict]:
        return generate(domain, n, seed=image_seed)

    def pretraining(self, size: int | None = None) -> list[dict]:
        """`size` captioned images of the domain (seed 0, apart from the runs' data), captions in turn."""
        data = generate(self.domain, size or self.train_size, seed=0)
        return [{"image": ex["image"], "text": ex["captions"][i % len(ex["captions"])]} for i, ex in enumerate(data)]

    def vocabulary(self) -> list[str]:
        return vocabulary_corpus()

    def train_example(self, scene: dict, rng: random.Random) -> dict:
        return {"image": scene["image"], "text": rng.choice(scene["captions"]), "stratum": _stratum(scene)}

    def held_out_example(self, scene: dict, rng: random.Random) -> dict:
        return {"image": scene["image"], "references": scene["captions"]}

    def _held_out(self, domain: str, n: int, image_seed: int, rng_name: str) -> list[dict]:
        rng = random.Random(rng_name)  # held-out questions/labels do not depend on the run seed
        return [{"id": f"{domain}/{image_seed}/{i}", **self.held_out_example(scene, rng)}
                for i, scene in enumerate(self._scenes(domain, n, image_seed))]

    def load(self, seed: int = 0) -> Splits:
        rng = random.Random(f"shapes/{self.task_tag}/{seed}")
        train = [self.train_example(scene, rng) for scene in self._scenes(self.domain, self.train_size, 1)]
        tag = self.task_tag
        held_out = self._held_out(self.domain, self.eval_size, 2, f"shapes/{tag}/eval")
        validation = self._held_out(self.domain, self.validation_size, 3, f"shapes/{tag}/validation")
        source = (self._held_out("source", self.source_size, 4, f"shapes/{tag}/source")
                  if self.domain == "target" else None)
        info = {"domain": self.domain, "train": len(train), "eval": len(held_out), "validation": len(validation),
                "source": len(source) if source else 0, "split": self.SPLIT}
        return Splits(train, held_out, info, validation=validation, source=source)

    task_tag = "captions"  # names the seeded caption/question draws (kept stable: same data as before)


class ShapesVqa(Shapes):
    """Shapes world VQA: questions about colour, shape, position and count; one-word answers."""

    name = "shapes-vqa"
    task = "vqa"
    task_tag = "vqa"
    SPLIT = Shapes.SPLIT + "; one question per image"

    def pretraining(self, size: int | None = None) -> list[dict]:
        """One question about each of the `size` images `Shapes.pretraining` captions (the same images)."""
        rng = random.Random("blip2-tiny/vqa")  # the name it had when blip2 drew them: cached checkpoints stay valid
        out = []
        for ex in generate(self.domain, size or self.train_size, seed=0):
            question, answer = rng.choice(questions(ex, rng))
            out.append({"image": ex["image"], "prompt": vqa_prompt(question), "text": answer})
        return out

    def vocabulary(self) -> list[str]:
        return vocabulary_corpus(vqa=True)

    def train_example(self, scene: dict, rng: random.Random) -> dict:
        question, answer = rng.choice(questions(scene, rng))
        return {"image": scene["image"], "prompt": vqa_prompt(question), "text": answer, "stratum": _stratum(scene)}

    def held_out_example(self, scene: dict, rng: random.Random) -> dict:
        question, answer = rng.choice(questions(scene, rng))
        return {"image": scene["image"], "prompt": vqa_prompt(question), "question": question, "references": [answer]}


class ShapesClassify(Shapes):
    """Shapes world classification: which shape is in a single-shape image (the target adds the star)."""

    name = "shapes-classify"
    task = "classify"
    depends_on = ()  # the label is which shape: a mirror, a rotation or a colour change keeps it
    task_tag = "classify"
    labels = TARGET["shapes"]
    SPLIT = "generated single-shape images: train seed 1, eval seed 2, validation seed 3, source seed 4"
    pretraining = benchhub.Dataset.pretraining  # labelled single-shape images, not captions

    def _scenes(self, domain: str, n: int, image_seed: int) -> list[dict]:
        rng = random.Random(f"shapes/classify/{domain}/{image_seed}")
        out = []
        while len(out) < n:
            ex = make_example(rng, domain)
            if len(ex["scene"]) == 1:
                out.append(ex)
        return out

    def _example(self, scene: dict) -> dict:
        label = self.labels.index(scene["scene"][0][1])
        return {"image": scene["image"], "label": label, "references": [str(label)]}

    def train_example(self, scene: dict, rng: random.Random) -> dict:
        return self._example(scene)

    def load(self, seed: int = 0) -> Splits:
        splits = super().load(seed)
        splits.info["labels"] = list(self.labels)
        return splits

    def held_out_example(self, scene: dict, rng: random.Random) -> dict:
        return self._example(scene)


@benchhub.hookimpl
def register_datasets(register):
    register(Shapes)
    register(ShapesVqa)
    register(ShapesClassify)
