"""Fault drills: kill -9 or Ctrl-C a training run, resume it, and compare with a run never interrupted.

    python bench/faults.py [--steps 300] [--kill-after 60]     # writes results/reliability/resume.json

Each drill trains the same small TIGER (one layer each way, random item codes, float32 on the
CPU) on a synthetic LC-Rec dataset written to a temporary folder, with validation and a
``last.ckpt`` every 20 steps:

* ``uninterrupted``: ``--steps`` steps in one process;
* ``kill -9``: the same command, killed with SIGKILL once its ``last.ckpt`` has reached
  ``--kill-after`` steps, then the same command with ``trainer.resume=true``;
* ``ctrl-c``: the same command, sent SIGINT at that point (it stops after the current step and
  exits 130 with a resumable ``last.ckpt``), then resumed.

The record holds each run's final test metrics, steps and final-weights fingerprint, and
``"identical": true`` when the resumed runs match the uninterrupted one exactly. The tests
(tests/test_faults.py) run the same drills, shorter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
RUN = "tiger-random-synthetic"
SMALL_TIGER = ["generator.num_layers=1", "generator.num_decoder_layers=1", "generator.d_model=32", "generator.d_kv=8",
               "generator.num_heads=2", "generator.d_ff=64", "generator.beam_size=20", "generator.warmup_steps=10"]


def write_synthetic_dataset(root: Path, users: int = 400, items: int = 150, length: int = 12, seed: int = 0) -> None:
    """``Synthetic.inter.json`` in LC-Rec form: each user walks the catalogue in steps of 7 from a random start."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(items, size=users)
    inter = {str(u): [int((s + 7 * k) % items) for k in range(length)] for u, s in enumerate(starts)}
    root.mkdir(parents=True, exist_ok=True)
    (root / "Synthetic.inter.json").write_text(json.dumps(inter))


def train_command(root: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "train.py", "data=beauty_lcrec", f"data.root={root}", "data.directory=.",
            "data.name=Synthetic", "data.dataset=synthetic", "data.max_history=8", "tokenizer=random",
            f"tokenizers_dir={root / 'tokenizers'}", f"results_dir={root / 'results'}",
            f"checkpoints_dir={root / 'checkpoints'}", *SMALL_TIGER, "trainer.precision=32-true",
            "trainer.fast_path=off", "trainer.batch_size=32", "trainer.val_check_interval=20", "trainer.val_users=100",
            "trainer.patience=1000", "trainer.max_time_minutes=null", f"trainer.max_steps={steps}",
            "trainer.enable_progress_bar=false", "trainer.eval_batch_size=256", "trainer.accelerator=cpu", *extra]


def _checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # noqa: BLE001  (absent, or still being written)
        return -1


def run(command: list[str], interrupt: int | None = None, after_step: int = 0,
        root: Path | None = None) -> tuple[int, str]:
    """Run ``command``; with ``interrupt`` (a signal), send it once ``last.ckpt`` holds ``after_step``
    steps. Returns the exit code and the console output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, start_new_session=True)
    if interrupt is not None:
        last = root / "checkpoints" / RUN / "last.ckpt"
        while process.poll() is None and _checkpoint_step(last) < after_step:
            time.sleep(0.05)
        if process.poll() is None:
            if interrupt == signal.SIGKILL:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, interrupt)
    output, _ = process.communicate()
    if process.returncode not in (0, -signal.SIGKILL, 130):
        raise RuntimeError(f"{' '.join(command[1:4])} ... exited {process.returncode}:\n{output[-3000:]}")
    return process.returncode, output


def outcome(root: Path) -> dict:
    report = json.loads((root / "results" / RUN / "metrics.json").read_text())
    weights = torch.load(root / "checkpoints" / RUN / "last.ckpt", map_location="cpu", weights_only=True)
    digest = hashlib.sha256()
    for name, tensor in sorted(weights["state_dict"].items()):
        digest.update(name.encode() + tensor.contiguous().numpy().tobytes())
    return {"test": report["test"], "valid": report["valid"], "steps": report["train"]["steps"],
            "best_valid_score": report["train"]["best_valid_score"], "final_weights_sha256": digest.hexdigest()[:16]}


def drill(workdir: Path, steps: int, kill_after: int, interrupt: int | None) -> dict:
    """One run of the drill in ``workdir`` (a fresh copy of the dataset): uninterrupted when
    ``interrupt`` is None, else interrupted by that signal and resumed."""
    write_synthetic_dataset(workdir)
    first, _ = run(train_command(workdir, steps), interrupt, kill_after, workdir)
    record = {}
    if interrupt is not None:
        stopped_at = _checkpoint_step(workdir / "checkpoints" / RUN / "last.ckpt")
        record = {"interrupted_exit_code": first, "resumed_from_step": stopped_at}
        if first == 0:
            raise RuntimeError("the run finished before it could be interrupted; raise --steps")
        _, console = run(train_command(workdir, steps, "trainer.resume=true"))
        # what the resumed process warned about: warnings print as ``<file>.py:<line>: ...``
        record["resumed_warnings"] = [line.strip() for line in console.splitlines()
                                      if re.match(r"\S+\.py:\d+: ", line.strip())]
    return {**record, **outcome(workdir)}


def drills(steps: int, kill_after: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        base = drill(Path(tmp) / "uninterrupted", steps, kill_after, None)
        killed = drill(Path(tmp) / "kill9", steps, kill_after, signal.SIGKILL)
        ctrl_c = drill(Path(tmp) / "ctrlc", steps, kill_after, signal.SIGINT)
    same = {name: r["test"] == base["test"] and r["final_weights_sha256"] == base["final_weights_sha256"]
            for name, r in (("kill -9", killed), ("ctrl-c", ctrl_c))}
    return {"uninterrupted": base, "kill -9": killed, "ctrl-c": ctrl_c, "identical_by_drill": same,
            "identical": all(same.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--kill-after", type=int, default=60)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from genrec.artefacts import write_json_atomic
    from genrec.run_info import git_commit, hardware, versions

    start = time.perf_counter()
    result = drills(args.steps, args.kill_after)
    result.update({"steps": args.steps, "interrupted_after_step": args.kill_after,
                   "command": " ".join(train_command(Path("<tmp>"), args.steps)[1:]), "commit": git_commit(),
                   "versions": versions(), "hardware": hardware(), "wall_time_s": round(time.perf_counter() - start, 1)})
    write_json_atomic(ROOT / "results" / "reliability" / "resume.json", result)
    print(json.dumps({k: result[k] for k in ("identical_by_drill", "identical")}, indent=1))
    for name in ("uninterrupted", "kill -9", "ctrl-c"):
        r = result[name]
        print(f"{name:<14} steps {r['steps']}  test ndcg@10 {r['test']['ndcg@10']:.4f}  weights {r['final_weights_sha256']}"
              + (f"  (stopped at step {r['resumed_from_step']}, exit {r['interrupted_exit_code']})" if "resumed_from_step" in r else ""))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
