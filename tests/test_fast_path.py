"""The GPU fast path, on the CPU: static-shape device batches, the scheduled optimizer, learning,
and a resume that ends with the very weights of an uninterrupted run."""

import numpy as np
import pytest
import torch
from test_tiger import planted, small_config

from genrec.config import compose
from genrec.data.batches import PrefixDataset
from genrec.data.datamodule import SequentialDataModule
from genrec.data.splits import leave_one_out
from genrec.evaluation.evaluator import evaluate_model
from genrec.generators.tiger import TIGER
from genrec.tokenizers.item_codes import ItemCodes
from genrec.training.device_prefixes import DevicePrefixes, default_buckets
from genrec.training.fast_loop import fast_fit, validation_interval
from genrec.training.loop_state import load_last
from genrec.training.train_step import ScheduledOptimizer


def varied_split(max_history=6):
    """Users with histories of many lengths, so batches fall into several buckets."""
    rng = np.random.default_rng(3)
    from genrec.data.dataset import Interactions

    sequences = [rng.choice(50, size=int(rng.integers(3, 15)), replace=False) for _ in range(40)]
    return leave_one_out(Interactions([str(u) for u in range(40)], sequences), max_history)


def test_default_buckets_end_at_the_history_length():
    assert default_buckets(20) == [3, 5, 10, 20]
    assert default_buckets(1) == [1]
    with pytest.raises(ValueError, match="length_buckets"):
        DevicePrefixes(varied_split(6), "cpu", [2, 4])


def test_device_gather_equals_the_lightning_loaders_batches():
    split = varied_split()
    prefixes, dataset = DevicePrefixes(split, "cpu"), PrefixDataset(split)
    index = torch.tensor([0, 5, 17, 30, 3, 42])
    reference = dataset.__getitems__(index.numpy())
    width = prefixes.bucket_of(int(reference["history"].shape[1]))
    got = prefixes.gather(index, width)
    pad = width - reference["history"].shape[1]
    assert torch.equal(got["history"], torch.nn.functional.pad(reference["history"], (pad, 0), value=-1))
    assert torch.equal(got["target"], reference["target"]) and torch.equal(got["user"], reference["user"])


def test_an_epoch_plan_has_static_shapes_and_every_example_once():
    prefixes = DevicePrefixes(varied_split(), "cpu", [2, 4, 6])
    plan = prefixes.plan(seed=1, epoch=0, batch_size=16)
    assert plan.indices.shape == (prefixes.batches_per_epoch(16), 16)
    real = plan.indices[plan.weights > 0]
    assert sorted(real.tolist()) == list(range(len(prefixes)))  # each example exactly once
    assert sum(plan.sizes) == len(prefixes) and (plan.weights == 0).sum() == 16 * len(plan) - len(prefixes)
    for row, width in enumerate(plan.widths):  # each batch's width is the smallest bucket that holds it
        longest = int(prefixes.history_lengths[plan.indices[row][plan.weights[row] > 0].numpy()].max())
        assert width == prefixes.bucket_of(longest) and width in (2, 4, 6)
    again = prefixes.plan(seed=1, epoch=0, batch_size=16)
    assert torch.equal(plan.indices, again.indices)  # a pure function of (seed, epoch)
    assert not torch.equal(plan.indices, prefixes.plan(seed=1, epoch=1, batch_size=16).indices)


def test_weight_zero_rows_do_not_change_the_loss():
    dataset, codes = planted()
    model = TIGER(codes, small_config(), ks=(1, 10)).eval()
    batch = {"user": torch.arange(3), "history": torch.tensor([[-1, 1, 6], [0, 5, 10], [-1, -1, 3]]),
             "target": torch.tensor([11, 15, 8])}
    padded = {k: torch.cat([v, v[:1].repeat(2, *[1] * (v.ndim - 1))]) for k, v in batch.items()}
    padded["weight"] = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0])
    assert torch.allclose(model.batch_losses(batch)["loss"], model.batch_losses(padded)["loss"], atol=1e-6)


def test_scheduled_optimizer_follows_the_models_lambda_schedule():
    _, codes = planted()
    model = TIGER(codes, small_config(lr=0.01, warmup_steps=4), ks=(1, 10))
    reference = model.configure_optimizers()
    optimizer = ScheduledOptimizer(model, torch.device("cpu"))
    for step in range(10):
        optimizer.set_step(step)
        assert optimizer.current_lr() == pytest.approx(reference["optimizer"].param_groups[0]["lr"])
        reference["optimizer"].step()
        reference["lr_scheduler"]["scheduler"].step()


def fast_config(**trainer):
    values = {"max_epochs": 60, "val_check_interval": None, "check_val_every_n_epoch": 10, "patience": 100,
              "enable_progress_bar": False, "batch_size": 64, "log_every_n_steps": 10, "fast_path": "on"}
    values.update(trainer)
    return compose(["experiment=tiger_ml100k", "evaluation.ks=[1,10]", "generator.beam_size=10",
                    *[f"trainer.{k}={'null' if v is None else v}" for k, v in values.items()]])


def planted_run(lr=5e-3, dropout=0.1):
    dataset, codes = planted()
    dm = SequentialDataModule(dataset, max_history=5, train_form="prefixes", batch_size=64, eval_batch_size=64)
    return TIGER(codes, small_config(lr=lr, dropout=dropout), ks=(1, 10)), dm


