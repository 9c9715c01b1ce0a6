"""The command-line entry points behind train.py and evaluate.py.

Errors caused by input (GenrecError) are printed as one clear message and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

from genrec.errors import GenrecError

# values the evaluation command takes from the command line, on top of the saved config
EVALUATE_OVERRIDABLE = ("data.root", "trainer.eval_batch_size", "results_dir", "trainer.accelerator")


def _guarded(fn, *args) -> int:
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


def _recommend(args: list[str]) -> None:
    """``recommend checkpoint=<run dir or .ckpt> history=[id or title, ...] [top_k=10] [user=<id>]
    [exclude_history=true]``, plus the evaluation overrides (data.root=...)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from genrec.errors import ConfigError
    from genrec.recommend import Recommender, format_recommendations

    overrides = [a for a in args if a.split("=", 1)[0] in EVALUATE_OVERRIDABLE]
    rest = [a for a in args if a not in overrides]
    try:
        options = OmegaConf.to_container(OmegaConf.from_dotlist(rest))
    except OmegaConfBaseException as err:
        raise ConfigError(f"recommend: cannot parse {rest}: {err}") from None
    unknown = sorted(set(options) - set(RECOMMEND_KEYS))
    if unknown:
        raise ConfigError(f"recommend: unknown keys {unknown}; valid keys: {list(RECOMMEND_KEYS)} and "
                          f"{list(EVALUATE_OVERRIDABLE)}")
    for key in ("checkpoint", "history"):
        if options.get(key) in (None, "", []):
            raise ConfigError(f"recommend: {key}=... is required, e.g. python evaluate.py recommend "
                              "checkpoint=checkpoints/<run> history=[<item id or exact title>,...]")
    history = options["history"] if isinstance(options["history"], list) else [options["history"]]
    top_k = options.get("top_k", 10)
    if not isinstance(top_k, int) or isinstance(top_k, bool):
        raise ConfigError(f"recommend: top_k must be an integer, got {top_k!r}")
    recommender = Recommender.from_checkpoint(options["checkpoint"], overrides)
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
    return _guarded(_train, args)


def main_evaluate(args: list[str]) -> int:
    return _guarded(_evaluate, args)
