"""One optimiser step of the GPU fast path: eager, or replayed from a captured CUDA graph.

A small generator (TIGER's T5 is about 5M parameters) launches over a thousand tiny kernels a
step; launched one by one from Python they, not the arithmetic, bound the step. Captured once
per bucket width into a CUDA graph (batch gather, forward under bf16 autocast, backward,
gradient clipping, the fused AdamW update, the loss accumulator), a step is one graph launch.

The recipe is PyTorch's whole-network capture: the first batch of each width runs eagerly on a
side stream (it warms up the allocator, cuBLAS and the optimizer's state and is a real training
step), the next one is captured and every later one replays. Graphs share one memory pool (they
never run at once), gradients are zeroed in place so their addresses stay fixed, the learning
rate is a device tensor set before each step (no re-capture when it changes), and autocast's
weight cache is off (a requirement of capture). On the CPU, or with ``cuda_graphs`` off, the
same step body runs eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from genrec.errors import ConfigError
from genrec.training.device_prefixes import DevicePrefixes

SUPPORTED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


class ScheduledOptimizer:
    """The model's own optimizer settings (``configure_optimizers``: class, learning rates, betas,
    weight decay, per-step ``LambdaLR`` multiplier) rebuilt for the fast path: fused and
    graph-capturable on CUDA, the learning rate a device tensor there."""

    def __init__(self, model, device: torch.device):
        reference = model.configure_optimizers()
        optimizer = reference["optimizer"] if isinstance(reference, dict) else reference
        schedule = reference.get("lr_scheduler") if isinstance(reference, dict) else None
        if type(optimizer) not in SUPPORTED_OPTIMIZERS:
            raise ConfigError(f"trainer.fast_path supports Adam and AdamW, {type(model).__name__} uses "
                              f"{type(optimizer).__name__}; set trainer.fast_path=off")
        scheduler = schedule["scheduler"] if isinstance(schedule, dict) else schedule
        self.multiplier: Callable[[int], float] = scheduler.lr_lambdas[0] if scheduler is not None else (lambda s: 1.0)
        self.base_lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        self.on_cuda = device.type == "cuda"
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"], "betas": g["betas"], "eps": g["eps"],
                   "lr": torch.tensor(lr, device=device) if self.on_cuda else lr}
                  for g, lr in zip(optimizer.param_groups, self.base_lrs)]
        flags = {"fused": True, "capturable": True} if self.on_cuda else {}
        self.optimizer = type(optimizer)(groups, lr=self.base_lrs[0], **flags)

    def set_step(self, step: int) -> None:
        """Learning rates for optimiser step ``step`` (0-based), as Lightning's per-step LambdaLR sets them."""
        factor = self.multiplier(step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            if self.on_cuda:
                group["lr"].fill_(base * factor)  # a device-side fill: no host sync, no re-capture
            else:
                group["lr"] = base * factor

    def current_lr(self) -> float:
        lr = self.optimizer.param_groups[0]["lr"]
        return float(lr) if not torch.is_tensor(lr) else float(lr.item())

    def state_dict(self) -> dict:
        state = self.optimizer.state_dict()
        for group in state["param_groups"]:  # plain floats travel between CPU and CUDA runs
            group["lr"] = float(group["lr"]) if not torch.is_tensor(group["lr"]) else float(group["lr"].item())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore moments and step counts; the flags (fused, capturable) and the learning rate's
        form stay this optimizer's, whichever device the state was saved on."""
        own = [{key: g.get(key) for key in ("fused", "capturable", "foreach", "differentiable")}
               for g in self.optimizer.param_groups]
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        # the saved groups' flags decide where step counters are placed on load: make them ours first
        groups = [{**saved, **flags} for saved, flags in zip(state["param_groups"], own)]
        self.optimizer.load_state_dict({**state, "param_groups": groups})
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr


class TrainStep:
    def __init__(self, model, optimizer: ScheduledOptimizer, prefixes: DevicePrefixes, batch_size: int,
                 bf16: bool, gradient_clip: float | None, cuda_graphs: bool):
        self.model, self.optimizer, self.prefixes = model, optimizer, prefixes
        self.device = prefixes.device
        self.bf16, self.gradient_clip = bf16, gradient_clip
        self.use_graphs = cuda_graphs and self.device.type == "cuda"
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.index = torch.zeros(batch_size, dtype=torch.long, device=self.device)  # the graphs' inputs
        self.weight = torch.zeros(batch_size, dtype=torch.float32, device=self.device)
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)  # read every few steps only
        self.loss_steps = 0
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.warmed: set[int] = set()
        self.eager_widths: set[int] = set()  # widths whose capture failed
        self._pool = None

    def _body(self, width: int) -> None:
        self.optimizer.optimizer.zero_grad(set_to_none=False)  # in place: gradient addresses stay fixed
        batch = self.prefixes.gather(self.index, width)
        batch["weight"] = self.weight
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16, cache_enabled=False):
            loss = self.model.batch_losses(batch)["loss"]
        loss.backward()
        if self.gradient_clip:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.gradient_clip, foreach=self.device.type == "cuda")
        self.optimizer.optimizer.step()
        self.loss_sum.add_(loss.detach().float())

    def __call__(self, index: torch.Tensor, weight: torch.Tensor, width: int) -> None:
        """One optimiser step on the examples ``index`` (weights ``weight``) at history width ``width``."""
        self.index.copy_(index)
        self.weight.copy_(weight)
        self.loss_steps += 1
        if not self.use_graphs:
            self._body(width)
        elif width in self.graphs:
            self.graphs[width].replay()
        elif width not in self.warmed:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._body(width)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.warmed.add(width)
        elif width in self.eager_widths:
            self._body(width)
        else:
            self._capture(width)

    def _capture(self, width: int) -> None:
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        try:
            with torch.cuda.graph(graph, pool=self._pool):
                self._body(width)
        except RuntimeError as err:  # a model whose step cannot be captured still trains, eagerly
            warnings.warn(f"CUDA graph capture failed at history width {width} ({str(err).splitlines()[0]}); "
                          "this width runs eagerly", stacklevel=2)
            torch.cuda.synchronize(self.device)
            self.eager_widths.add(width)
            self._body(width)
            return
        self._pool = graph.pool()
        self.graphs[width] = graph
        graph.replay()  # capture records the step without running it

    def mean_loss(self) -> float | None:
        """Mean training loss since the last call (one host sync), None when no step ran."""
        if self.loss_steps == 0:
            return None
        value = float(self.loss_sum.item()) / self.loss_steps
        self.loss_sum.zero_()
        self.loss_steps = 0
        return value
