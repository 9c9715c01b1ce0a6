"""Running a benchmark's rows: config overrides from its command line, and several
``python train.py ...`` commands at once, ``jobs`` at a time.

Small generators (TIGER's T5 is about 5M parameters) leave a GPU mostly idle: one
process cannot launch kernels fast enough to fill it. Running the rows of a benchmark
side by side on one GPU fills it and gives each row the same conditions. Each command's
console output goes to ``checkpoints/<run>/console.log``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the script's own options, the ``key=value`` config overrides for every row), wherever the
    overrides stand: after ``--rows a b`` they would otherwise be taken for more rows."""
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    return [a for a in argv if a not in overrides], overrides


def run_parallel(commands: dict[str, list[str]], jobs: int, checkpoints_dir: str = "checkpoints") -> dict[str, int]:
    """Run ``{run name: train.py arguments}`` with at most ``jobs`` at a time; exit code per run."""
    pending = list(commands.items())
    running: dict[str, tuple[subprocess.Popen, object]] = {}
    codes: dict[str, int] = {}
    while pending or running:
        while pending and len(running) < max(jobs, 1):
            name, args = pending.pop(0)
            log_path = ROOT / checkpoints_dir / name / "console.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "w")  # noqa: SIM115 (closed when the process ends)
            print(f"start {name}: python train.py {' '.join(args)}  (log: {log_path.relative_to(ROOT)})", flush=True)
            process = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT)
            running[name] = (process, log)
        time.sleep(1)
        for name, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.close()
                codes[name] = process.returncode
                print(f"done {name}: exit {process.returncode}", flush=True)
                del running[name]
    return codes
