"""benchhub: compare vision-language fine-tuning methods under the same budgets."""
import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("benchhub")

from benchhub.errors import UserError  # noqa: E402

__all__ = ["hookimpl", "UserError", "__version__"]
