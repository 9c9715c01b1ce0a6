"""One run of the generator stage: data -> model -> fit -> evaluate -> report.

Artefacts of run ``<run>``: ``checkpoints/<run>/`` holds ``config.yaml``,
``best.ckpt``, ``last.ckpt``, CSV / TensorBoard logs and whatever the model exports
(SASRec: item embeddings); ``results/<run>/metrics.json`` holds the report.
"""

from __future__ import annotations

import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from genrec.artefacts import read_json, write_text_atomic
from genrec.config import load_saved, to_dict, to_yaml
from genrec.data import load_dataset
from genrec.data.datamodule import SequentialDataModule
from genrec.distributed import is_main_process, world
from genrec.errors import ArtefactError, ConfigError, Interrupted
from genrec.evaluation.evaluator import evaluate_model, rank_targets
from genrec.evaluation.learning_curve import CURVE_FILE, plot_curve, read_curve, save_curve
from genrec.evaluation.metrics import metrics_from_ranks
from genrec.evaluation.report import (
    build_report,
    format_table,
    item_codes_details,
    reference_test_metrics,
    write_report,
)
from genrec.registry import lookup
from genrec.run_info import git_commit
from genrec.training.engine import (
    StoppedOnRequest,
    TrainingThroughput,
    build_trainer,
    latest_saved_step,
    log_version,
    paused_by_part_limit,
    stop_reason,
    training_seconds,
)
from genrec.training.interrupt import StopRequest
from genrec.training.precision import REDUCED, reduced_precision_warning, resolve_precision, training_device
from genrec.training.run_checks import (
    RunLock,
    check_committed_result,
    check_resume,
    check_writable,
    clear_fresh_run,
    resume_checkpoint,
)


def build_datamodule(cfg: DictConfig, dataset=None) -> SequentialDataModule:
    dataset = dataset or load_dataset(cfg.data)
    return SequentialDataModule(
        dataset,
        max_history=cfg.data.max_history,
        train_form=cfg.generator.train_form,
        batch_size=cfg.trainer.batch_size,
        eval_batch_size=cfg.trainer.eval_batch_size,
        num_workers=cfg.trainer.num_workers,
        seed=cfg.seed,
        val_users=cfg.trainer.val_users,
    )


def build_generator(cfg: DictConfig, datamodule: SequentialDataModule) -> pl.LightningModule:
    model = lookup("generator", cfg.generator.model).builder().from_config(cfg, datamodule)
    model.dataset_fingerprint = datamodule.dataset.fingerprint()  # recorded in checkpoints, checked on load
    return model


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.checkpoints_dir) / cfg.run


def load_weights(model: pl.LightningModule, checkpoint: Path) -> None:
    """Load a Lightning checkpoint's weights safely (``weights_only=True``), after checking it was
    trained on these codes and this data."""
    if not Path(checkpoint).is_file():
        raise ArtefactError(f"no checkpoint at {checkpoint}; train the run first (python train.py ...)")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (truncated or foreign files)
        raise ArtefactError(f"{checkpoint} cannot be read ({str(err).splitlines()[0][:120]}); it is damaged: "
                            "retrain the run") from None
    if hasattr(model, "check_checkpoint"):
        model.check_checkpoint(state, checkpoint)
    model.on_load_checkpoint(state)  # as Lightning's resume does: a slim LLM checkpoint gets its frozen weights back
    model.load_state_dict(state["state_dict"])


def evaluate_run(cfg: DictConfig, model, datamodule, progress: bool = True) -> dict:
    """Valid and test metrics of ``model`` plus timing, in the metrics.json shape's parts."""
    ks = tuple(cfg.evaluation.ks)
    if torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda"):
        model.to(torch.device("cuda", torch.cuda.current_device()))  # Lightning hands the model back on the CPU
    bf16 = cfg.trainer.precision.startswith("bf16")
    valid_loader = datamodule.val_dataloader(full=not cfg.evaluation.valid_sample_in_report)
    valid, valid_timing = evaluate_model(model, valid_loader, ks, "valid", progress, bf16)
    ranks, timing = rank_targets(model, datamodule.test_dataloader(), "test", progress, bf16)
    test = metrics_from_ranks(ranks, ks)
    extra = cold_start_reports(datamodule, ranks, ks)
    if hasattr(model, "additional_test_reports"):  # e.g. an LLM's metrics averaged over every prompt template
        extra |= model.additional_test_reports(
            lambda: evaluate_model(model, datamodule.test_dataloader(), ks, "test", False, bf16)[0])
    return {"valid": valid, "test": test, "extra": extra,
            "eval": {**timing, "valid_users": valid_timing["users"], "precision": "bf16 autocast" if bf16 else "float32"}}


