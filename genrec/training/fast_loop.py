"""The fast path: a lean training loop for small generators over training prefixes (TIGER, PRORec).

Lightning's loop costs a few milliseconds of Python per step, as much as a whole step of a
5M-parameter T5 on a GPU. This loop keeps the same contract (checkpoint selection on the
validation metric, early stopping, best/last checkpoints, CSV and TensorBoard logs, resume)
with nothing per step but a buffer copy and a graph launch:

* data: ``DevicePrefixes`` (every training prefix on the device, static-shape buckets);
* step: ``TrainStep`` (CUDA graphs per bucket, bf16 autocast, fused AdamW with the model's own
  settings and learning-rate schedule);
* the training loss is read every ``trainer.log_every_n_steps`` steps (one host sync), validation
  every ``trainer.val_check_interval`` steps runs the shared constrained decoder on the device;
* it stops when validation has not improved for ``trainer.patience`` checks (``early_stopping``),
  at ``trainer.max_steps`` / ``max_epochs``, or at a time cap (``max_time``, resumable):
  ``trainer.max_time_minutes`` over every part of the run, ``trainer.stop_after_minutes`` for
  this process alone (a lease-sized part);
* ``last.ckpt`` is written at every validation check and when the loop ends (also on Ctrl-C),
  and resuming from it is exact (``genrec/training/loop_state.py``).

On by default where CUDA is present (``trainer.fast_path=auto``); ``on`` runs it on the CPU
too (eagerly: graphs need CUDA), ``off`` uses Lightning everywhere.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from genrec.evaluation.evaluator import evaluate_model
from genrec.training.device_prefixes import DevicePrefixes
from genrec.training.loop_state import LoopState, load_last, save_best, save_last
from genrec.training.random_state import capture_rng, restore_rng
from genrec.training.train_step import ScheduledOptimizer, TrainStep

FAST_PATH_MODES = ("auto", "on", "off")


def fit_device(cfg) -> torch.device:
    wants_gpu = cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def supports_fast_path(model, cfg) -> bool:
    """Generators trained on prefixes whose loss is ``batch_losses`` (TIGER, PRORec); SASRec's
    windows with sampled negatives, LLM instructions and accumulated gradients stay on the Lightning path."""
    from genrec.generators.base import RankingModule

    return (cfg.generator.train_form == "prefixes" and cfg.trainer.accumulate_grad_batches == 1
            and type(model).batch_losses is not RankingModule.batch_losses)


def validation_interval(trainer_cfg, steps_per_epoch: int) -> int:
    """Steps between validation checks: ``val_check_interval`` steps (> 1), a fraction of an
    epoch (<= 1), else every ``check_val_every_n_epoch`` epochs."""
    interval = trainer_cfg.val_check_interval
    if interval is None:
        return max(1, trainer_cfg.check_val_every_n_epoch * steps_per_epoch)
    if interval > 1:
        return int(interval)
    return max(1, round(interval * steps_per_epoch))


class MetricsLog:
    """``logs/<version>/metrics.csv`` in the column layout of Lightning's CSVLogger (one row per
    event, empty cells elsewhere) plus TensorBoard events, so learning-curve readers serve both paths."""

    def __init__(self, directory: Path, ks):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.columns = ["epoch", "step", "train/loss", "lr"] + [f"valid/{m}@{k}" for m in ("recall", "ndcg")
                                                                 for k in ks]
        self._file = open(directory / "metrics.csv", "w", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns)
        self._csv.writeheader()
        from torch.utils.tensorboard import SummaryWriter

        self._tensorboard = SummaryWriter(str(directory))

    def write(self, epoch: int, step: int, values: dict) -> None:
        self._csv.writerow({"epoch": epoch, "step": step, **{k: v for k, v in values.items() if k in self.columns}})
        self._file.flush()
        for name, value in values.items():
            self._tensorboard.add_scalar(name, value, step)

    def close(self) -> None:
        self._file.close()
        self._tensorboard.close()


def fast_fit(cfg, model, datamodule, run_dir: Path, resume_from: Path | None, log_version: str, stop_request=None) -> dict:
    """Train ``model`` with the fast path; returns the report's ``train`` record."""
    t = cfg.trainer
    device = fit_device(cfg)
    part_start = time.perf_counter()
    model.to(device)
    model.train()
    prefixes = DevicePrefixes(datamodule.split, device, list(t.length_buckets) if t.length_buckets else None)
    steps_per_epoch = prefixes.batches_per_epoch(t.batch_size)
    every = validation_interval(t, steps_per_epoch)
    optimizer = ScheduledOptimizer(model, device)
    state = LoopState()
    if resume_from is not None:
        checkpoint, state, rng = load_last(resume_from)
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng(rng, device)
        state.parts += 1
    bf16 = str(t.precision).startswith("bf16")
    step = TrainStep(model, optimizer, prefixes, t.batch_size, bf16, t.gradient_clip_val, t.cuda_graphs)
    val_loader = datamodule.val_dataloader()
    ks = tuple(cfg.evaluation.ks)
    log = MetricsLog(run_dir / "logs" / log_version if log_version else run_dir / "logs", ks)
    budget = t.max_time_minutes * 60 if t.max_time_minutes else math.inf
    part_budget = t.stop_after_minutes * 60 if t.stop_after_minutes else math.inf
    max_steps = t.max_steps if t.max_steps and t.max_steps > 0 else math.inf
    wall_before, train_before, samples_before = state.wall_seconds, state.train_seconds, state.samples
    total = min(max_steps, t.max_epochs * steps_per_epoch)
    progress = tqdm(total=None if math.isinf(total) else int(total), initial=state.step, desc="train",
                    disable=not t.enable_progress_bar, dynamic_ncols=True)
    last_checked = state.step if resume_from is not None else -1
    stop, paused = None, False

    def elapsed() -> float:
        return wall_before + time.perf_counter() - part_start

    def validate() -> str | None:
        nonlocal last_checked
        metrics, _ = evaluate_model(model, val_loader, ks, "valid", progress=False, bf16=bf16)
        last_checked = state.step
        state.checks += 1
        score = metrics[cfg.evaluation.monitor]
        log.write(state.epoch, state.step, {f"valid/{k}": v for k, v in metrics.items()})
        progress.set_postfix({f"val {cfg.evaluation.monitor}": f"{score:.4f}"}, refresh=False)
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_step, state.bad_checks = score, state.step, 0
            save_best(run_dir / "best.ckpt", model, state)
        else:
            state.bad_checks += 1
        if state.bad_checks >= t.patience:
            return "early_stopping"
        return None

    def checkpoint_last() -> None:
        state.wall_seconds = elapsed()
        save_last(run_dir / "last.ckpt", model, optimizer.state_dict(), state, capture_rng(device))

    try:
        sync_time = time.perf_counter()
        while stop is None:
            plan = prefixes.plan(cfg.seed, state.epoch, t.batch_size)
            while state.batch < len(plan) and stop is None:
                optimizer.set_step(state.step)
                step(plan.indices[state.batch], plan.weights[state.batch], plan.widths[state.batch])
                state.samples += plan.sizes[state.batch]
                state.step += 1
                state.batch += 1
                progress.update(1)
                if state.step % t.log_every_n_steps == 0:
                    loss = step.mean_loss()  # the one host sync of these steps
                    log.write(state.epoch, state.step, {"train/loss": loss, "lr": optimizer.current_lr()})
                    progress.set_postfix({"loss": f"{loss:.4f}"}, refresh=False)
                if state.step % every == 0:
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    state.train_seconds += time.perf_counter() - sync_time
                    stop = validate()
                    checkpoint_last()
                    sync_time = time.perf_counter()
                if stop is None and stop_request is not None and stop_request.requested:
                    stop = "interrupted"
                if stop is None and state.step >= max_steps:
                    stop = "max_steps"
                if stop is None and (elapsed() >= budget or time.perf_counter() - part_start >= part_budget):
                    stop, paused = "max_time", elapsed() < budget
            if state.batch >= len(plan):
                state.epoch, state.batch = state.epoch + 1, 0
                if stop is None and state.epoch >= t.max_epochs:
                    stop = "max_epochs"
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if last_checked != state.step:
            state.train_seconds += time.perf_counter() - sync_time
            if stop not in ("max_time", "interrupted"):  # a finished run: its final weights get a validation check
                validate()
    except KeyboardInterrupt:
        checkpoint_last()
        progress.close()
        log.close()
        raise
    checkpoint_last()
    progress.close()
    log.close()
    part_samples = state.samples - samples_before
    part_train_seconds = state.train_seconds - train_before
    best = run_dir / "best.ckpt"
    return {
        "epochs": state.epoch,
        "stop_reason": stop,
        "paused": paused,  # only this part's budget (trainer.stop_after_minutes) ended it
        "steps": state.step,
        "wall_time_s": round(time.perf_counter() - part_start, 2),  # this process's fit
        "train_time_total_s": round(state.wall_seconds, 1),  # every part of the run, validation included
        "examples_per_epoch": len(prefixes),
        "train_batches_s": round(part_train_seconds, 1),
        "samples_seen": part_samples,
        "samples_per_s": round(part_samples / part_train_seconds, 1) if part_train_seconds > 0 else None,
        "best_checkpoint": str(best if best.is_file() else run_dir / "last.ckpt"),
        "best_valid_score": state.best_score,
        "best_step": state.best_step,
        "validation_checks": state.checks,
        "resumed_from": str(resume_from) if resume_from else None,
        "parts": state.parts,
        "fast_path": {"device": str(device), "cuda_graphs": step.use_graphs, "captured_widths": sorted(step.graphs),
                      "length_buckets": prefixes.buckets, "batch_size": t.batch_size,
                      "precision": "bf16 autocast" if bf16 else "float32", "validation_every_steps": every,
                      "steps_per_epoch": steps_per_epoch},
    }
