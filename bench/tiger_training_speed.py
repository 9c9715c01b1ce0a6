"""TIGER training throughput: samples/s of one optimiser step, before and after the speed work.

    python bench/tiger_training_speed.py [--dataset beauty] [--tokenizer rqvae] [--steps 6] [--repeats 3] [--device cpu]

Side by side in one run, same model (TIGER size), same Beauty training prefixes,
batch 256, AdamW step included:

* ``padded_to_max_fp32``: every history padded to 20 items (80 code tokens + user), float32
  (the "before": one step took about 6 s on these CPUs in the issue's measurement);
* ``grouped_fp32``: batches of similar history length, each padded to its longest
  (the ``LengthGroupedBatchSampler`` the datamodule uses);
* ``grouped_bf16``: the same under ``torch.autocast(bfloat16)`` (``trainer.precision=bf16-mixed``).

Each setting runs ``steps`` timed steps (after one warm-up step) on its batches; a pass's
mean step time is its cost per step (the grouped batches sit at evenly spaced quantiles
of an epoch's padded lengths); settings are interleaved over ``repeats`` passes and the
median pass is reported. The data pipeline is timed too: a batch assembled example by
example (``collate``) against the batched gather the training loader uses.
Writes ``results/bench/tiger_training_speed.json`` and ``.md`` (``_cuda`` in the name with
``--device cuda``).
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
from genrec.training.pipeline import build_datamodule, build_generator  # noqa: E402

SETTINGS = ("padded_to_max_fp32", "grouped_fp32", "grouped_bf16")


def batches(datamodule, steps: int, grouped: bool) -> list[dict]:
    """``steps + 1`` training batches of 256: from one epoch of the length-grouped loader,
    the batches at evenly spaced quantiles of their padded length (so their cost follows
    the epoch's heavy-tailed mix of lengths; the first is a short warm-up batch), or random
    examples padded to the full history length."""
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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model, optimizer, data: list[dict], bf16: bool) -> list[float]:
    model.train()
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
        if i > 0:  # the first step warms up
            times.append(time.perf_counter() - start)
    return times


def loader_ms_per_batch(datamodule, batches_: int = 50) -> dict[str, float]:
    """Milliseconds to assemble one training batch: example by example, and batched."""
    dataset = datamodule.train_dataset()
    rng = torch.Generator().manual_seed(0)
    indices = [torch.randint(len(dataset), (datamodule.batch_size,), generator=rng).tolist() for _ in range(batches_)]
    start = time.perf_counter()
    for index in indices:
        collate([dataset[i] for i in index])
    per_example = (time.perf_counter() - start) / batches_ * 1000
    start = time.perf_counter()
    for index in indices:
        dataset.__getitems__(index)
    return {"per_example_collate": per_example, "batched_gather": (time.perf_counter() - start) / batches_ * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="beauty")
    parser.add_argument("--tokenizer", default="rqvae")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = compose([f"experiment=tiger_{args.dataset}", f"tokenizer={args.tokenizer}", "trainer.batch_size=256"])
    datamodule = build_datamodule(cfg)
    model = build_generator(cfg, datamodule)
    model.log = lambda *a, **k: None  # no Trainer attached
    model.to(device)
    optimizer = model.configure_optimizers()["optimizer"]
    data = {"padded_to_max_fp32": batches(datamodule, args.steps, grouped=False),
            "grouped_fp32": batches(datamodule, args.steps, grouped=True)}
    data = {name: [{k: v.to(device) for k, v in b.items()} for b in d] for name, d in data.items()}
    data["grouped_bf16"] = data["grouped_fp32"]
    tokens = {name: statistics.mean(b["history"].shape[1] for b in d[1:]) for name, d in data.items()}
    epoch_columns = statistics.mean(b["history"].shape[1] for b in datamodule.train_dataloader())
    pass_means = {name: [] for name in SETTINGS}  # per repeat: the mean step time of one pass over the batches
    for _ in range(args.repeats):
        for name in SETTINGS:
            pass_means[name].append(statistics.mean(time_steps(model, optimizer, data[name], name.endswith("bf16"))))
    rows = []
    for name in SETTINGS:
        median = statistics.median(pass_means[name])
        rows.append({"setting": name, "mean_history_items_per_batch": tokens[name], "step_s": median,
                     "samples_per_s": cfg.trainer.batch_size / median, "pass_mean_step_s": pass_means[name]})
        print(rows[-1]["setting"], f"{median:.3f} s/step", f"{rows[-1]['samples_per_s']:.0f} samples/s")
    base = rows[0]["samples_per_s"]
    loader = loader_ms_per_batch(datamodule)
    result = {"loader_ms_per_batch": loader, "dataset": args.dataset, "tokenizer": cfg.tokenizer.name, "batch_size": cfg.trainer.batch_size,
              "steps_per_setting": args.steps * args.repeats, "settings": rows,
              "epoch_mean_history_items_per_batch": epoch_columns,
              "speedup_vs_padded_fp32": {r["setting"]: r["samples_per_s"] / base for r in rows},
              "commit": git_commit(), "versions": versions(), "hardware": hardware()}
    name = "tiger_training_speed" + ("" if device.type == "cpu" else f"_{device.type}")
    write_json_atomic(Path("results") / "bench" / f"{name}.json", result)
    where = (result["hardware"].get("gpu", "GPU") if device.type == "cuda"
             else f"{result['hardware']['cpu']} ({result['hardware']['torch_threads']} threads)")
    lines = [f"TIGER training step, {args.dataset} ({cfg.tokenizer.name} codes), batch 256, AdamW; mean step time "
             f"over {args.steps} batches (grouped: at evenly spaced length quantiles of an epoch, whose mean "
             f"padded length is {epoch_columns:.1f} items), median of {args.repeats} passes; {where}. "
             f"Assembling a batch of 256 examples: {loader['per_example_collate']:.2f} ms example by example, "
             f"{loader['batched_gather']:.2f} ms as one batched gather (one CPU thread).", "",
             "| setting | history items per batch | s/step | samples/s | speed-up |", "|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['mean_history_items_per_batch']:.1f} | {r['step_s']:.3f} | "
              f"{r['samples_per_s']:.0f} | {r['samples_per_s'] / base:.1f}x |" for r in rows]
    write_text_atomic(Path("results") / "bench" / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