def cold_start_reports(datamodule, ranks: torch.Tensor, ks) -> dict:
    """With held-out items (``data.cold_start_share``): test metrics over the users whose target is
    held out (``test_cold``) and over the others (``test_warm``)."""
    from genrec.data.cold_start import cold_test_users

    dataset = datamodule.dataset
    if dataset.cold_items is None or len(ranks) != len(datamodule.split.test):
        return {}
    cold = torch.from_numpy(cold_test_users(dataset, datamodule.split.test.targets))
    return {"test_cold": metrics_from_ranks(ranks[cold], ks), "test_warm": metrics_from_ranks(ranks[~cold], ks),
            "cold_start": {"held_out_items": len(dataset.cold_items), "cold_test_users": int(cold.sum()),
                           "warm_test_users": int((~cold).sum())}}


def publish(cfg: DictConfig, report: dict) -> dict:
    """Write ``results/<run>/metrics.json`` and the learning curve (JSON and PNG), print one table and
    the paths."""
    path = write_report(cfg.results_dir, cfg.run, report)
    curve = read_curve(run_dir(cfg), cfg.evaluation.monitor)
    if curve["valid"] or curve["train"]:
        save_curve(curve, Path(cfg.results_dir) / cfg.run / CURVE_FILE, cfg.evaluation.monitor)
    plot = plot_curve(curve, Path(cfg.results_dir) / cfg.run / "learning_curve.png",
                      f"{cfg.run}: {len(curve['valid'])} validation checks", cfg.evaluation.monitor)
    users = report.get("eval", {}).get("users")
    print(f"\n{cfg.run} ({cfg.generator.model} on {cfg.data.dataset}): Recall/NDCG@K, full ranking"
          + (f", {users} test users" if users else ""))
    rows = {"valid": report["valid"], "test": report["test"]}
    for name in ("test_cold", "test_warm"):
        if name in report:
            rows[name] = report[name]
    reference = reference_test_metrics(cfg.results_dir, cfg.evaluation.reference)
    if reference:
        rows[reference[0]] = reference[1]
    print(format_table(rows, tuple(cfg.evaluation.ks)))
    if reference:
        print(f"({reference[0]}: {Path(cfg.results_dir) / cfg.evaluation.reference / 'metrics.json'}, "
              "for scale)")
    print(f"wrote {path}" + (f", {plot}" if plot else "") + f"; checkpoints in {run_dir(cfg)}/")
    return report


def use_fast_path(cfg: DictConfig, model) -> bool:
    """``trainer.fast_path``: ``auto`` = the fast loop where CUDA is present and the generator
    trains on prefixes through ``batch_losses``; ``on`` = the fast loop (eager on a CPU); ``off``."""
    from genrec.training.fast_loop import FAST_PATH_MODES, fit_device, supports_fast_path

    mode = {"true": "on", "false": "off"}.get(str(cfg.trainer.fast_path).lower(), str(cfg.trainer.fast_path))
    if mode not in FAST_PATH_MODES:  # YAML reads a bare on/off as a boolean: both spellings are accepted
        raise ConfigError(f"trainer.fast_path must be one of {list(FAST_PATH_MODES)}, got {mode!r}")
    distributed = cfg.trainer.strategy != "auto" or cfg.trainer.num_nodes > 1 or str(cfg.trainer.devices) not in ("auto", "1")
    if mode == "on" and distributed:
        raise ConfigError("trainer.fast_path=on runs one process on one device; trainer.strategy / devices / "
                          "num_nodes spread a run over several: use trainer.fast_path=auto (Lightning does that)")
    if mode == "off" or distributed:
        return False
    supported = supports_fast_path(model, cfg)
    if mode == "on" and not supported:
        raise ConfigError(f"trainer.fast_path=on: generator {cfg.generator.model!r} trains on "
                          f"{cfg.generator.train_form!r}, which only the Lightning path serves; use trainer.fast_path=off")
    return supported and (mode == "on" or fit_device(cfg).type == "cuda")


def lightning_fit(cfg: DictConfig, model, datamodule, directory: Path, resume_from: Path | None, stop) -> dict:
    """Fit with Lightning's Trainer; returns the report's ``train`` record."""
    trainer, checkpoint = build_trainer(cfg, directory, resuming=resume_from is not None, stop=stop)
    fit_start = time.perf_counter()
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except StoppedOnRequest:
        pass  # last.ckpt is saved; the pipeline reports the interruption
    fit_seconds = time.perf_counter() - fit_start
    if not stop.requested and latest_saved_step(trainer) < trainer.global_step:
        trainer.save_checkpoint(directory / "last.ckpt")  # the final weights, when the run ended between checks
    best = Path(checkpoint.best_model_path or directory / "last.ckpt")
    throughput = next(c for c in trainer.callbacks if isinstance(c, TrainingThroughput)).summary()
    reason = "interrupted" if stop.requested else stop_reason(trainer, cfg)
    return {
        "epochs": trainer.current_epoch,
        "stop_reason": reason,
        "paused": paused_by_part_limit(trainer, reason),  # only this part's budget ended it
        "steps": trainer.global_step,
        "wall_time_s": round(fit_seconds, 2),  # this process's fit
        "train_time_total_s": training_seconds(trainer),  # every part of a resumed run (Lightning's timer)
        "examples_per_epoch": len(trainer.train_dataloader.dataset),  # the dataset fit used, not a rebuilt one
        **throughput,  # this process's training batches only (a resumed run counts its own part)
        "best_checkpoint": str(best),
        "best_valid_score": float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None,
        "resumed_from": str(resume_from) if resume_from else None,
    }


