"""What a training run settles before it deletes or writes anything.

A run validates its whole config and inputs first (config values at composition, data at
loading, the model at construction), then here: the output folders are writable, a result git
tracks is not silently replaced, a resume has a checkpoint that belongs to this very run (same
config, codes and data), and no other process trains the same run. Only then does it clear the
old checkpoints of a fresh run and write ``config.yaml``; any failure before leaves the run
folder as it was.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import torch
from omegaconf import OmegaConf

from genrec.artefacts import check_writable  # noqa: F401  (part of what a run checks)
from genrec.errors import ArtefactError, ConfigError

# keys a resumed run may change: budgets, logging, where things are, how evaluation is batched
RESUMABLE_KEYS = {
    "trainer.resume", "trainer.max_time_minutes", "trainer.stop_after_minutes", "trainer.evaluate_paused",
    "trainer.max_steps", "trainer.max_epochs", "trainer.patience", "trainer.enable_progress_bar",
    "trainer.eval_batch_size", "trainer.num_workers", "trainer.log_every_n_steps", "trainer.accelerator",
    "trainer.devices", "data.root", "results_dir", "checkpoints_dir", "tokenizers_dir", "overwrite_results",
}


def _tracked_by_git(path: Path) -> bool:
    try:
        result = subprocess.run(["git", "ls-files", "--error-unmatch", path.name], cwd=path.parent,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def check_committed_result(cfg) -> None:
    """A fresh run never silently replaces a ``results/<run>/metrics.json`` that git tracks."""
    report = Path(cfg.results_dir) / cfg.run / "metrics.json"
    if cfg.trainer.resume or cfg.overwrite_results or not report.is_file():
        return
    if _tracked_by_git(report):
        raise ConfigError(f"{report} is a committed result and run {cfg.run!r} would replace it; name your run "
                          "(run=<name>), or pass overwrite_results=true to retrain it on purpose")


def resume_checkpoint(cfg, directory: Path) -> Path | None:
    """``last.ckpt`` when ``trainer.resume`` (which must exist), else None."""
    if not cfg.trainer.resume:
        return None
    last = directory / "last.ckpt"
    if not last.is_file():
        raise ConfigError(f"trainer.resume=true, but {last} does not exist (nothing to continue); drop "
                          "trainer.resume to start the run afresh, or check run=/checkpoints_dir=")
    return last


def _flat(node, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        out.update(_flat(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


def check_resume(cfg, model, directory: Path, last: Path, fast_path: bool) -> None:
    """The checkpoint belongs to this run: same config (but for ``RESUMABLE_KEYS``), same codes and
    data (``model.check_checkpoint``), written by the training path this run takes."""
    saved_path = directory / "config.yaml"
    if saved_path.is_file():
        saved = _flat(OmegaConf.to_container(OmegaConf.load(saved_path), resolve=True))
        current = _flat(OmegaConf.to_container(cfg, resolve=True))
        changed = sorted(k for k in set(saved) | set(current)
                         if k not in RESUMABLE_KEYS and saved.get(k) != current.get(k))
        if changed:
            detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed[:6])
            raise ConfigError(f"trainer.resume=true, but this run's config differs from {saved_path} ({detail}); "
                              "resume with the run's own settings, or start a new run (run=<name>)")
    try:
        checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (a truncated zip, a pickle weights_only refuses, ...)
        raise ArtefactError(f"{last} cannot be read ({str(err).splitlines()[0][:120]}); it is damaged: delete it "
                            "and start the run afresh (without trainer.resume)") from None
    if hasattr(model, "check_checkpoint"):
        model.check_checkpoint(checkpoint, last)
    written_fast = "fast_path" in checkpoint
    if written_fast != fast_path:
        raise ConfigError(f"{last} was written by the {'fast' if written_fast else 'Lightning'} path and this run "
                          f"takes the {'fast' if fast_path else 'Lightning'} path; resume with trainer.fast_path="
                          f"{'on' if written_fast else 'off'}")


class RunLock:
    """Exclusive use of a run folder (``<run>/.lock``): a second process training the same run
    stops with exit code 2 before it touches anything."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".lock"
        self._handle = None

    def __enter__(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115  (held until __exit__)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ArtefactError(f"run {self.path.parent.name!r} is being trained by {holder} (lock {self.path}); "
                                "wait for it to finish, or give this run another name (run=<name>)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)
            self._handle.close()


def clear_fresh_run(directory: Path) -> None:
    """A fresh (not resumed) run starts without the checkpoints and logs of an earlier one."""
    import shutil

    for stale in ("best.ckpt", "last.ckpt"):
        (directory / stale).unlink(missing_ok=True)
    shutil.rmtree(directory / "logs", ignore_errors=True)
