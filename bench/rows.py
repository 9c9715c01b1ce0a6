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


def add_row_options(parser) -> None:
    """The options of a benchmark whose rows train here or side by side: threads, jobs, skip, summary."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once, each in its own process")
    parser.add_argument("--skip-existing", action="store_true", help="reuse results/<run>/metrics.json")
    parser.add_argument("--summary-only", action="store_true", help="rebuild the table from the results only")


def parse_command_line(parser, argv: list[str] | None = None):
    """(the parsed options, the config overrides for every row). Rows may train in this process, so
    the libraries' banners and tips are silenced as train.py does, and ``--threads`` (where the parser
    has it) is applied."""
    from genrec.quiet import quiet_libraries

    options, overrides = split_overrides(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(options)
    quiet_libraries()
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    return args, overrides


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
