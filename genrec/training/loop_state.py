"""What the fast path saves to resume a run exactly, and how checkpoints are written.

``last.ckpt`` holds everything an uninterrupted run would still have in memory: weights,
optimizer moments and step counts, the position in the epoch plan (epoch, batch), the random
generators (CPU and CUDA) that draw dropout masks, and the early-stopping record (best score,
its step, checks without improvement). The epoch plans are a pure function of (seed, epoch),
so no sampler state beyond the position is needed. ``best.ckpt`` holds the weights of the best
validation check. Both have the shape of a Lightning checkpoint (``state_dict``,
``hyper_parameters``, ``global_step``, ``epoch``), so evaluation, ``recommend`` and
``load_weights`` read either path's files; a ``fast_path`` entry marks the fast path's.
They are written atomically and read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from genrec.artefacts import write_atomic
from genrec.errors import ArtefactError

FAST_PATH_KEY = "fast_path"


@dataclass
class LoopState:
    step: int = 0  # optimiser steps taken
    epoch: int = 0  # the epoch being trained
    batch: int = 0  # the next batch of that epoch's plan
    best_score: float | None = None
    best_step: int | None = None
    bad_checks: int = 0  # validation checks since the best one
    checks: int = 0
    wall_seconds: float = 0.0  # fitting time over every part of the run (validation included)
    train_seconds: float = 0.0  # training steps only (validation excluded), for samples/s
    samples: int = 0  # real (weight-1) examples trained on
    parts: int = 1  # processes this run has been trained in


def _save(obj: dict, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def checkpoint_body(model, state: LoopState) -> dict:
    """The Lightning-shaped part every fast-path checkpoint has."""
    body = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "hyper_parameters": dict(model.hparams), "global_step": state.step, "epoch": state.epoch}
    if hasattr(model, "on_save_checkpoint"):
        model.on_save_checkpoint(body)  # e.g. TIGER's item-codes fingerprint
    return body


def save_best(path: Path, model, state: LoopState) -> None:
    _save({**checkpoint_body(model, state), FAST_PATH_KEY: {"kind": "best"}}, path)


def save_last(path: Path, model, optimizer_state: dict, state: LoopState, rng: dict) -> None:
    _save({**checkpoint_body(model, state), "optimizer": optimizer_state,
           FAST_PATH_KEY: {"kind": "last", "state": asdict(state), "rng": rng}}, path)


def load_last(path: Path) -> tuple[dict, LoopState, dict]:
    """(the checkpoint, its loop state, its RNG states); refuses a Lightning ``last.ckpt``."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    entry = checkpoint.get(FAST_PATH_KEY)
    if not entry or entry.get("kind") != "last":
        raise ArtefactError(f"{path} was written by the Lightning path (trainer.fast_path=off); resume it with "
                            "trainer.fast_path=off, or start a new run")
    return checkpoint, LoopState(**entry["state"]), entry["rng"]


def is_fast_path_checkpoint(path: Path) -> bool:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return FAST_PATH_KEY in checkpoint