def warn_if_slow_precision(cfg: DictConfig, model, datamodule) -> None:
    """Say so when a reduced precision asked for on a CPU runs much slower than float32 there."""
    if cfg.trainer.precision not in REDUCED or training_device(cfg.trainer.accelerator) != "cpu":
        return
    batch = next(iter(datamodule.train_dataloader()))
    message = reduced_precision_warning(model, batch, cfg.trainer.precision)
    if message:
        warnings.warn(message, stacklevel=1)
        print(f"WARNING: {message}")


def train_run(cfg: DictConfig) -> dict:
    """Fit the configured generator, pick the best validation checkpoint, report on test.

    Everything is checked before anything is deleted or written (``run_checks.py``)."""
    start = time.perf_counter()
    git_commit()  # pin the commit this run starts from
    cfg.trainer.precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    directory = run_dir(cfg)
    check_writable(cfg.results_dir, cfg.checkpoints_dir, Path(cfg.results_dir) / cfg.run, run_dir(cfg))
    check_committed_result(cfg)
    resume_from = resume_checkpoint(cfg, directory)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    dataset = datamodule.dataset
    model = build_generator(cfg, datamodule)
    fast = use_fast_path(cfg, model)
    if resume_from is not None:
        check_resume(cfg, model, directory, resume_from, fast)

    main = is_main_process()  # under DDP the other ranks train and evaluate, and write nothing
    with RunLock(directory) if main else nullcontext(), StopRequest() as stop:
        if main:
            if resume_from is None:
                clear_fresh_run(directory)
            write_text_atomic(directory / "config.yaml", to_yaml(cfg))
        warn_if_slow_precision(cfg, model, datamodule)
        if fast:
            from genrec.training.fast_loop import fast_fit

            train = fast_fit(cfg, model, datamodule, directory, resume_from,
                             log_version(directory, resume_from is not None), stop)
        else:
            train = lightning_fit(cfg, model, datamodule, directory, resume_from, stop)
        if train["stop_reason"] == "interrupted":
            raise Interrupted(f"run {cfg.run!r} stopped at step {train['steps']}; {directory / 'last.ckpt'} holds "
                              "it: run the same command with trainer.resume=true to continue")
        if train.get("paused") and not cfg.trainer.evaluate_paused:
            print(f"run {cfg.run!r}: this part ended at step {train['steps']} (trainer.stop_after_minutes); "
                  f"{directory / 'last.ckpt'} holds it, nothing evaluated (trainer.evaluate_paused=false): "
                  "continue with trainer.resume=true")
            return {"train": train, "paused": True}
        best = Path(train["best_checkpoint"])
        load_weights(model, best)
        results = evaluate_run(cfg, model, datamodule, progress=cfg.trainer.enable_progress_bar)
        dataset_info = {"name": dataset.name, "fingerprint": dataset.fingerprint(), **dataset.statistics()}
        if not main:
            return {"valid": results["valid"], "test": results["test"]}
        if hasattr(model, "export_artefacts"):
            model.export_artefacts(directory, {"dataset": dataset.name, "dataset_fingerprint": dataset_info["fingerprint"],
                                               "run": cfg.run, "checkpoint": str(best)})
        report = build_report(
            results["valid"], results["test"], to_dict(cfg), cfg.seed, time.perf_counter() - start,
            dataset=dataset_info, train=train, eval=results["eval"], **item_codes_details(model, cfg),
            **results["extra"],
        )
        return publish(cfg, report)


def evaluate_saved_run(run: str, checkpoints_dir: str = "checkpoints", overrides: list[str] | None = None) -> dict:
    """Re-evaluate a trained run from its saved config and best checkpoint."""
    directory = Path(checkpoints_dir) / run
    config_path = directory / "config.yaml"
    if not config_path.is_file():
        raise ArtefactError(f"no run {run!r}: {config_path} is missing; train it with python train.py run={run} ...")
    cfg = load_saved(config_path, overrides)
    cfg.trainer.precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    start = time.perf_counter()
    datamodule = build_datamodule(cfg)
    model = build_generator(cfg, datamodule)
    checkpoint = directory / "best.ckpt" if (directory / "best.ckpt").is_file() else directory / "last.ckpt"
    load_weights(model, checkpoint)
    results = evaluate_run(cfg, model, datamodule)
    report = build_report(
        results["valid"], results["test"], to_dict(cfg), cfg.seed, time.perf_counter() - start,
        dataset={"name": datamodule.dataset.name, "fingerprint": datamodule.dataset.fingerprint()},
        checkpoint=str(checkpoint), eval=results["eval"], **item_codes_details(model, cfg),
        **results["extra"],
    )
    previous = Path(cfg.results_dir) / cfg.run / "metrics.json"
    if previous.is_file():  # keep the training record of the run being re-evaluated
        report["train"] = read_json(previous, "previous report").get("train")
    report["eval"]["processes"] = world()[1]
    return publish(cfg, report) if is_main_process() else report
