"""Where a run is measured: library versions, device and machine, platform, git commit (see `identity` for
what decides reuse)."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from benchhub.device import device_name
from benchhub.identity import machine, version

# Versions a run's numbers can follow (part of the run id): the model and training stack, the metrics, and
# what draws and resizes images (pillow, numpy) or ships data (scikit-learn's digits).
LIBRARIES = ("benchhub", "torch", "transformers", "peft", "tokenizers", "bitsandbytes", "pycocoevalcap", "numpy",
             "pillow", "scikit-learn")


def git_sha() -> str | None:
    """The checkout's commit, '-dirty' when files differ from it (the record's code identity says which count)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=here)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=here).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device) -> dict:
    """Recorded with every run: library versions, device, platform, git commit."""
    versions = {"python": platform.python_version()}
    for dist in LIBRARIES:
        versions[dist] = version(dist)
    return {"versions": versions, "device": device_name(device), "device_type": device.type,
            "machine": machine(device), "platform": platform.platform(), "git_sha": git_sha()}
