"""``trainer.precision=auto``, and a warning when the precision chosen is slow on this machine.

``auto`` is ``bf16-mixed`` where the run trains on CUDA and ``32-true`` on a CPU. On the CPUs
this project was measured on, bf16 autocast made TIGER far slower, not faster (6.7 against 181
samples/s on a 2-core Intel Xeon with avx512_bf16: autocast adds a cast to every small op and
the matrices are too small to gain), so a CPU gets float32 unless asked otherwise. A run that
asks for a reduced precision on a CPU first times a few training steps both ways and says so
when the asked one is much slower.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch

REDUCED = ("bf16-mixed", "bf16-true", "16-mixed", "16-true")
SLOWER_WARNING = 1.5  # warn when the asked precision is this many times slower than float32


def training_device(accelerator: str) -> str:
    return "cuda" if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"


def resolve_precision(precision: str, accelerator: str) -> str:
    if precision != "auto":
        return precision
    return "bf16-mixed" if training_device(accelerator) == "cuda" else "32-true"


def _step_seconds(model, batch, dtype) -> float:
    context = torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with context:
            loss = model.batch_losses(batch)["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def reduced_precision_warning(model, batch, precision: str) -> str | None:
    """On a CPU with a reduced ``precision``: time three forward+backward passes of one batch
    in float32 and under autocast; a sentence when the asked precision is much slower."""
    if precision not in REDUCED or model.device.type != "cpu":
        return None
    dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float16
    was_training = model.training
    model.train()
    fp32, reduced = _step_seconds(model, batch, None), _step_seconds(model, batch, dtype)
    model.train(was_training)
    if reduced < SLOWER_WARNING * fp32:
        return None
    return (f"trainer.precision={precision} runs a training step in {reduced:.2f} s on this CPU against "
            f"{fp32:.2f} s in float32 ({reduced / fp32:.1f}x slower); use trainer.precision=auto (float32 on a CPU)")
