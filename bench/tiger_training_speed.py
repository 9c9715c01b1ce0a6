"""TIGER training throughput: samples/s of the training paths, side by side in one run.

    python bench/tiger_training_speed.py [--dataset beauty] [--tokenizer rqvae] [--device cpu|cuda]
                                         [--batch-sizes 256 1024] [--steps 50] [--repeats 3] [key=value ...]

Same model (TIGER size), same Beauty training prefixes, optimiser step included. Settings:

* on a CPU (``--device cpu``, batch 256): ``padded_to_max_fp32`` (every history padded to 20
  items), ``grouped_fp32`` (the Lightning path's length-grouped batches), ``grouped_bf16``, and
  ``fast_path_fp32`` (the fast path's device-resident static-shape batches, eager);
* on a GPU (``--device cuda``, every ``--batch-sizes``): ``lightning_baseline`` (today's path,
  one row alone on the whole GPU: Lightning's loop, the batched-gather DataLoader, bf16-mixed),
  ``fast_path_eager`` (device-resident batches, fused AdamW, bf16 autocast, no graphs) and
  ``fast_path_graphs`` (the same step captured as a CUDA graph per bucket).

Each setting trains ``--steps`` timed steps after warm-up steps (graph capture included there)
on the batches of a real epoch plan; settings are interleaved over ``--repeats`` passes and the
median pass is reported. On CUDA a profile of the eager fast-path step gives kernels per step
and GPU kernel time per step, which says what bounds the graph replay, and which bucket widths
were captured (or fell back to eager steps because capture failed). Writes
``results/bench/tiger_training_speed.json`` / ``.md`` (``_cuda`` in the name on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genrec.artefacts import write_json_atomic, write_text_atomic  # noqa: E402
from genrec.config import compose  # noqa: E402
from genrec.data.batches import collate  # noqa: E402
from genrec.run_info import git_commit, hardware, versions  # noqa: E402
from genrec.training.device_prefixes import DevicePrefixes  # noqa: E402
from genrec.training.pipeline import build_datamodule, build_generator  # noqa: E402
from genrec.training.train_step import ScheduledOptimizer, TrainStep  # noqa: E402

CPU_SETTINGS = ("padded_to_max_fp32", "grouped_fp32", "grouped_bf16", "fast_path_fp32")
GPU_SETTINGS = ("lightning_baseline", "fast_path_eager", "fast_path_graphs")
WARMUP_STEPS = 12  # then every bucket of the plan is warmed and captured (FastPath) before any timed step


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh_model(cfg, datamodule, device):
    torch.manual_seed(0)
    model = build_generator(cfg, datamodule).to(device)
    model.log = lambda *a, **k: None  # no Trainer attached
    return model.train()


# ---------------------------------------------------------------- the model's own step (CPU rows)
def model_batches(datamodule, steps: int, grouped: bool) -> list[dict]:
    """``steps + 1`` batches: of one epoch of the length-grouped loader, those at evenly spaced
    quantiles of their padded length (the first a short warm-up), or random examples padded to
    the full history length."""
    generator = torch.Generator().manual_seed(0)
    if grouped:
        epoch = sorted(datamodule.train_dataloader(), key=lambda b: b["history"].shape[1])
        quantiles = torch.linspace(0, len(epoch) - 1, steps + 1).round().long().tolist()
        return [epoch[i] for i in quantiles]
    dataset = datamodule.train_dataset()
    out = []
    for _ in range(steps + 1):
        index = torch.randint(len(dataset), (datamodule.batch_size,), generator=generator).tolist()
        batch = collate([dataset[i] for i in index])
        pad = datamodule.split.max_history - batch["history"].shape[1]
        batch["history"] = torch.nn.functional.pad(batch["history"], (pad, 0), value=-1)
        out.append(batch)
    return out


def model_step_seconds(model, optimizer, data: list[dict], bf16: bool) -> float:
    """Mean seconds per step of the model's Lightning ``training_step`` + AdamW (first step warms up)."""
    times = []
    for i, batch in enumerate(data):
        synchronize(model.device)
        start = time.perf_counter()
        with torch.autocast(model.device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
            loss = model.training_step(batch, i)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(model.device)
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.mean(times)


# ---------------------------------------------------------------- the fast path
class FastPath:
    """A model, its ScheduledOptimizer and TrainStep over one epoch plan, stepped in a cycle."""

    def __init__(self, cfg, datamodule, device, batch_size: int, bf16: bool, graphs: bool):
        self.model = fresh_model(cfg, datamodule, device)
        self.prefixes = DevicePrefixes(datamodule.split, device)
        self.optimizer = ScheduledOptimizer(self.model, device)
        self.step = TrainStep(self.model, self.optimizer, self.prefixes, batch_size, bf16, None, graphs)
        self.plan = self.prefixes.plan(cfg.seed, 0, batch_size)
        self.position = 0
        self.device = device
        self.warm_up()

    def warm_up(self) -> None:
        """``WARMUP_STEPS`` steps, then every bucket width of the plan warmed and captured (with
        graphs), so no timed step pays for a capture."""
        self.run(WARMUP_STEPS)
        for width in sorted(set(self.plan.widths)):
            batch = self.plan.widths.index(width)
            while self.step.use_graphs and width not in self.step.graphs and width not in self.step.eager_widths:
                self.step(self.plan.indices[batch], self.plan.weights[batch], width)

    def capture_record(self) -> dict:
        """Which bucket widths replay a CUDA graph and which fell back to eager steps (capture failed)."""
        return {"captured_widths": sorted(self.step.graphs), "capture_failed_widths": sorted(self.step.eager_widths)}

    def run(self, steps: int) -> None:
        for _ in range(steps):
            b = self.position % len(self.plan)
            self.optimizer.set_step(self.position)
            self.step(self.plan.indices[b], self.plan.weights[b], self.plan.widths[b])
            self.position += 1

    def seconds_per_step(self, steps: int) -> float:
        synchronize(self.device)
        start = time.perf_counter()
        self.run(steps)
        synchronize(self.device)
        return (time.perf_counter() - start) / steps


def profile_eager_step(fast: FastPath, steps: int = 5) -> dict:
    """Kernels launched per eager fast-path step and the GPU time they take (CUDA only)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fast.run(steps)
        synchronize(fast.device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(e.device_time for e in kernels)
    return {"kernels_per_step": len(kernels) / steps, "gpu_kernel_ms_per_step": busy_us / steps / 1000}


# ---------------------------------------------------------------- today's path on a GPU: Lightning
def lightning_seconds_per_step(cfg, datamodule, device, batch_size: int, steps: int) -> float:
    """Seconds per step of Lightning's loop (DataLoader included), timed between batch starts
    after ``WARMUP_STEPS``, one model alone on the device."""
    import pytorch_lightning as pl

    class Clock(pl.Callback):
        def __init__(self):
            self.marks = {}

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step in (WARMUP_STEPS, WARMUP_STEPS + steps):
                synchronize(device)
                self.marks[trainer.global_step] = time.perf_counter()

    datamodule.batch_size = batch_size
    model = fresh_model(cfg, datamodule, device)
    clock = Clock()
    trainer = pl.Trainer(accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=WARMUP_STEPS + steps + 1,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock])
    trainer.fit(model, datamodule=datamodule)
    return (clock.marks[WARMUP_STEPS + steps] - clock.marks[WARMUP_STEPS]) / steps


# ---------------------------------------------------------------- runs
def cpu_rows(cfg, datamodule, steps: int, repeats: int) -> list[dict]:
    device = torch.device("cpu")
    model = fresh_model(cfg, datamodule, device)
    optimizer = model.configure_optimizers()["optimizer"]
    data = {"padded_to_max_fp32": model_batches(datamodule, steps, grouped=False),
            "grouped_fp32": model_batches(datamodule, steps, grouped=True)}
    data["grouped_bf16"] = data["grouped_fp32"]
    fast = FastPath(cfg, datamodule, device, datamodule.batch_size, bf16=False, graphs=False)
    passes = {name: [] for name in CPU_SETTINGS}
    for _ in range(repeats):
        for name in CPU_SETTINGS:
            if name == "fast_path_fp32":
                passes[name].append(fast.seconds_per_step(steps))
            else:
                passes[name].append(model_step_seconds(model, optimizer, data[name], name.endswith("bf16")))
    return [row(name, datamodule.batch_size, passes[name]) for name in CPU_SETTINGS]


def gpu_rows(cfg, datamodule, device, batch_sizes: list[int], steps: int, repeats: int) -> tuple[list[dict], dict]:
    rows, profiles = [], {}
    for batch_size in batch_sizes:
        fast = {name: FastPath(cfg, datamodule, device, batch_size, bf16=True, graphs=name == "fast_path_graphs")
                for name in ("fast_path_eager", "fast_path_graphs")}
        passes = {name: [] for name in GPU_SETTINGS}
        for _ in range(repeats):
            for name in GPU_SETTINGS:
                if name == "lightning_baseline":
                    passes[name].append(lightning_seconds_per_step(cfg, datamodule, device, batch_size, steps))
                else:
                    passes[name].append(fast[name].seconds_per_step(steps))
        rows += [row(name, batch_size, passes[name]) for name in GPU_SETTINGS]
        profiles[batch_size] = profile_eager_step(fast["fast_path_eager"])
        profiles[batch_size]["graph_replay_ms_per_step"] = statistics.median(passes["fast_path_graphs"]) * 1000
        profiles[batch_size].update(fast["fast_path_graphs"].capture_record())
        del fast
        torch.cuda.empty_cache()
    return rows, profiles


def row(name: str, batch_size: int, pass_seconds: list[float]) -> dict:
    median = statistics.median(pass_seconds)
    print(f"{name:<22} batch {batch_size:>5}: {median * 1000:8.2f} ms/step  {batch_size / median:10.0f} samples/s",
          flush=True)
    return {"setting": name, "batch_size": batch_size, "step_s": median, "samples_per_s": batch_size / median,
            "pass_step_s": pass_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="beauty")
    parser.add_argument("--tokenizer", default="rqvae")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="GPU: default 256 1024")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per pass (default: CPU 6, GPU 100)")
    parser.add_argument("--repeats", type=int, default=3)
    overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]  # config overrides
    args = parser.parse_args([a for a in sys.argv[1:] if a not in overrides])
    device = torch.device(args.device)
    torch.set_flush_denormal(True)  # as train.py does: subnormal Adam moments otherwise slow CPU steps several-fold
    cfg = compose([f"experiment=tiger_{args.dataset}", f"tokenizer={args.tokenizer}", "trainer.batch_size=256",
                   *overrides])
    datamodule = build_datamodule(cfg)
    start = time.perf_counter()
    header = {"dataset": args.dataset, "tokenizer": cfg.tokenizer.name, "overrides": overrides,
              "batch_sizes_asked": [256] if device.type == "cpu" else args.batch_sizes or [256, 1024],
              "repeats": args.repeats, "commit": git_commit(), "versions": versions(), "hardware": hardware()}
    if device.type == "cpu":
        steps = args.steps or 6
        write_record(cfg, device, {**header, "steps_per_pass": steps, "settings": cpu_rows(cfg, datamodule, steps,
                                                                                            args.repeats),
                                   "profile_eager_fast_path": {}}, start)
        return 0
    steps, rows, profiles = args.steps or 100, [], {}
    for batch_size in args.batch_sizes or [256, 1024]:  # a record after each batch: a time cap keeps the first
        batch_rows, batch_profiles = gpu_rows(cfg, datamodule, device, [batch_size], steps, args.repeats)
        rows, profiles = rows + batch_rows, {**profiles, **batch_profiles}
        at_256 = {r["setting"]: r["samples_per_s"] for r in rows if r["batch_size"] == 256}
        write_record(cfg, device, {**header, "steps_per_pass": steps, "settings": rows,
                                   "profile_eager_fast_path": profiles, "device": torch.cuda.get_device_name(device),
                                   "batch_size": 256, "gpu_baseline_samples_per_s": at_256.get("lightning_baseline"),
                                   "gpu_fast_path_samples_per_s": at_256.get("fast_path_graphs")}, start)
    return 0


def write_record(cfg, device: torch.device, result: dict, start: float) -> None:
    """Write the record so far, with the wall time up to now, as JSON and as a table."""
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    name = "tiger_training_speed" + ("" if device.type == "cpu" else f"_{device.type}")
    write_json_atomic(Path(cfg.results_dir) / "bench" / f"{name}.json", result)
    text = table(result, device)
    write_text_atomic(Path(cfg.results_dir) / "bench" / f"{name}.md", text + "\n")
    print(text, flush=True)


def table(result: dict, device: torch.device) -> str:
    where = (result.get("device") if device.type == "cuda"
             else f"{result['hardware']['cpu']} ({result['hardware']['torch_threads']} threads)")
    lines = [f"TIGER training step, {result['dataset']} ({result['tokenizer']} codes), optimiser step included; "
             f"median of {result['repeats']} passes of {result['steps_per_pass']} steps over a real epoch plan's "
             f"batches; {where}.", "", "| setting | batch | ms/step | samples/s | vs first row |", "|---|---|---|---|---|"]
    for batch_size in sorted({r["batch_size"] for r in result["settings"]}):
        rows = [r for r in result["settings"] if r["batch_size"] == batch_size]
        base = rows[0]["samples_per_s"]
        lines += [f"| {r['setting']} | {batch_size} | {r['step_s'] * 1000:.2f} | {r['samples_per_s']:,.0f} | "
                  f"{r['samples_per_s'] / base:.1f}x |" for r in rows]
    for batch_size, p in result["profile_eager_fast_path"].items():
        lines.append(f"\nBatch {batch_size}: the eager step launches {p['kernels_per_step']:.0f} kernels that keep "
                     f"the GPU busy {p['gpu_kernel_ms_per_step']:.2f} ms; the graph replays in "
                     f"{p['graph_replay_ms_per_step']:.2f} ms (widths captured: {p.get('captured_widths')}; "
                     f"capture failed, eager: {p.get('capture_failed_widths')}).")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
