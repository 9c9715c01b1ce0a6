"""A Lightning ``Trainer`` built from the ``trainer`` and ``evaluation`` config groups."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from genrec.training.random_state import capture_rng, restore_rng


class TrainingThroughput(Callback):
    """Seconds spent in training batches (forward, backward, optimiser; not validation) and the
    examples (and, for an LLM, non-padding tokens) they held, so reports can state samples/s
    and tokens/s."""

    def __init__(self):
        self.seconds, self.samples, self.tokens, self._start = 0.0, 0, 0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._start
        self.samples += len(next(iter(batch.values())))
        if "input_ids" in batch:  # an LLM's token rows (-1 = padding)
            self.tokens += int((batch["input_ids"] >= 0).sum())

    def summary(self) -> dict:
        rate = self.samples / self.seconds if self.seconds else None
        tokens = {"tokens_per_s": round(self.tokens / self.seconds, 1)} if self.tokens and self.seconds else {}
        return {"train_batches_s": round(self.seconds, 1), "samples_seen": self.samples,
                "samples_per_s": round(rate, 1) if rate else None, **tokens}


class PartTimeLimit(Callback):
    """``trainer.stop_after_minutes``: stop this process's part of a run after so many minutes of
    fitting (Lightning's own ``max_time`` counts every part of a resumed run)."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.start = time.perf_counter()
        self.fired = False

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if time.perf_counter() - self.start >= self.seconds:
            self.fired = True
            trainer.should_stop = True


class RandomState(Callback):
    """Every checkpoint carries the random generators' states (dropout masks); a resumed run
    restores them, so it continues with the masks an uninterrupted run would draw."""

    def on_save_checkpoint(self, trainer, module, checkpoint):
        checkpoint["rng"] = capture_rng(module.device)

    def on_load_checkpoint(self, trainer, module, checkpoint):
        if "rng" in checkpoint:
            restore_rng(checkpoint["rng"], module.device)


class ValidationPace(Callback):
    """A validation interval in steps meant for a GPU (TIGER's 1,000) never comes inside a short
    CPU run's time cap, which then ends without a single check. Under a cap, after the first 20
    training steps of a process this measures the step rate; if fewer than 3 checks would fit
    before the cap, the interval becomes a tenth of the steps the cap allows (at least 10) and the
    run says so. The interval chosen travels in checkpoints, so a resumed run keeps it, with or
    without a cap of its own (``cap_seconds=None``: nothing is measured, a chosen interval is kept;
    without it a part resumed with no cap went back to the configured interval and could end
    without a check)."""

    PROBE_STEPS, FEWEST, CHECKS, SHORTEST = 20, 3, 10, 10

    def __init__(self, cap_seconds: float | None):
        self.cap_seconds = cap_seconds
        self.chosen: int | None = None
        self._seen, self._start = 0, 0.0

    def on_train_start(self, trainer, module):
        self._start = time.perf_counter()
        if self.chosen is not None:
            trainer.val_check_batch = self.chosen

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._seen += 1
        if (self._seen != self.PROBE_STEPS or self.chosen is not None or self.cap_seconds is None
                or trainer.check_val_every_n_epoch is not None):
            return
        rate = self._seen / max(time.perf_counter() - self._start, 1e-9)
        reachable = int(rate * self.cap_seconds)
        configured = trainer.val_check_batch
        if configured * self.FEWEST > reachable:
            self.chosen = max(self.SHORTEST, reachable // self.CHECKS)
            trainer.val_check_batch = self.chosen
            print(f"validating every {self.chosen} steps instead of {configured}: at {rate:.1f} steps/s the time cap "
                  f"allows about {reachable} steps (trainer.val_check_interval)")

    def state_dict(self) -> dict:
        return {"chosen": self.chosen}

    def load_state_dict(self, state: dict) -> None:
        self.chosen = state.get("chosen")


class StoppedOnRequest(Exception):
    """Raised out of Lightning's loop after a Ctrl-C request, once ``last.ckpt`` is saved."""


class StopOnRequest(Callback):
    """Ctrl-C (``StopRequest``): after the current training step, save ``last.ckpt`` and leave the
    loop. The save happens in ``on_train_batch_end``, a point Lightning resumes from exactly (it
    counts the batch completed on restart); leaving by an exception skips the extra validation
    Lightning would run for ``should_stop``, which an uninterrupted run never has."""

    def __init__(self, request, path: Path):
        self.request, self.path = request, path

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.request.requested:
            trainer.save_checkpoint(self.path)
            raise StoppedOnRequest


def log_version(run_dir: Path, resuming: bool) -> str:
    """The logs' sub-folder: ``""`` (``logs/``) for a fresh run; ``resumed-<n>`` for the n-th
    continuation, because Lightning's loggers clear a folder they start in, and the learning
    curve before the resume must survive (``bench/reproduce.py`` reads every part)."""
    if not resuming:
        return ""
    return f"resumed-{len(list((run_dir / 'logs').glob('resumed-*'))) + 1}"


def build_trainer(cfg, run_dir: Path, resuming: bool = False, stop=None) -> tuple[pl.Trainer, ModelCheckpoint]:
    """Trainer with early stopping and best/last checkpoints on the validation metric."""
    t = cfg.trainer
    interval = t.val_check_interval
    if interval is not None and interval > 1:
        interval = int(interval)  # Lightning: an int counts training steps, a float is a fraction
    monitor = f"valid/{cfg.evaluation.monitor}"
    checkpoint = ModelCheckpoint(
        dirpath=run_dir, filename="best", monitor=monitor, mode="max", save_top_k=1, enable_version_counter=False,
    )
    # last.ckpt at every validation check, improved or not (Lightning's save_last follows the best only),
    # so a run killed at any point resumes from its latest check
    latest = ModelCheckpoint(dirpath=run_dir, filename="last", monitor=None, save_top_k=1, enable_version_counter=False)
    callbacks = [checkpoint, latest, EarlyStopping(monitor=monitor, mode="max", patience=t.patience, check_on_train_epoch_end=False),
                 TrainingThroughput(), RandomState()]
    if stop is not None:
        callbacks.append(StopOnRequest(stop, Path(run_dir) / "last.ckpt"))
    if t.stop_after_minutes:
        callbacks.append(PartTimeLimit(t.stop_after_minutes))
    if not t.max_time_minutes:  # no cap: a Timer that only keeps time, so a resumed run reports its total
        from pytorch_lightning.callbacks import Timer

        callbacks.append(Timer(duration=None))
    caps = [m * 60 for m in (t.max_time_minutes, t.stop_after_minutes) if m]
    if interval is not None and interval > 1:  # also uncapped: a part resumed without a cap keeps the pace
        callbacks.append(ValidationPace(min(caps) if caps else None))
    version = log_version(Path(run_dir), resuming)
    loggers = [
        CSVLogger(run_dir, name="logs", version=version),
        TensorBoardLogger(run_dir, name="logs", version=version, default_hp_metric=False),
    ]
    trainer = pl.Trainer(
        accelerator=t.accelerator,
        devices=_devices(t.devices),
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        use_distributed_sampler=False,  # the DataModule shards by rank itself, never padding evaluation
        precision=t.precision,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        max_time={"minutes": t.max_time_minutes} if t.max_time_minutes else None,
        check_val_every_n_epoch=t.check_val_every_n_epoch if t.val_check_interval is None else None,
        val_check_interval=interval,
        gradient_clip_val=t.gradient_clip_val,
        accumulate_grad_batches=t.accumulate_grad_batches,
        log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.enable_progress_bar,
        enable_model_summary=False,
        deterministic=t.deterministic,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        logger=loggers,
        default_root_dir=run_dir,
    )
    return trainer, checkpoint


def latest_saved_step(trainer: pl.Trainer) -> int:
    """The step of the last ``last.ckpt`` this trainer wrote (-1: none). The same on every rank, so all
    ranks agree on whether to save the final weights (a collective call under DDP)."""
    latest = next(c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.monitor is None)
    return latest._last_global_step_saved if latest.last_model_path or latest.best_model_path else -1


def _devices(value):
    """``trainer.devices`` as Lightning takes it: ``auto``, a count, or a list of indices."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def stop_reason(trainer: pl.Trainer, cfg) -> str:
    """Why fitting ended: early_stopping, max_epochs, max_steps or max_time (the budget)."""
    early = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    if early is not None and (early.stopped_epoch > 0 or early.wait_count >= early.patience):
        return "early_stopping"  # stopped_epoch stays 0 when the stop comes inside the first epoch
    if cfg.trainer.max_steps > 0 and trainer.global_step >= cfg.trainer.max_steps:
        return "max_steps"
    if _time_cap_reached(trainer):  # before max_epochs: a cap inside the last epoch still counts that epoch
        return "max_time"
    if trainer.current_epoch >= cfg.trainer.max_epochs:
        return "max_epochs"
    if any(isinstance(c, PartTimeLimit) and c.fired for c in trainer.callbacks):
        return "max_time"
    return "max_time" if cfg.trainer.max_time_minutes else "interrupted"


def paused_by_part_limit(trainer: pl.Trainer, reason: str) -> bool:
    """The fit ended only because this process's part ran out (``trainer.stop_after_minutes``):
    the run itself goes on when resumed."""
    fired = any(isinstance(c, PartTimeLimit) and c.fired for c in trainer.callbacks)
    return reason == "max_time" and fired and not _time_cap_reached(trainer)


def _time_cap_reached(trainer: pl.Trainer) -> bool:
    """Lightning's wall-clock Timer (``trainer.max_time_minutes``) ran out."""
    from pytorch_lightning.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    remaining = timer.time_remaining("train") if timer is not None else None
    return remaining is not None and remaining <= 0


def training_seconds(trainer: pl.Trainer) -> float | None:
    """Training time over every part of a resumed run, from Lightning's timer (the wall-clock cap's,
    or one that only keeps time)."""
    from pytorch_lightning.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    return round(timer.time_elapsed("train"), 1) if timer is not None else None
