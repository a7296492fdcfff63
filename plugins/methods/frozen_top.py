"""Frozen-top: freeze everything, train the top k blocks of one tower."""
import benchhub

TOWERS = ("language", "vision", "bridge")


class FrozenTop(benchhub.Method):
    """Train only the top k blocks of a tower (language, vision or bridge); freeze the rest.

    Options:
        k: how many of the tower's top blocks train
        tower: language, vision or bridge (default: the model's language tower, else its only one)
        head: also train the output head
    """

    name = "frozen-top"
    default_lr = 1e-4

    def __init__(self, k: int = 2, tower: str | None = None, head: bool = False):
        if not isinstance(k, int) or k <= 0:
            raise benchhub.UserError(f"frozen-top: k must be a positive integer, got {k!r}")
        if tower is not None and tower not in TOWERS:
            raise benchhub.UserError(f"frozen-top: unknown tower '{tower}'; available: {', '.join(TOWERS)}")
        self.k, self.tower, self.head = k, tower, head
        self.freezes: tuple = ()

    def check(self, meta_bundle):
        """k fits the tower (checked at plan time, on the model without weights)."""
        self._blocks(meta_bundle(), benchhub.UserError)

    def _blocks(self, bundle, error=benchhub.errors.RunFailure):
        tower = self.tower or bundle.output_tower
        blocks = bundle.blocks(tower)
        if self.k > len(blocks):
            raise error(f"frozen-top: k={self.k} but the {tower} tower of this model has only {len(blocks)} blocks")
        return tower, blocks

    def prepare(self, bundle):
        tower, blocks = self._blocks(bundle)
        # What this method promises; the runner checks the manifest against it.
        self.freezes = tuple(c for c in bundle.components() if c != tower and not (self.head and c == "head"))
        bundle.model.requires_grad_(False)
        for block in blocks[-self.k:]:
            block.requires_grad_(True)
        if self.head:
            bundle.head().requires_grad_(True)
        return bundle


@benchhub.hookimpl
def register_methods(register):
    register(FrozenTop)
