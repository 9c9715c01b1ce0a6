"""bench/tiger_sasrec_gap.py's rows say what they run: each changes only what its name says (item
codes, history window, learning-rate schedule), every row trains to its plateau with no clock, and
the command line's overrides win."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import tiger_sasrec_gap as gap  # noqa: E402

from genrec.config import compose  # noqa: E402
from genrec.generators.tiger import inverse_sqrt  # noqa: E402


def row_config(row: str, overrides=()):
    return compose(gap.row_arguments(row, seed=0, patience=10, overrides=list(overrides))[1])


def test_each_row_changes_only_what_its_name_says_and_trains_to_its_plateau():
    for row in gap.ROWS:
        config = row_config(row)
        assert config.trainer.max_time_minutes is None and config.trainer.patience == 10, row
        assert config.results_dir == gap.OUT and config.run == f"{row}-ml100k-seed0"
        history = 50 if "history-50" in row or row == "sasrec" else 10
        assert config.data.max_history == history, (row, config.data.max_history)
        assert config.generator.model == row.split("-")[0]
        if config.generator.model == "tiger":
            assert config.tokenizer.scheme == ("atomic" if "atomic" in row else "rqvae"), row
    # apart from the codes and the window, the TIGER rows are one model and one recipe
    base, other = row_config("tiger"), row_config("tiger-atomic-history-50")
    assert base.generator == other.generator and base.trainer == other.trainer
    # the constant-rate row: SASRec's 0.001, never decayed before the step cap
    constant = row_config("tiger-atomic-constant-lr-0.001").generator
    assert constant.lr == 0.001 and inverse_sqrt(constant.warmup_steps)(gap.STEP_CAP - 1) == 1.0


def test_command_line_overrides_win_over_the_plateau_settings():
    config = row_config("sasrec", ["trainer.patience=3", "trainer.max_epochs=7"])
    assert config.trainer.patience == 3 and config.trainer.max_epochs == 7


def test_the_result_cells_are_hand_computable_from_the_runs():
    import paired_seeds as paired

    def run(valid, recall, ndcg, wall):
        return {"valid": {"ndcg@10": valid}, "test": {"recall@10": recall, "ndcg@10": ndcg}, "wall_time_s": wall}

    def row(runs):
        tests = {m: dict(zip(("mean", "sd"), paired.mean_sd([r["test"][m] for r in runs.values()])))
                 for m in paired.COMPARED}
        return {"runs": runs, "test": tests}

    rows = {"first": row({0: run(0.05, 0.10, 0.04, 100), 1: run(0.07, 0.12, 0.06, 300)}),
            "other": row({0: run(0.06, 0.13, 0.05, 50), 1: run(0.06, 0.14, 0.05, None)})}
    paired.compare_with_first(rows, [0, 1])
    assert paired.result_columns("first").startswith("valid N@10 | test R@10 | test N@10 | R@10 vs first")
    # valid 0.06 ± sd(0.05, 0.07) = 0.0141; recall differences +0.03 and +0.02 (mean 0.025, sd 0.00707, t 5.0)
    assert paired.result_cells(rows["first"]) == ["0.0600 ± 0.0141", "0.1100 ± 0.0141", "0.0500 ± 0.0141", "-", "-", "200"]
    assert paired.result_cells(rows["other"]) == ["0.0600 ± 0.0000", "0.1350 ± 0.0071", "0.0500 ± 0.0000",
                                                 "+0.0250 (2/2, t 5.0)", "+0.0000 (1/2, t 0.0)", "25"]