def test_fast_path_learns_the_planted_pattern_and_keeps_the_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    model, dm = planted_run(dropout=0.0)  # the budget of test_tiger's Lightning fixture: 60 epochs at lr 5e-3
    train = fast_fit(fast_config(max_epochs=60, check_val_every_n_epoch=20), model, dm, tmp_path, None, "")
    assert train["stop_reason"] == "max_epochs" and train["steps"] == 60 * 13 and train["validation_checks"] == 3
    assert train["samples_seen"] == 60 * len(DevicePrefixes(dm.split, "cpu"))
    metrics, _ = evaluate_model(model, dm.test_dataloader(), (1, 10), progress=False)
    assert metrics["recall@1"] > 0.9
    best = torch.load(tmp_path / "best.ckpt", weights_only=True)
    assert best["item_codes_fingerprint"] == model.item_codes.fingerprint and best["global_step"] == train["best_step"]
    log = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step,train/loss,lr,valid/recall@1")
    losses = [float(line.split(",")[2]) for line in log[1:] if line.split(",")[2]]
    assert losses[-1] < losses[0] / 3  # the loss falls


def two_tigers():
    torch.manual_seed(0)
    codes = ItemCodes(torch.stack([torch.arange(50) // 10, torch.arange(50) % 10], 1), [5, 10], "manual", "v", "-")
    a = TIGER(codes, small_config(lr=1e-2, warmup_steps=2), ks=(1, 10)).eval()  # eval: no dropout
    b = TIGER(codes, small_config(lr=1e-2, warmup_steps=2), ks=(1, 10)).eval()
    b.load_state_dict(a.state_dict())
    a.log = lambda *args, **kwargs: None
    return a, b


def test_a_static_shape_batch_gives_the_lightning_batchs_loss_and_gradients():
    """Wider padding and a weight-0 filler row change neither the loss nor any gradient."""
    split = varied_split(max_history=5)
    lightning, fast = two_tigers()
    index = torch.arange(7)
    lightning.training_step(PrefixDataset(split).__getitems__(index.numpy()), 0).backward()  # own longest width
    batch = DevicePrefixes(split, "cpu", [5]).gather(torch.cat([index, index[:1]]), width=5)
    batch["weight"] = torch.tensor([1.0] * 7 + [0.0])
    fast.batch_losses(batch)["loss"].backward()
    for (name, a), b in zip(lightning.named_parameters(), fast.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-7), name


def test_train_step_is_the_models_optimizer_step_on_the_gathered_batch():
    """TrainStep (in-place zeroing, the rebuilt AdamW, the schedule) moves the weights exactly as
    the model's own AdamW + LambdaLR do on the same gathered batches."""
    from genrec.training.train_step import TrainStep

    split = varied_split(max_history=5)
    manual, fast = two_tigers()
    prefixes = DevicePrefixes(split, "cpu", [5])
    reference = manual.configure_optimizers()
    optimizer = ScheduledOptimizer(fast, torch.device("cpu"))
    step = TrainStep(fast, optimizer, prefixes, batch_size=8, bf16=False, gradient_clip=None, cuda_graphs=True)
    weight = torch.tensor([1.0] * 6 + [0.0] * 2)
    for s in range(4):
        index = torch.arange(8 * s, 8 * s + 8)
        batch = prefixes.gather(index, 5)
        manual.batch_losses({**batch, "weight": weight})["loss"].backward()
        reference["optimizer"].step()
        reference["optimizer"].zero_grad()
        reference["lr_scheduler"]["scheduler"].step()
        optimizer.set_step(s)
        step(index, weight, width=5)
    for (name, a), b in zip(manual.state_dict().items(), fast.state_dict().values()):
        assert torch.equal(a, b), name
    assert step.mean_loss() > 0 and step.mean_loss() is None


def test_plateau_stops_training(tmp_path):
    torch.manual_seed(0)
    model, dm = planted_run()
    train = fast_fit(fast_config(max_epochs=500, check_val_every_n_epoch=2, patience=3), model, dm, tmp_path, None, "")
    assert train["stop_reason"] == "early_stopping" and train["steps"] < 500 * 13
    every = validation_interval(fast_config(check_val_every_n_epoch=2).trainer, steps_per_epoch=13)
    assert every == 26 and train["steps"] == train["best_step"] + 3 * every  # 3 checks without improvement


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    """Stopped mid-epoch (step 30 of 13-step epochs) and resumed: bit-identical weights, optimizer
    moments and loop position at step 60, dropout masks included."""
    settings = {"max_steps": 60, "max_epochs": 100, "val_check_interval": 10}
    torch.manual_seed(0)
    model, dm = planted_run()
    whole = fast_fit(fast_config(**settings), model, dm, tmp_path / "straight", None, "")

    torch.manual_seed(0)
    first, dm = planted_run()
    part = fast_fit(fast_config(**{**settings, "max_steps": 30}), first, dm, tmp_path / "parts", None, "")
    assert part["stop_reason"] == "max_steps" and part["steps"] == 30
    torch.manual_seed(123)  # a different process: other weights and RNG until the checkpoint restores them
    second, dm = planted_run()
    resumed = fast_fit(fast_config(**settings), second, dm, tmp_path / "parts", tmp_path / "parts" / "last.ckpt",
                       "resumed-1")
    assert resumed["steps"] == 60 and resumed["parts"] == 2
    assert resumed["samples_seen"] + part["samples_seen"] == whole["samples_seen"]  # this part's examples only
    for (name, a), b in zip(model.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    straight, _, _ = load_last(tmp_path / "straight" / "last.ckpt")
    parted, state, _ = load_last(tmp_path / "parts" / "last.ckpt")
    for a, b in zip(straight["optimizer"]["state"].values(), parted["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert (state.step, state.epoch, state.batch) == (60, 4, 8)
    assert (tmp_path / "parts" / "logs" / "resumed-1" / "metrics.csv").is_file()
