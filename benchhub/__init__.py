"""benchhub: compare vision-language fine-tuning methods under the same budgets."""
import logging

import pluggy

# bitsandbytes logs at import, once per process, that it cannot fetch optional CPU kernels from the Hub
# (harmless, see NOTES); benchhub's processes (the CLI, the forkserver, runs) import benchhub before peft.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("benchhub")

from benchhub.bundle import Bundle, module_group  # noqa: E402
from benchhub.components import Augmentation, Dataset, Method, Metric, Model, Splits  # noqa: E402
from benchhub.errors import RunFailure, UserError  # noqa: E402

__all__ = ["hookimpl", "UserError", "RunFailure", "Method", "Model", "Dataset", "Metric", "Augmentation", "Splits", "Bundle",
           "module_group", "__version__"]
