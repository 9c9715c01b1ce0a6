"""bench/tiger_recipe.py's ``--train-seconds``: the step count every arm trains is sized from the GPU
speed measured earlier in the same command, and a missing or stale speed record is never used."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import tiger_recipe  # noqa: E402


def speed_record(path: Path, samples_per_s: float, commit="abc", dataset="beauty", batch_size=256) -> Path:
    settings = [{"setting": "lightning_baseline", "batch_size": batch_size, "samples_per_s": samples_per_s / 20},
                {"setting": "fast_path_graphs", "batch_size": batch_size, "samples_per_s": samples_per_s}]
    path.write_text(json.dumps({"commit": commit, "dataset": dataset, "settings": settings}))
    return path


def steps(path: Path, seconds=40.0, batch_size=256, commit="abc"):
    return tiger_recipe.steps_for_seconds(seconds, path, "beauty", batch_size, 1000, commit)


def test_the_step_count_is_the_seconds_at_the_graph_rows_speed_in_whole_check_intervals(tmp_path):
    record = speed_record(tmp_path / "speed.json", 50_000)
    count, why = steps(record)  # 40 s x 50,000 / 256 = 7,812 steps -> 7 checks of 1,000
    assert count == 7000 and "50,000 samples/s" in why
    assert steps(record, seconds=80)[0] == 15000
    assert steps(speed_record(tmp_path / "slow.json", 2_000))[0] == 1000  # 312 steps: still one check
    # writing the (committed) speed record made the tree dirty between the two benches: same commit
    assert steps(record, commit="abc+dirty")[0] == 7000


def test_a_missing_or_stale_record_gives_no_count_and_says_why(tmp_path):
    assert steps(tmp_path / "absent.json") == (None, f"{tmp_path / 'absent.json'} is missing "
                                                     "(did bench/tiger_training_speed.py --device cuda fail?)")
    other_commit = speed_record(tmp_path / "old.json", 50_000, commit="old")
    count, why = steps(other_commit)
    assert count is None and "commit old" in why
    count, why = steps(speed_record(tmp_path / "toys.json", 50_000, dataset="toys"))
    assert count is None and "on toys" in why
    count, why = steps(speed_record(tmp_path / "b1024.json", 50_000, batch_size=1024))
    assert count is None and "--batch-sizes 256" in why


def test_the_constant_rate_arm_holds_the_peak_for_every_step_of_the_run():
    from genrec.config import compose
    from genrec.generators.tiger import inverse_sqrt

    base = compose(["experiment=tiger_ml100k"])
    assert tiger_recipe.arm_overrides("constant-lr", base, 1200) == ["generator.warmup_steps=1200"]
    held, configured = inverse_sqrt(1200), inverse_sqrt(base.generator.warmup_steps)
    assert held(1199) == 1.0 and configured(1199) < 0.3  # the configured 100-step hold has decayed to 0.29
