"""The command-line entry points behind train.py and evaluate.py.

Errors caused by input (GenrecError) are printed as one clear message and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

from genrec.errors import GenrecError

# values the evaluation command takes from the command line, on top of the saved config
EVALUATE_OVERRIDABLE = ("data.root", "tokenizers_dir", "trainer.eval_batch_size", "results_dir", "trainer.accelerator")


def run_guarded(fn, *args) -> int:
    from genrec.quiet import quiet_libraries

    quiet_libraries()
    try:
        fn(*args)
    except GenrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return getattr(err, "exit_code", 2)
    return 0


def _train(args: list[str]) -> None:
    import torch

    from genrec.config import compose

    # Subnormal floats (|x| < 1.2e-38, e.g. in Adam's second moments) run through a slow
    # microcode path on x86 CPUs: TIGER's CPU step time grew from 0.8 s to 1.9 s within 200
    # steps. Flushing them to zero keeps it flat; no effect on GPUs or on any value above 1e-38.
    torch.set_flush_denormal(True)
    cfg = compose(args)
    if cfg.stage == "generator":
        from genrec.training.pipeline import train_run

        train_run(cfg)
    elif cfg.stage == "tokenizer":
        from genrec.tokenizers.pipeline import run_tokenizer_stage

        run_tokenizer_stage(cfg)
    else:
        raise GenrecError(f"stage={cfg.stage!r} is not available; known stages: ['generator', 'tokenizer']")


RECOMMEND_KEYS = ("checkpoint", "history", "top_k", "user", "exclude_history")
RECOMMEND_USAGE = ("python evaluate.py recommend checkpoint=checkpoints/<run> [--item 'Exact title, with commas' ...] "
                   "[--history-file items.txt] [history=[id,id]] [top_k=10] [user=<id>] [exclude_history=true]")


def read_history_file(path: str) -> list[str]:
    """Items from a file: a JSON list (``["a", "b"]``), else one item id or exact title per line."""
    from pathlib import Path

    from genrec.errors import DataError

    file = Path(path)
    if not file.is_file():
        raise DataError(f"--history-file {path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"--history-file {path}: not UTF-8 ({err.reason} at byte {err.start}); save it as UTF-8") from None
    if text.lstrip().startswith("["):
        import json

        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"--history-file {path}: starts like a JSON list but is not one ({err})") from None
        if not isinstance(items, list):
            raise DataError(f"--history-file {path}: expected a JSON list of item ids or titles")
        return [str(i) for i in items]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _recommend(args: list[str]) -> None:
    """``recommend checkpoint=<run dir or .ckpt>`` with the history as ``--item <id or exact title>``
    (repeatable, taken verbatim: commas and apostrophes need no escaping), ``--history-file <path>``
    and/or ``history=[id,...]``; plus ``top_k``, ``user``, ``exclude_history`` and the evaluation
    overrides (data.root=...)."""
    import argparse

    from omegaconf import OmegaConf

    from genrec.errors import ConfigError
    from genrec.recommend import Recommender, format_recommendations

    parser = argparse.ArgumentParser(prog="evaluate.py recommend", add_help=False)
    parser.add_argument("--item", action="append", default=[])
    parser.add_argument("--history-file")
    flags, rest = parser.parse_known_args(args)
    unknown_flags = [a for a in rest if a.startswith("--")]
    if unknown_flags:
        raise ConfigError(f"recommend: unknown option(s) {unknown_flags}; usage: {RECOMMEND_USAGE}")
    overrides = [a for a in rest if a.split("=", 1)[0] in EVALUATE_OVERRIDABLE]
    options = {}
    for arg in (a for a in rest if a not in overrides):
        key = arg.split("=", 1)[0]
        if "=" not in arg or key not in RECOMMEND_KEYS:
            raise ConfigError(f"recommend: unknown argument {arg!r}; valid keys: {list(RECOMMEND_KEYS)} and "
                              f"{list(EVALUATE_OVERRIDABLE)}; usage: {RECOMMEND_USAGE}")
        try:
            options.update(OmegaConf.to_container(OmegaConf.from_dotlist([arg])))
        except Exception:  # noqa: BLE001  (YAML scanner errors: unbalanced brackets, quotes, ...)
            raise ConfigError(f"recommend: cannot read {arg!r}; give titles as --item 'Exact title' (one per item, "
                              "verbatim) or in --history-file, and ids as history=[50,181]") from None
    if options.get("checkpoint") in (None, ""):
        raise ConfigError(f"recommend: checkpoint=... is required; usage: {RECOMMEND_USAGE}")
    history = options.get("history", [])
    history = [str(h) for h in (history if isinstance(history, list) else [history])]
    if flags.history_file:
        history += read_history_file(flags.history_file)
    history += flags.item
    if not history:
        raise ConfigError(f"recommend: the history is empty; give items with --item, --history-file or history=[...]; "
                          f"usage: {RECOMMEND_USAGE}")
    top_k = options.get("top_k", 10)
    if not isinstance(top_k, int) or isinstance(top_k, bool):
        raise ConfigError(f"recommend: top_k must be an integer, got {top_k!r}")
    recommender = Recommender.from_checkpoint(options["checkpoint"], overrides)
    if len(history) > recommender.max_history:
        print(f"note: the model reads the last {recommender.max_history} of the {len(history)} history items "
              "(data.max_history); all of them are left out of the list", file=sys.stderr)
    rows = recommender.recommend(history, top_k, options.get("user"), bool(options.get("exclude_history", True)))
    print(format_recommendations(rows))


def _evaluate(args: list[str]) -> None:
    if args and args[0] == "recommend":
        return _recommend(args[1:])
    from genrec.config import compose
    from genrec.errors import ConfigError
    from genrec.training.pipeline import evaluate_saved_run

    run_arg = [a for a in args if a.startswith("run=")]
    overrides = [a for a in args if a.split("=", 1)[0] in EVALUATE_OVERRIDABLE]
    rest = [a for a in args if a not in run_arg and a not in overrides]
    naming = ("experiment", "checkpoints_dir", "data", "tokenizer", "generator", "trainer", "seed")
    unused = [a for a in rest if a.split("=", 1)[0] not in naming]
    if unused:
        raise ConfigError(f"evaluate.py re-scores a trained run with the config it was trained with, so it does not "
                          f"use {unused}; it takes run=<name> (or experiment=... and group choices that name the "
                          f"run), checkpoints_dir=..., and the overrides {list(EVALUATE_OVERRIDABLE)}. To score "
                          "other settings, train a run with them.")
    run = run_arg[-1].split("=", 1)[1] if run_arg else compose(rest).run
    checkpoints = next((a.split("=", 1)[1] for a in rest if a.startswith("checkpoints_dir=")), "checkpoints")
    from genrec.distributed import init_from_environment

    init_from_environment()  # under torchrun: each process ranks its shard of the users
    evaluate_saved_run(run, checkpoints, overrides)


def main_train(args: list[str]) -> int:
    return run_guarded(_train, args)


def main_evaluate(args: list[str]) -> int:
    return run_guarded(_evaluate, args)
