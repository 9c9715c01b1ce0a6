"""Why TIGER trails SASRec on MovieLens-100K: the item codes, the history window, or the generator.

    python bench/tiger_sasrec_gap.py [--rows tiger tiger-atomic ...] [--seeds 0 1] [--jobs 2] [key=value ...]

The demo (``experiment=tiger_ml100k``) scores about a third of SASRec's test Recall@10 on the same
split, and the recipe bench (bench/tiger_recipe.py) found no learning rate, warm-up, dropout or batch
that closes much of it. Two differences between the rows are not recipe settings, and this bench
takes each away in turn (issue #13 §4: find out why with ablations, not guesses):

- the item codes: ``tiger-atomic`` gives TIGER one token per item (``tokenizer=atomic``); with the
  user's own items excluded, its beam over that one level then ranks every other item, as SASRec's
  softmax does, so only the generator differs;
- the history window: the demo reads the last 10 items, SASRec's row the last 50
  (``*-history-50``, ``sasrec-history-10``);
- the optimiser's schedule: TIGER's rate decays as the inverse square root after its warm-up,
  SASRec's stays at 0.001 (``tiger-atomic-constant-lr-0.001``; ``tiger-constant-lr-0.001`` on the
  RQ-VAE codes).

Every row trains to its validation plateau: no clock, the experiment's check interval, a patience of
``--patience`` checks (issue #13 asks for at least 10) and a step or epoch cap far beyond it; its best
validation NDCG@10 checkpoint is tested. SASRec ranks by its softmax over every item, TIGER by its
constrained beam (the demo's beam 50). Writes the runs under ``results/tiger_sasrec_gap/<run>/`` and
the summary to ``results/bench/tiger_sasrec_gap.{json,md}``: per row test Recall/NDCG@10 mean ± sd
and the paired difference from the first row (the same seeds). ``key=value`` overrides go to every run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import paired_seeds as paired  # noqa: E402

from genrec.config import compose  # noqa: E402

# row name -> (experiment, the overrides it adds)
ROWS = {
    "tiger": ("tiger_ml100k", []),
    "tiger-history-50": ("tiger_ml100k", ["data.max_history=50"]),
    "tiger-atomic": ("tiger_ml100k", ["tokenizer=atomic"]),
    "tiger-atomic-history-50": ("tiger_ml100k", ["tokenizer=atomic", "data.max_history=50"]),
    # SASRec's optimiser setting: a constant 0.001 (a hold as long as the step cap: no decay)
    "tiger-atomic-constant-lr-0.001": ("tiger_ml100k", ["tokenizer=atomic", "generator.lr=0.001",
                                                        "generator.warmup_steps={step_cap}"]),
    "tiger-atomic-history-50-constant-lr-0.001": ("tiger_ml100k", ["tokenizer=atomic", "data.max_history=50",
                                                                   "generator.lr=0.001",
                                                                   "generator.warmup_steps={step_cap}"]),
    "tiger-constant-lr-0.001": ("tiger_ml100k", ["generator.lr=0.001", "generator.warmup_steps={step_cap}"]),
    "sasrec-history-10": ("sasrec_ml100k", ["data.max_history=10"]),
    "sasrec": ("sasrec_ml100k", []),
}
# 50 items of 4 codes: 200 encoder tokens, 0.5 s a step on one CPU thread (3-4x the 10-item row), and the
# 10-item row took 12,400 steps to its plateau: more than a CPU session, so asked for by name only
SLOW_ROWS = ["tiger-history-50"]
OUT = "results/tiger_sasrec_gap"
STEP_CAP = 30_000  # TIGER: far past the plateau (the demo's recipe arms stopped on it by 4,400 steps)
EPOCH_CAP = 200  # SASRec: likewise (its committed row, patience 5, stopped at epoch 60)


def to_plateau(patience: int) -> list[str]:
    """Overrides that train a run until validation stops improving: no clock, caps far beyond."""
    return [f"trainer.patience={patience}", "trainer.max_time_minutes=null", f"trainer.max_steps={STEP_CAP}",
            f"trainer.max_epochs={EPOCH_CAP}", f"results_dir={OUT}", "evaluation.reference=null"]


def row_changes(row: str) -> tuple[str, list[str]]:
    """(the row's experiment, its overrides with the step cap filled in)."""
    experiment, changes = ROWS[row]
    return experiment, [change.format(step_cap=STEP_CAP) for change in changes]


def row_arguments(row: str, seed: int, patience: int, overrides: list[str]) -> tuple[str, list[str]]:
    """(the run's name, its train.py arguments)."""
    experiment, changes = row_changes(row)
    run = f"{row}-ml100k-seed{seed}"
    return run, [f"experiment={experiment}", f"seed={seed}", f"run={run}", *to_plateau(patience), *changes,
                 *overrides]


def steps_cell(row: dict) -> str:
    """Training steps and epochs per run, e.g. ``3400 (2.2 ep)``."""
    return ", ".join(f"{run['steps']} ({run['epochs']} ep)" for run in row["runs"].values())


def table(record: dict) -> str:
    rows = list(record["rows"])
    lines = [f"# Why TIGER trails SASRec on MovieLens-100K: {', '.join(rows)}", "",
             paired.runs_sentence(record, "rows", f"every run trained to its validation plateau (patience "
                                                  f"{record['patience']} checks, no clock)"), "",
             f"| row | experiment + overrides | item codes | steps (epochs) | stop | {paired.result_columns(rows[0])}",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in record["rows"].items():
        stops = "/".join(sorted({str(run["stop_reason"]) for run in row["runs"].values()}))
        setting = " ".join(f"`{o}`" for o in [f"experiment={row['experiment']}", *row["overrides"]])
        cells = [name, setting, row["codes"], steps_cell(row), stops, *paired.result_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = paired.bench_parser(__doc__, seeds=[0, 1])
    parser.add_argument("--rows", nargs="+", default=[r for r in ROWS if r not in SLOW_ROWS], choices=list(ROWS),
                        help=f"default: every row but {', '.join(SLOW_ROWS)} (see above)")
    parser.add_argument("--patience", type=int, default=10, help="validation checks without a gain before a stop")
    args, overrides = paired.parse(parser, sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    codes = {}
    for row in args.rows:  # fit each row's item codes once, before runs that would fit them side by side
        experiment, changes = row_changes(row)
        config = compose([f"experiment={experiment}", *changes, *overrides])
        codes[row] = config.tokenizer.name if config.generator.model != "sasrec" else "(item ids)"
        if config.generator.model != "sasrec":
            paired.fit_codes_once(config.tokenizers_dir, config.tokenizer.name,
                                  [f"experiment={experiment}", *changes, f"results_dir={OUT}", *overrides])
    runs = {(row, seed): row_arguments(row, seed, args.patience, overrides) for row in args.rows for seed in args.seeds}
    reports = paired.run_seeds(runs, OUT, args.jobs)
    record = {"seeds": args.seeds, "max_steps": STEP_CAP, "patience": args.patience, "overrides": overrides,
              "rows": {}}
    for row in args.rows:
        by_seed = {seed: reports[row, seed] for seed in args.seeds}
        summary = paired.seeds_summary(by_seed)
        for seed, report in by_seed.items():
            summary["runs"][seed]["epochs"] = report["train"].get("epochs")
        experiment, changes = row_changes(row)
        record["rows"][row] = {"experiment": experiment, "overrides": changes, "codes": codes[row], **summary}
    paired.finish("tiger_sasrec_gap", record, "rows", start, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
