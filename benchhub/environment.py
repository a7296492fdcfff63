"""Where a run is measured: library versions, device and machine, platform, git commit (see `identity` for
what decides reuse)."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from benchhub.device import device_name
from benchhub.identity import machine, version

LIBRARIES = ("benchhub", "torch", "transformers", "peft", "tokenizers", "bitsandbytes", "pycocoevalcap")


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device) -> dict:
    """Recorded with every run: library versions, device, platform, git commit."""
    versions = {"python": platform.python_version()}
    for dist in LIBRARIES:
        versions[dist] = version(dist)
    return {"versions": versions, "device": device_name(device), "device_type": device.type,
            "machine": machine(device), "platform": platform.platform(), "git_sha": git_sha()}
