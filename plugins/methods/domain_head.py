"""Domain head: freeze the backbone, train a new output head on its features."""
import benchhub
from benchhub.errors import RunFailure

KINDS = ("linear", "mlp")
INITS = ("copy", "random")


def _residual_mlp(head, hidden: int):
    """head(x + MLP(x)), the MLP's last layer zero-initialised: starts as the old head."""
    import torch.nn as nn

    class ResidualMLPHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(head.in_features, hidden), nn.GELU(),
                                     nn.Linear(hidden, head.in_features))
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)
            self.out = head

        def forward(self, x):
            return self.out(x + self.mlp(x))

    return ResidualMLPHead()


class DomainHead(benchhub.Method):
    """Freeze the backbone; train a fresh head (linear, or residual MLP + linear) on its features.

    Options:
        kind: linear (a new head) or mlp (residual MLP before the head)
        init: copy (start from the old head's weights) or fresh (random)
        hidden: the MLP's hidden width (0: the head's input width)
    """

    name = "domain-head"
    default_lr = 1e-3
    freezes = ("vision", "bridge", "language")

    def __init__(self, kind: str = "linear", init: str = "copy", hidden: int = 0):
        if kind not in KINDS:
            raise benchhub.UserError(f"domain-head: unknown kind '{kind}'; available: {', '.join(KINDS)}")
        if init not in INITS:
            raise benchhub.UserError(f"domain-head: unknown init '{init}'; available: {', '.join(INITS)}")
        self.kind, self.init, self.hidden = kind, init, hidden

    def prepare(self, bundle):
        import torch
        import torch.nn as nn

        old = bundle.head()
        if not isinstance(old, nn.Linear):
            raise RunFailure(f"domain-head needs a linear output head; {type(bundle).__name__} has "
                             f"{type(old).__name__}")
        new = nn.Linear(old.in_features, old.out_features, bias=old.bias is not None,
                        device=old.weight.device, dtype=old.weight.dtype)
        if self.init == "copy":  # keep what the head knew; the new copy is no longer tied
            with torch.no_grad():
                new.weight.copy_(old.weight)
                if old.bias is not None:
                    new.bias.copy_(old.bias)
        head = new if self.kind == "linear" else _residual_mlp(new, self.hidden or 4 * old.in_features)
        bundle.model.requires_grad_(False)
        try:
            bundle.set_head(head.to(old.weight.device))
        except RunFailure as exc:
            raise RunFailure(f"domain-head does not apply: {exc}") from None
        head.requires_grad_(True)
        return bundle


@benchhub.hookimpl
def register_methods(register):
    register(DomainHead)
