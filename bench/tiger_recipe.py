"""Which parts of TIGER's training recipe matter: the same item codes and model, one recipe setting
changed per arm, over several generator seeds at a fixed step count.

    python bench/tiger_recipe.py [--experiment tiger_ml100k] [--arms experiment lr-0.01 ...]
                                 [--seeds 0 1 2 3 4] [--max-steps 1200] [--jobs 2] [key=value ...]

The first arm is the experiment as configured; every other arm changes one setting that TIGER's
paper fixes differently from our configs, or that a user would tune first (issue #13 §4):
the peak learning rate (paper 0.01; our ML-100K demo .005, our Beauty config .001), the warm-up
(paper 10k of 200k steps; ``warmup-quarter`` / ``warmup-4x`` divide / multiply the experiment's by four;
under inverse-sqrt decay the warm-up also sets how low the rate ends; ``constant-lr`` holds the peak for
the whole run, no decay), dropout (paper 0.1), the user
token (paper: user ids hashed into 2,000 tokens; ``user_buckets=1`` gives every user the same token,
so it carries nothing) and the batch (paper 256). At a fixed step count a larger batch also sees more
samples, so ``batch-256-same-samples`` also divides the steps, the warm-up and the validation interval
by four, and ``steps-4x`` gives the configured batch the samples of ``batch-256`` (it may stop sooner
on the experiment's validation patience); ``batch-256-lr-0.01`` is the paper's batch with its rate.
The experiment's item codes are fitted once (or reused) before any generator run. Each run trains
``--max-steps`` steps with no wall-clock cap, so load cannot change its training, and its best
validation NDCG@10 checkpoint is tested. Writes the runs under ``results/tiger_recipe/<run>/`` and
the summary to ``results/bench/tiger_recipe.{json,md}`` (another experiment:
``tiger_recipe-<experiment>.{json,md}``): per arm test Recall/NDCG@10 mean ± sd and the paired
difference from the first arm (the same seeds). ``key=value`` overrides go to every run.

On Beauty (a GPU; its config's rate is .001, so ``lr-0.005`` asks the demo's question there)::

    python bench/tiger_recipe.py --experiment tiger_beauty --arms experiment lr-0.005 lr-0.01 \
        --seeds 0 --max-steps 8000

On a GPU lease whose fast-path speed is not known beforehand, ``--train-seconds S`` sizes the step
count instead: each run trains about S seconds at the samples/s that ``bench/tiger_training_speed.py
--device cuda`` measured earlier in the same command (its CUDA-graph row at the experiment's batch, read
from ``results/bench/tiger_training_speed_cuda.json``), rounded down to whole validation intervals.
Every arm still trains the same fixed number of steps. Validation checks, the test pass and start-up
come on top of S. Where that file is missing, or was written at another commit or for another dataset
(a stale one), ``--max-steps`` is used and a line says so.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import paired_seeds as paired  # noqa: E402

from genrec.config import compose  # noqa: E402
from genrec.run_info import git_commit  # noqa: E402

# arm name -> the overrides it adds to the experiment (the first arm: none)
ARMS = {
    "experiment": [],
    "lr-0.01": ["generator.lr=0.01"],
    "lr-0.001": ["generator.lr=0.001"],
    "lr-0.005": ["generator.lr=0.005"],  # the ML-100K demo's rate, for experiments configured otherwise (Beauty)
    "dropout-0": ["generator.dropout=0.0"],
    "no-user-token": ["generator.user_buckets=1"],
    # warm-up (paper: 10k of 200k steps): inverse-sqrt keeps the peak rate for warmup_steps steps, so the
    # warm-up also sets how far the rate has decayed by the end (sqrt(warmup / steps) of the peak)
    "warmup-quarter": ["generator.warmup_steps={warmup_quarter}"],
    "warmup-4x": ["generator.warmup_steps={warmup_quadruple}"],
    # the experiment's peak rate held for the whole run, no decay (SASRec's way: a constant 0.001);
    # on ML-100K trained to the plateau it gained most of all (bench/tiger_sasrec_gap.py)
    "constant-lr": ["generator.warmup_steps={steps}"],
    "batch-256": ["trainer.batch_size=256"],  # and so 4x the samples
    "batch-256-lr-0.01": ["trainer.batch_size=256", "generator.lr=0.01"],  # the paper's batch with its rate
    # 4x the samples at the configured batch: is batch-256's gain the batch or the samples?
    "steps-4x": ["trainer.max_steps={steps_quadruple}"],
    # 4x the batch on the same samples: a quarter of the steps, warm-up and check interval
    "batch-256-same-samples": ["trainer.batch_size=256", "trainer.max_steps={steps_quarter}",
                               "generator.warmup_steps={warmup_quarter}", "trainer.val_check_interval={check_quarter}"],
}
OUT = "results/tiger_recipe"
DEFAULT_EXPERIMENT = "tiger_ml100k"


def arm_overrides(arm: str, base, max_steps: int) -> list[str]:
    """The arm's overrides, with the quarter-scaled step counts filled in from the experiment."""
    warmup = base.generator.warmup_steps
    scaled = {"steps": max_steps, "steps_quarter": max_steps // 4, "steps_quadruple": max_steps * 4, "warmup_quarter": warmup // 4,
              "warmup_quadruple": warmup * 4, "check_quarter": int(base.trainer.val_check_interval) // 4}
    return [override.format(**scaled) for override in ARMS[arm]]


SPEED_FILE = "bench/tiger_training_speed_cuda.json"  # under results_dir
SPEED_SETTING = "fast_path_graphs"  # what train.py's fast path runs on CUDA


def steps_for_seconds(seconds: float, speed_file: Path, dataset: str, batch_size: int, check_interval: int,
                      commit: str) -> tuple[int | None, str]:
    """(the step count that trains about ``seconds`` at the measured speed, why), or (None, why not).

    The speed is the CUDA-graph row at ``batch_size`` of a record written at ``commit`` for ``dataset``;
    the count is rounded down to whole ``check_interval``s (at least one), so the last step is checked."""
    if not speed_file.is_file():
        return None, f"{speed_file} is missing (did bench/tiger_training_speed.py --device cuda fail?)"
    record = json.loads(speed_file.read_text())
    # the speed bench's own record dirties the tree once it is committed: the commit itself must match
    if str(record.get("commit")).removesuffix("+dirty") != commit.removesuffix("+dirty") or \
            record.get("dataset") != dataset:
        return None, (f"{speed_file} was measured at commit {record.get('commit')} on {record.get('dataset')}, "
                      f"not at {commit} on {dataset}")
    rows = [r for r in record.get("settings", []) if r["setting"] == SPEED_SETTING and r["batch_size"] == batch_size]
    if not rows:
        return None, f"{speed_file} has no {SPEED_SETTING} row at batch {batch_size}; add --batch-sizes {batch_size}"
    samples_per_s = rows[0]["samples_per_s"]
    intervals = max(1, int(seconds * samples_per_s / batch_size) // check_interval)
    steps = intervals * check_interval
    return steps, (f"{steps} steps: about {seconds:g} s of training at {samples_per_s:,.0f} samples/s "
                   f"({SPEED_SETTING}, batch {batch_size}, {speed_file.name})")


def summary_name(experiment: str) -> str:
    """``tiger_recipe`` for the default experiment, ``tiger_recipe-<experiment>`` for any other, so a
    Beauty run of the bench does not replace the ML-100K summary."""
    return "tiger_recipe" if experiment == DEFAULT_EXPERIMENT else f"tiger_recipe-{experiment}"


def steps_cell(row: dict) -> str:
    """The steps the arm's runs trained: one number, or the range when some stopped on the plateau."""
    steps = sorted(run["steps"] for run in row["runs"].values())
    return f"{steps[0]}" if steps[0] == steps[-1] else f"{steps[0]}-{steps[-1]}"


def table(record: dict) -> str:
    arms = list(record["arms"])
    lines = [f"# TIGER's training recipe, one setting at a time: {record['experiment']}", "",
             f"Item codes `{record['tokenizer']}` for every arm. {paired.runs_sentence(record, 'arms')}", "",
             f"| arm | overrides | steps | {paired.result_columns(arms[0])}",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in record["arms"].items():
        overrides = " ".join(f"`{o}`" for o in row["overrides"]) or "(as configured)"
        cells = [name, overrides, steps_cell(row), *paired.result_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = paired.bench_parser(__doc__, seeds=[0, 1, 2, 3, 4])
    parser.add_argument("--arms", nargs="+", default=[a for a in ARMS if a != "lr-0.005"], choices=list(ARMS),
                        help="default: every arm but lr-0.005 (the ML-100K demo's own rate)")
    parser.add_argument("--train-seconds", type=float, default=None,
                        help="size the step count to about this many seconds of training per run at the GPU "
                             "speed measured just before (see above); --max-steps where it is not known")
    args, overrides = paired.parse(parser, sys.argv[1:] if argv is None else argv)
    base = compose([f"experiment={args.experiment}", *overrides])
    if args.train_seconds is not None:
        steps, why = steps_for_seconds(args.train_seconds, Path(base.results_dir) / SPEED_FILE, base.data.dataset,
                                       int(base.trainer.batch_size), int(base.trainer.val_check_interval),
                                       git_commit())
        print(f"--train-seconds {args.train_seconds:g}: " + (why if steps else f"{why}; --max-steps "
                                                                               f"{args.max_steps} instead"), flush=True)
        args.max_steps, steps_chosen = steps or args.max_steps, why
    tokenizer = base.tokenizer.name
    paired.fit_codes_once(base.tokenizers_dir, tokenizer, [f"experiment={args.experiment}", f"results_dir={OUT}",
                                                           *overrides])
    training = paired.fixed_steps(args.max_steps, OUT)
    start = time.perf_counter()
    record = {**paired.record_header(args, tokenizer, overrides), "arms": {}}
    if args.train_seconds is not None:  # how the step count was chosen
        record["train_seconds"] = {"asked": args.train_seconds, "how": steps_chosen}
    runs = {}  # every arm's runs first, so that --jobs fills the machine across arms
    for arm in args.arms:
        for seed in args.seeds:
            run = f"{base.generator.model}-{tokenizer}-{arm}-{args.max_steps}steps-seed{seed}"
            runs[arm, seed] = (run, [f"experiment={args.experiment}", f"seed={seed}", f"run={run}", *training,
                                     *arm_overrides(arm, base, args.max_steps), *overrides])
    reports = paired.run_seeds(runs, OUT, args.jobs)
    for arm in args.arms:
        summary = paired.seeds_summary({seed: reports[arm, seed] for seed in args.seeds})
        record["arms"][arm] = {"overrides": arm_overrides(arm, base, args.max_steps), **summary}
    paired.require_same_codes(record["arms"])
    paired.finish(summary_name(args.experiment), record, "arms", start, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
