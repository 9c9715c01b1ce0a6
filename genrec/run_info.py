"""What every result file records about where and how it was produced."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from functools import cache
from pathlib import Path

PACKAGES = ("torch", "pytorch-lightning", "transformers", "vector-quantize-pytorch", "torchmetrics",
            "omegaconf", "numpy", "sentence-transformers", "peft", "accelerate", "gguf")


@cache
def git_commit(cwd: Path | None = None) -> str:
    """HEAD's hash, with ``+dirty`` when tracked files differ from it; ``unknown`` outside git.
    ``$GENREC_COMMIT``, when set, wins: a copy of the tree shipped to another machine may carry
    no ``.git`` or a stale one, and the sender knows which commit it shipped.

    Cached: the first call (made when a run starts) is what every report of the process
    records, so commits made while a long benchmark runs are not attributed to it."""
    if os.environ.get("GENREC_COMMIT"):
        return os.environ["GENREC_COMMIT"]
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> dict:
    import torch

    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
