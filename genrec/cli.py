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
    try:
        fn(*args)
    except GenrecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _train(args: list[str]) -> None:
    from genrec.config import compose

    cfg = compose(args)
    if cfg.stage == "generator":
        from genrec.training.pipeline import train_run

        train_run(cfg)
    elif cfg.stage == "tokenizer":
        from genrec.tokenizers.pipeline import run_tokenizer_stage

        run_tokenizer_stage(cfg)
    else:
        raise GenrecError(f"stage={cfg.stage!r} is not available; known stages: ['generator', 'tokenizer']")


def _evaluate(args: list[str]) -> None:
    from genrec.config import compose
    from genrec.training.pipeline import evaluate_saved_run

    run_arg = [a for a in args if a.startswith("run=")]
    overrides = [a for a in args if a.split("=", 1)[0] in EVALUATE_OVERRIDABLE]
    rest = [a for a in args if a not in run_arg and a not in overrides]
    run = run_arg[-1].split("=", 1)[1] if run_arg else compose(rest).run
    checkpoints = next((a.split("=", 1)[1] for a in rest if a.startswith("checkpoints_dir=")), "checkpoints")
    evaluate_saved_run(run, checkpoints, overrides)


def main_train(args: list[str]) -> int:
    return _guarded(_train, args)


def main_evaluate(args: list[str]) -> int:
    return _guarded(_evaluate, args)
