"""Scale-out check on 2 CPU processes (gloo): training and evaluation under DDP, and a fixed model's
sharded evaluation against one process's.

    python bench/ddp.py [--steps 60]        # writes results/bench/ddp.json

1. ``python train.py ... trainer.strategy=ddp trainer.devices=2 trainer.accelerator=cpu``: the small
   TIGER of ``bench/faults.py`` on its synthetic dataset, trained and evaluated by two processes
   (Lightning launches the second).
2. The trained run re-scored by ``python evaluate.py run=...`` in one process, and by
   ``torchrun --nproc-per-node 2 evaluate.py run=...`` in two, each ranking its shard of the users.

``identical_metrics`` is true when the two evaluations agree on every metric, exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import RUN, train_command, write_synthetic_dataset  # noqa: E402


def _run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


def ddp_check(workdir: Path, steps: int) -> dict:
    write_synthetic_dataset(workdir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENREC_DATA_DIR": str(workdir)}
    start = time.perf_counter()
    _run(train_command(workdir, steps, "trainer.strategy=ddp", "trainer.devices=2"), env)
    trained = json.loads((workdir / "results" / RUN / "metrics.json").read_text())
    train_seconds = time.perf_counter() - start
    evaluate = ["evaluate.py", f"run={RUN}", f"checkpoints_dir={workdir / 'checkpoints'}"]
    _run([sys.executable, *evaluate, f"results_dir={workdir / 'one'}"], env)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    _run([torchrun, "--nproc-per-node=2", "--master-port=29531", *evaluate, f"results_dir={workdir / 'two'}"], env)
    one = json.loads((workdir / "one" / RUN / "metrics.json").read_text())
    two = json.loads((workdir / "two" / RUN / "metrics.json").read_text())
    return {
        "ddp_training": {"processes": 2, "steps": trained["train"]["steps"], "test": trained["test"],
                         "test_users": trained["eval"]["users"], "wall_time_s": round(train_seconds, 1)},
        "single_process": {"valid": one["valid"], "test": one["test"], "users": one["eval"]["users"]},
        "two_processes": {"valid": two["valid"], "test": two["test"], "users": two["eval"]["users"]},
        "identical_metrics": one["valid"] == two["valid"] and one["test"] == two["test"]
        and one["eval"]["users"] == two["eval"]["users"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from genrec.artefacts import write_json_atomic
    from genrec.run_info import git_commit, hardware, versions

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = ddp_check(Path(tmp), args.steps)
    result.update({"backend": "gloo (CPU)", "command": "python train.py <bench/faults.py small TIGER> "
                   "trainer.strategy=ddp trainer.devices=2 trainer.accelerator=cpu; evaluate.py run=... in 1 and "
                   "(torchrun) 2 processes", "commit": git_commit(), "versions": versions(), "hardware": hardware(),
                   "wall_time_s": round(time.perf_counter() - start, 1)})
    write_json_atomic(ROOT / "results" / "bench" / "ddp.json", result)
    print(json.dumps({k: result[k] for k in ("ddp_training", "identical_metrics")}, indent=1))
    return 0 if result["identical_metrics"] else 1


if __name__ == "__main__":
    sys.exit(main())
