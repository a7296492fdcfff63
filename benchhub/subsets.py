"""Data budgets (`--train-sizes 30,100,300`): each method trained on nested, stratified subsets of the training
split, the same for every method and seed, so the learning curves are paired.

The subsets are prefixes of one order of the training examples (`nested_order`): drawn once from a fixed seed of
their own (never the run seed), strata interleaved in proportion, so every prefix holds each stratum (a class, or
what the dataset names with `Dataset.stratum`) within one example of its share, and each smaller subset lies
inside every larger one. The validation split a sweep needs is carved before, from the whole training split, so
it is the same at every size.
"""
from __future__ import annotations

import random
from collections import defaultdict

SUBSET_SEED = "benchhub/train-sizes"


def nested_order(strata: list) -> list[int]:
    """Indices 0..N-1 (`strata[i]`: example i's stratum) in the order subsets take them."""
    groups: dict = defaultdict(list)
    for i, key in enumerate(strata):
        groups[key].append(i)
    rng = random.Random(SUBSET_SEED)
    keys = sorted(groups, key=str)
    for key in keys:
        rng.shuffle(groups[key])
    total, taken, order = len(strata), dict.fromkeys(keys, 0), []
    for k in range(1, total + 1):  # the stratum furthest below its share of the first k examples goes next
        key = max((key for key in keys if taken[key] < len(groups[key])),
                  key=lambda key: (k * len(groups[key]) / total - taken[key], -keys.index(key)))
        order.append(groups[key][taken[key]])
        taken[key] += 1
    return order


def subset(train: list, size: int, stratum) -> list:
    """The first `size` examples of the nested order, in their original order."""
    from benchhub.errors import RunFailure

    if size > len(train):
        raise RunFailure(f"train size {size} is more than the {len(train)} training examples the dataset has "
                         "(after the validation split)")
    keep = set(nested_order([stratum(ex) for ex in train])[:size])
    return [ex for i, ex in enumerate(train) if i in keep]
